"""Perceptual-loss helpers and the feature networks behind them (VGG19, or a substitute named explicitly)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from faceoff.faces.features import VGG19_FILE, build_feature_net, layer_names, vgg19_weights_path
from faceoff.faces.weights import MissingWeightsError
from faceoff.losses.perceptual import feature_l1, gram_matrix, style_loss


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def test_gram_matrix_by_hand() -> None:
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2 channels of H*W=2 values
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / 4.0  # F F^T / (C*H*W)
    torch.testing.assert_close(gram_matrix(f), expected[None])
    assert gram_matrix(torch.rand(3, 5, 4, 6)).shape == (3, 5, 5)


def test_feature_l1_is_the_sum_over_layers_of_mean_absolute_errors() -> None:
    a = [torch.zeros(1, 2, 4, 4), torch.zeros(1, 8, 2, 2)]
    assert feature_l1(a, [t.clone() for t in a]) == 0
    b = [torch.ones(1, 2, 4, 4), torch.full((1, 8, 2, 2), -3.0)]
    torch.testing.assert_close(feature_l1(a, b), torch.tensor(4.0))  # the study's sum over layers
    with pytest.raises(ValueError):
        feature_l1(a, b[:1])


def test_style_loss_compares_gram_matrices_at_the_chosen_layers() -> None:
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    zero = torch.zeros_like(f)
    # Gram matrix [[1.25, 2.75], [2.75, 6.25]] against zeros: its MSE, and its Frobenius norm
    squares = 1.25**2 + 2 * 2.75**2 + 6.25**2
    torch.testing.assert_close(style_loss([f], [zero], [0], "gram_mse"), torch.tensor(squares / 4))
    torch.testing.assert_close(style_loss([f], [zero], [0], "frobenius"), torch.tensor(squares**0.5))
    torch.testing.assert_close(style_loss([f], [zero], [0]), torch.tensor(squares**0.5))  # the default
    other = torch.rand(1, 3, 4, 4)
    assert style_loss([f, other], [zero, other], [1]) == 0  # layer 0 differs but is not chosen
    # the Gram matrix ignores where features are: a spatial shuffle changes feature L1, not style
    shuffled = other.flip(-1)
    assert style_loss([other], [shuffled], [0]) < 1e-6 < feature_l1([other], [shuffled])  # a norm: ~sqrt(eps)
    with pytest.raises(ValueError):
        style_loss([f], [zero], [])


def test_dlib_resnet_is_a_named_substitute_with_named_stages(torch_home: Path) -> None:
    net = build_feature_net("dlib_resnet")
    assert net.name == "dlib_resnet" and net.layers == ("stage1", "stage2", "stage3", "stage4")
    net.train()
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    feats = net(x)
    assert [f.shape[1] for f in feats] == [32, 64, 128, 256]
    assert [f.shape[-1] for f in feats] == [35, 17, 8, 4]  # at dlib's 150 px input
    feature_l1(feats, net(x.detach().flip(-1))).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    second = build_feature_net("dlib_resnet", ["stage2"])(x.detach())
    torch.testing.assert_close(second[0], feats[1].detach())


def test_vgg19_without_weights_says_where_to_put_them(torch_home: Path) -> None:
    """No silent fallback: the run stops, naming the file and the folder it goes in."""
    with pytest.raises(MissingWeightsError) as error:
        build_feature_net("vgg19")
    message = str(error.value)
    assert VGG19_FILE in message and str(torch_home / "hub" / "checkpoints") in message
    assert "IMAGENET1K_V1" in message
    assert isinstance(error.value, FileNotFoundError)


def test_vgg19_returns_the_named_layers_with_the_cached_weights(torch_home: Path) -> None:
    # The real file holds all of vgg19's state_dict; the loader reads only the layers it needs.
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    vgg19_weights_path().parent.mkdir(parents=True)
    torch.save(state, vgg19_weights_path())
    net = build_feature_net("vgg19", ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    assert net.name == "vgg19"
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    feats = net(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8)]
    # relu3_3 is the 16th module of torchvision's vgg19().features (index 15): compare with it directly
    reference = make_layers(cfgs["E"])
    reference.load_state_dict({k.removeprefix("features."): v for k, v in state.items() if "features" in k})
    normalised = ((x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(feats[2], reference[:16](normalised))
        assert isinstance(reference[15], torch.nn.ReLU) and isinstance(reference[14], torch.nn.Conv2d)
    assert layer_names("vgg19")[:3] == ("relu1_1", "relu1_2", "relu2_1") and len(layer_names("vgg19")) == 16
    with pytest.raises(ValueError, match="relu2_3"):
        build_feature_net("vgg19", ["relu2_3"])  # the study's identity layer: VGG19 has no such layer


def test_unknown_feature_net_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown feature net"):
        build_feature_net("resnet50")
    with pytest.raises(ValueError, match="unknown feature net"):
        build_feature_net("auto")  # no silent choice any more
