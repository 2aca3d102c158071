"""Where faceoff could differ from a study, the paper configuration runs the study's choice; each
substitute is a named switch (demo and smoke name theirs), and a missing weights file stops a run
with a message instead of swapping the network.

The reenactment terms are checked against the study's formulas computed directly (numpy, and
torchvision's own VGG19 layers) on a real photograph, skimage's astronaut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from skimage import data
from torchvision.models.vgg import cfgs, make_layers

from faceoff.config.load import load_params
from faceoff.config.runs import resolve_runs
from faceoff.faces.features import build_feature_net, missing_weights, networks_needed, vgg19_weights_path
from faceoff.faces.weights import MissingWeightsError
from faceoff.losses import reenact as L
from faceoff.train.optim import make_optimizer
from faceoff.train.registry import get_model

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "paper": [ROOT / "params.yaml"],
    "demo": [ROOT / "params.yaml", ROOT / "config" / "demo.yaml"],
    "smoke": [ROOT / "params.yaml", ROOT / "config" / "smoke.yaml"],
}
# torchvision's vgg19().features index of each ReLU the study names (conv, relu per layer; pools)
TORCHVISION_RELU = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 24}


def run_settings(config: str, family: str, variant: str) -> Any:
    """The validated settings object of one run of a configuration."""
    runs = [r for r in resolve_runs(load_params(CONFIGS[config]), family) if r.variant == variant]
    settings = dict(runs[0].settings)
    return get_model(settings.get("model", "cyclegan")).settings.from_dict(settings)


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def vgg19_state(empty_torch_home: Path) -> dict[str, torch.Tensor]:
    """A VGG19 weights file (random weights, the real file's keys) in torch hub's cache."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}
    vgg19_weights_path().parent.mkdir(parents=True)
    torch.save(state, vgg19_weights_path())
    return state


def astronaut_pair(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Two real crops of one photograph in [-1, 1], (1, 3, size, size): the face and a shifted view."""
    image = data.astronaut()
    crops = [
        image[40 : 40 + 4 * size : 4, 170 : 170 + 4 * size : 4],
        image[52 : 52 + 4 * size : 4, 178 : 178 + 4 * size : 4],
    ]
    return tuple(
        torch.from_numpy(np.ascontiguousarray(c)).permute(2, 0, 1)[None].float() / 127.5 - 1 for c in crops
    )


# ---------------------------------------------------------------- the study's formulas


def test_pixel_term_is_the_squared_l2_and_l1_is_a_switch() -> None:
    x, y = astronaut_pair()
    a, b = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    assert float(L.pixel_loss(x, y)) == pytest.approx(np.mean((a - b) ** 2), rel=1e-5)
    assert float(L.pixel_loss(x, y, "l1")) == pytest.approx(np.mean(np.abs(a - b)), rel=1e-5)
    with pytest.raises(ValueError, match="pixel loss"):
        L.pixel_loss(x, y, "l3")


def _gram(f: np.ndarray) -> np.ndarray:
    c, h, w = f.shape[1:]
    flat = f[0].reshape(c, h * w)
    return flat @ flat.T / (c * h * w)


def test_perceptual_and_identity_terms_are_the_studys_on_vgg19(vgg19_state: dict[str, torch.Tensor]) -> None:
    """Feature L1 at relu1_2, relu2_2, relu3_3, relu4_3 summed, plus the Frobenius norm of the Gram
    difference at relu3_3; identity: the L1 at relu2_2 (the study's relu2_3 does not exist)."""
    form = L.LossForm()
    assert (form.pixel, form.style, form.identity) == ("l2", "frobenius", "feature_l1")
    assert form.feature_layers() == ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    net = build_feature_net("vgg19", form.feature_layers())
    x, y = astronaut_pair()
    fx, fy = (dict(zip(net.layers, net(t), strict=True)) for t in (x, y))

    reference = make_layers(cfgs["E"]).eval()
    reference.load_state_dict({k.removeprefix("features."): v for k, v in vgg19_state.items()})
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225])

    def relu(t: torch.Tensor, layer: str) -> np.ndarray:
        with torch.no_grad():
            out = reference[: TORCHVISION_RELU[layer] + 1](((t + 1) / 2 - mean) / std.view(1, 3, 1, 1))
        return out.numpy().astype(np.float64)

    ax = {k: relu(x, k) for k in TORCHVISION_RELU}
    ay = {k: relu(y, k) for k in TORCHVISION_RELU}
    content = sum(np.mean(np.abs(ax[k] - ay[k])) for k in TORCHVISION_RELU)
    style = np.linalg.norm(_gram(ax["relu3_3"]) - _gram(ay["relu3_3"]), "fro")
    assert style > 0 and content > 0
    with torch.no_grad():
        assert float(L.perceptual_loss(fx, fy, form)) == pytest.approx(content + style, rel=1e-4)
        identity = L.identity_feature_l1(fx["relu2_2"], fy["relu2_2"])
    assert float(identity) == pytest.approx(np.mean(np.abs(ax["relu2_2"] - ay["relu2_2"])), rel=1e-4)
    # The other style form is a switch: the mean squared Gram difference
    mse = L.LossForm(style="gram_mse")
    gram_mse = np.mean((_gram(ax["relu3_3"]) - _gram(ay["relu3_3"])) ** 2)
    with torch.no_grad():
        assert float(L.perceptual_loss(fx, fy, mse)) == pytest.approx(content + gram_mse, rel=1e-4)


# ---------------------------------------------------------------- what each configuration runs


def test_paper_configuration_runs_the_studys_choices() -> None:
    reenact = run_settings("paper", "reenact", "full")
    assert (reenact.pixel_loss, reenact.feature_net, reenact.style) == ("l2", "vgg19", "frobenius")
    assert tuple(reenact.perceptual_layers) == ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    assert (reenact.style_layer, reenact.identity_loss, reenact.identity_layer) == (
        "relu3_3",
        "feature_l1",
        "relu2_2",
    )
    assert reenact.loss_form == L.LossForm()
    assert run_settings("paper", "expression", "nst").feature_net == "vgg19"
    # WGAN-GP at the betas of Gulrajani et al., and the optimiser really gets them
    wgangp = run_settings("paper", "faceoff", "wgangp")
    assert wgangp.betas == (0.0, 0.9) and wgangp.lr == 1e-4
    opt = make_optimizer(wgangp.optimizer, [torch.nn.Parameter(torch.zeros(1))], wgangp.lr, wgangp.betas)
    assert opt.param_groups[0]["betas"] == (0.0, 0.9)
    assert run_settings("paper", "faceoff", "baseline").betas == (0.5, 0.999)  # CycleGAN's
    # The progressive CycleGAN grows to the swap family's CycleGAN
    progressive, cyclegan = (
        run_settings("paper", "swap", "progressive"),
        run_settings("paper", "swap", "cyclegan"),
    )
    assert (progressive.netG, progressive.n_layers_D) == (cyclegan.netG, cyclegan.n_layers_D)
    assert (progressive.netG, progressive.n_layers_D) == ("resnet_9blocks", (3,))


@pytest.mark.parametrize("config", ["demo", "smoke"])
def test_demo_and_smoke_name_their_substitutes(config: str) -> None:
    reenact = run_settings(config, "reenact", "full")
    assert reenact.feature_net == "dlib_resnet" and tuple(reenact.perceptual_layers) == (
        "stage1",
        "stage2",
        "stage3",
        "stage4",
    )
    assert (reenact.style_layer, reenact.identity_layer) == ("stage3", "stage2")
    assert (reenact.pixel_loss, reenact.style, reenact.identity_loss) == ("l2", "frobenius", "feature_l1")
    assert networks_needed(reenact.to_dict()) == ["dlib_resnet"]
    assert run_settings(config, "expression", "nst").feature_net == "dlib_resnet"
    assert run_settings(config, "swap", "progressive").netG == run_settings(config, "swap", "cyclegan").netG


# ---------------------------------------------------------------- missing weights


def test_missing_vgg19_weights_are_named_before_and_when_a_run_starts(empty_torch_home: Path) -> None:
    folder = empty_torch_home / "hub" / "checkpoints"
    paper = run_settings("paper", "reenact", "full")
    assert networks_needed(paper.to_dict()) == ["vgg19"]
    [message] = missing_weights(paper.to_dict())
    assert "vgg19-dcbb9e9d.pth" in message and str(folder) in message
    # the ablation without feature terms needs no network at all
    assert networks_needed(run_settings("paper", "reenact", "no_perceptual_identity").to_dict()) == []
    [nst] = missing_weights(run_settings("paper", "expression", "nst").to_dict())
    assert nst == message
    for config in ("demo", "smoke"):
        assert missing_weights(run_settings(config, "reenact", "full").to_dict()) == []
    # The run itself stops with the same message (never falls back to another network)
    stepper = get_model("reenact").stepper
    with pytest.raises(MissingWeightsError) as error:
        stepper(paper, {"001": _tiny_split()}, seed=0, device="cpu")
    assert str(error.value) == message


def _tiny_split() -> Any:
    from .test_train import make_split

    return make_split(n=3, size=64, hue=0, seed=1)


def test_ms_ssim_form_is_the_five_scale_index_on_a_real_photo() -> None:
    """The face-off study's cycle term is MS-SSIM (its eq. 3): `ssim_form: ms_ssim` computes it,
    the paper configuration runs it, and small crops are refused by name rather than truncated."""
    from pytorch_msssim import ms_ssim, ssim

    from faceoff.losses.reconstruction import ssim_loss
    from faceoff.train.settings import SettingsError, TrainSettings

    photo = torch.from_numpy(data.astronaut()[:256, 128:384]).permute(2, 0, 1)[None].float() / 127.5 - 1
    noisy = (photo + 0.2 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    unit = ((photo + 1) / 2, (noisy + 1) / 2)
    multi = ssim_loss(noisy, photo, "ms_ssim").item()
    assert multi == pytest.approx(1 - ms_ssim(*unit, data_range=1.0).item(), abs=1e-6)
    assert ssim_loss(noisy, photo, "ssim").item() == pytest.approx(
        1 - ssim(*unit, data_range=1.0).item(), abs=1e-6
    )
    assert abs(multi - ssim_loss(noisy, photo, "ssim").item()) > 1e-3  # a different index, not a rename
    paper = [r for r in resolve_runs(load_params([ROOT / "params.yaml"])) if r.family == "faceoff"]
    assert {r.settings["ssim_form"] for r in paper} == {"ms_ssim"}
    with pytest.raises(SettingsError, match="ssim_form=ms_ssim needs crop_size >= 161"):
        TrainSettings.from_dict({"ssim_form": "ms_ssim", "lambda_ssim": 0.01, "crop_size": 96})
