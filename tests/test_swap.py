"""Face-swap models of the study: the deepfakes autoencoder and the progressive CycleGAN."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from faceoff.datasets.prepared import PreparedSplit
from faceoff.io.atomic import read_json
from faceoff.nets import PatchDiscriminator, UnetGenerator, build_generator
from faceoff.nets.autoencoder import Decoder, SharedEncoder
from faceoff.nets.images import to_uint8
from faceoff.nets.progressive import (
    ProgressiveDiscriminator,
    ProgressiveGenerator,
    ProgressiveResnetGenerator,
    count_layers,
)
from faceoff.train.autoswap import AutoencoderSettings, AutoencoderStepper, AutoencoderTranslator
from faceoff.train.data import step_rng
from faceoff.train.progressive import ProgressiveSettings, ProgressiveStepper, ProgressiveTranslator
from faceoff.train.registry import get_model, load_translator, train_model
from faceoff.train.settings import SettingsError
from faceoff.train.warp import STREAM_WARP, random_warp

from .test_train import make_split

AUTOENCODER = {
    "ngf": 4,
    "n_downs": 3,
    "latent": 16,
    "crop_size": 32,
    "batch_size": 2,
    "lr": 1e-3,
    "steps": 5,
    "steps_decay": 5,
    "log_every": 2,
    "checkpoint_every": 3,
    "precision": "fp32",
}
# Five stages of the U-Net form need 64 px crops (U-Net depth 5, final 4-layer PatchGAN); two steps
# per stage.
PROGRESSIVE = {
    "netG": "unet_32",
    "n_layers_D": [4],
    "ngf": 4,
    "ndf": 4,
    "crop_size": 64,
    "steps": 6,
    "steps_decay": 4,
    "log_every": 2,
    "checkpoint_every": 3,
    "pool_size": 2,
    "precision": "fp32",
}
# The paper's form: grows to CycleGAN's ResNet generator and 3-layer PatchGAN (here the 6-block one).
PROGRESSIVE_RESNET = {**PROGRESSIVE, "netG": "resnet_6blocks", "n_layers_D": [3], "crop_size": 32}


@pytest.fixture(scope="module")
def pair() -> dict[str, PreparedSplit]:
    return {"A": make_split(hue=0, seed=1), "B": make_split(hue=160, seed=2)}


@pytest.fixture(scope="module")
def pair64() -> dict[str, PreparedSplit]:
    return {"A": make_split(n=4, size=68, hue=0, seed=1), "B": make_split(n=4, size=68, hue=160, seed=2)}


def same_weights(x: dict[str, Any], y: dict[str, Any]) -> bool:
    keys = {k for k, v in x.items() if isinstance(v, torch.Tensor | dict)}
    if keys != {k for k, v in y.items() if isinstance(v, torch.Tensor | dict)}:
        return False
    return all(
        same_weights(x[k], y[k]) if isinstance(x[k], dict) else torch.equal(x[k], y[k]) for k in sorted(keys)
    )


# ---------------------------------------------------------------- progressive growth


def test_generator_grows_inwards_keeping_weights_and_function() -> None:
    torch.manual_seed(0)
    net, x = ProgressiveGenerator(n_stages=5, ngf=4), torch.randn(2, 3, 64, 64)
    for stage in range(1, 6):
        assert net.stage == stage and count_layers(net) == 2 * stage
        assert len(net.down) == len(net.up) == stage
        assert net(x).shape == x.shape
        if stage == 5:
            break
        before, output = {k: v.clone() for k, v in net.state_dict().items()}, net(x)
        net.grow()
        after = net.state_dict()
        assert all(torch.equal(after[k], v) for k, v in before.items())  # every old weight, same shape
        assert len(after) > len(before)
        assert torch.equal(net(x), output)  # the new level starts silent
    with pytest.raises(ValueError, match="last stage"):
        net.grow()


def test_discriminator_deepens_keeping_all_but_its_score_layer() -> None:
    torch.manual_seed(0)
    net, x = ProgressiveDiscriminator(n_stages=5, ndf=4), torch.randn(2, 3, 64, 64)
    for stage in range(1, 6):
        assert net.stage == stage and count_layers(net) == stage + 1
        reference = PatchDiscriminator(stage - 1, 4)
        assert net(x).shape == reference(x).shape
        reference.load_state_dict(net.state_dict())  # stage k is exactly the (k-1)-layer PatchGAN
        assert torch.equal(reference(x), net(x))
        if stage == 5:
            break
        convs = [m for m in net.model if isinstance(m, torch.nn.Conv2d)]
        kept = [c.weight.detach().clone() for c in convs[:-1]]  # all but the score layer
        net.grow()
        grown = [m for m in net.model if isinstance(m, torch.nn.Conv2d)]
        assert all(a is b for a, b in zip(convs[:-1], grown, strict=False))
        assert all(torch.equal(c.weight, w) for c, w in zip(grown, kept, strict=False))


def test_last_stage_is_the_full_architecture() -> None:
    """Grown to stage 5, the nets are unet_32 and the 4-layer PatchGAN: same modules, weights, outputs."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    grown_g, grown_d = ProgressiveGenerator(5, ngf=4), ProgressiveDiscriminator(5, ndf=4)
    for _ in range(4):
        grown_g.grow()
        grown_d.grow()
    direct_g, direct_d = ProgressiveGenerator(5, ngf=4, stage=5), ProgressiveDiscriminator(5, ndf=4, stage=5)
    for grown, direct, full in (
        (grown_g, direct_g, build_generator("unet_32", 4)),
        (grown_d, direct_d, PatchDiscriminator(4, 4)),
    ):
        shapes = {k: v.shape for k, v in full.state_dict().items()}
        assert {k: v.shape for k, v in grown.state_dict().items()} == shapes
        assert {k: v.shape for k, v in direct.state_dict().items()} == shapes
        assert str(grown).split("\n", 1)[1] == str(full).split("\n", 1)[1]  # same modules, same order
        full.load_state_dict(grown.state_dict())
        assert torch.equal(full(x), grown(x))
    assert isinstance(build_generator("unet_32", 4), UnetGenerator)


def test_progressive_settings() -> None:
    s = ProgressiveSettings.from_dict(PROGRESSIVE)
    assert s.total_steps == 10 and s.stage_starts == (0, 2, 4, 6, 8)
    assert [s.stage_at(step) for step in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    uneven = ProgressiveSettings.from_dict({**PROGRESSIVE, "steps": 7})  # 11 steps: one stage is longer
    assert [uneven.stage_at(step) for step in (0, 1, 2, 10)] == [1, 1, 2, 5]
    assert ProgressiveSettings.from_dict({**PROGRESSIVE, "steps_per_stage": 2}).steps_per_stage == 2
    assert ProgressiveSettings.from_dict(s.to_dict()) == s
    bad = {
        "steps_per_stage": 3,
        "crop_size": 32,
        "gan_mode": "wgan",
        "n_stages": 0,
        "steps": 0,
        "netG": "unet_64",  # five stages grow a 5-level U-Net, unet_32
        "n_layers_D": [5],  # deeper than four growths reach
        "fade": 1.5,
    }
    for key, value in bad.items():
        with pytest.raises(SettingsError, match=key if key != "steps" else "n_stages"):
            ProgressiveSettings.from_dict({**PROGRESSIVE, key: value})
    with pytest.raises(SettingsError, match="residual blocks"):
        ProgressiveSettings.from_dict({**PROGRESSIVE_RESNET, "n_stages": 3})
    # The default is the study's: CycleGAN's ResNet-9 and 3-layer PatchGAN
    default = ProgressiveSettings()
    assert (default.netG, default.n_layers_D) == ("resnet_9blocks", (3,))


def test_resnet_form_grows_to_cyclegans_resnet_generator() -> None:
    """2, 4, 6 layers, then the residual blocks (5 and 4 of 9); new layers fade in from the old
    function (alpha 0) and, fully faded in at the last stage, it is ResnetGenerator(9)."""
    torch.manual_seed(0)
    net, x = ProgressiveResnetGenerator(9, n_stages=5, ngf=4), torch.randn(2, 3, 32, 32)
    layers = [2, 4, 6, 6 + 2 * 5, 6 + 2 * 9]
    for stage in range(1, 6):
        assert net.stage == stage and count_layers(net) == layers[stage - 1]
        assert net(x).shape == x.shape
        if stage == 5:
            break
        net.alpha = 1.0
        before, output = {k: v.clone() for k, v in net.state_dict().items()}, net(x)
        net.grow()
        assert net.alpha == 0.0
        after = net.state_dict()
        assert all(torch.equal(after[k], v) for k, v in before.items()) and len(after) > len(before)
        torch.testing.assert_close(net(x), output)  # faded out: the function before growing
        net.alpha = 0.5
        assert not torch.allclose(net(x), output)  # half faded in: the new layers count
    with pytest.raises(ValueError, match="last stage"):
        net.grow()
    net.alpha = 1.0
    full = build_generator("resnet_9blocks", 4)
    in_order = [net.stem, *net.down, *net.blocks, *reversed(net.up), net.head]  # ResnetGenerator's order
    grown = [p for module in in_order for p in module.parameters()]
    assert len(grown) == len(list(net.parameters()))
    assert [p.shape for p in full.parameters()] == [p.shape for p in grown]  # same layers, same order
    with torch.no_grad():
        for mine, theirs in zip(grown, full.parameters(), strict=True):
            theirs.copy_(mine)
    torch.testing.assert_close(full(x), net(x))


def test_resnet_form_fades_in_over_its_share_of_each_stage() -> None:
    s = ProgressiveSettings.from_dict({**PROGRESSIVE_RESNET, "steps": 36, "steps_decay": 4, "fade": 0.5})
    assert s.stage_starts == (0, 8, 16, 24, 32)
    assert [s.alpha_at(step) for step in (0, 7, 8, 9, 11, 12, 15, 16)] == [1, 1, 0.25, 0.5, 1, 1, 1, 0.25]
    assert ProgressiveSettings.from_dict({**PROGRESSIVE_RESNET, "fade": 0.0}).alpha_at(2) == 1.0
    assert ProgressiveSettings.from_dict(PROGRESSIVE).alpha_at(3) == 1.0  # the U-Net grows silent levels


def test_translator_applies_the_generators_of_the_stage_they_reached(
    pair64: dict[str, PreparedSplit],
) -> None:
    """A run that diverged in stage 2 keeps stage-2 weights: its model.pt must still load and translate."""
    s = ProgressiveSettings.from_dict(PROGRESSIVE)
    stepper = ProgressiveStepper(s, pair64["A"], pair64["B"], seed=0, device="cpu")
    stepper.grow()
    weights = stepper.weights()
    assert weights["stage"] == 2 and stepper.stage == 2
    translator = ProgressiveTranslator({"settings": s.to_dict(), **weights})
    frames = np.ascontiguousarray(pair64["B"].frames[:2, :64, :64])
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        expected = to_uint8(stepper.G_BA.eval()(x))
    assert np.array_equal(translator.translate("BA", frames), expected)
    with pytest.raises(ValueError, match="multiples of 32"):
        translator.translate("AB", np.zeros((1, 48, 48, 3), np.uint8))


# ---------------------------------------------------------------- warp


def test_warp_is_smooth_deterministic_and_shape_keeping() -> None:
    split = make_split(n=2, size=32)
    images = torch.from_numpy(split.frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert random_warp(images, step_rng(0, 5, STREAM_WARP), 0.0) is images
    warped = random_warp(images, step_rng(0, 5, STREAM_WARP), 0.05)
    assert warped.shape == images.shape and warped.dtype == images.dtype
    assert torch.equal(warped, random_warp(images, step_rng(0, 5, STREAM_WARP), 0.05))
    assert not torch.equal(warped, random_warp(images, step_rng(0, 6, STREAM_WARP), 0.05))
    assert not torch.equal(warped, random_warp(images, step_rng(1, 5, STREAM_WARP), 0.05))
    assert (warped - images).abs().mean() > 0.01 and warped.min() >= -1 and warped.max() <= 1
    # The sampling lattice sits on the pixel centres: a vanishing warp reproduces the input.
    assert torch.allclose(random_warp(images, step_rng(0, 5, STREAM_WARP), 1e-7), images, atol=1e-4)


# ---------------------------------------------------------------- autoencoder


def test_autoencoder_nets_fit_the_crop() -> None:
    for crop in (64, 96):
        encoder = SharedEncoder(crop, ngf=4, n_downs=4, latent=8)
        code = encoder(torch.zeros(1, 3, crop, crop))
        assert code.shape == (1, encoder.out_channels, crop // 8, crop // 8)
        assert Decoder(ngf=4, n_downs=4)(code).shape == (1, 3, crop, crop)
    with pytest.raises(ValueError, match="multiple"):
        SharedEncoder(72, n_downs=4)
    with pytest.raises(SettingsError, match="crop_size"):
        AutoencoderSettings.from_dict({"crop_size": 72})


def test_swap_uses_one_encoder_and_the_other_persons_decoder(pair: dict[str, PreparedSplit]) -> None:
    s = AutoencoderSettings.from_dict(AUTOENCODER)
    stepper = AutoencoderStepper(s, pair["A"], pair["B"], seed=0, device="cpu")
    encoders = [m for m in stepper.nets.modules() if isinstance(m, SharedEncoder)]
    assert encoders == [stepper.nets["encoder"]]
    optimised = [p for group in stepper.opt.param_groups for p in group["params"]]
    assert len(optimised) == len({id(p) for p in optimised}) == len(list(stepper.nets.parameters()))

    a, b = stepper.batches(0)
    grads = {}
    for index, name in enumerate(("A", "B")):
        stepper.nets.zero_grad(set_to_none=True)
        stepper.reconstruction_losses(0, a, b)[index].backward()
        grads[name] = {
            net: [p.grad for p in stepper.nets[net].parameters()]
            for net in ("encoder", "decoder_A", "decoder_B")
        }
    for own, other in (("A", "B"), ("B", "A")):
        assert all(g is None for g in grads[own][f"decoder_{other}"])
        assert all(g is not None and g.abs().sum() > 0 for g in grads[own][f"decoder_{own}"])
        assert all(g is not None for g in grads[own]["encoder"])

    translator = AutoencoderTranslator({"settings": s.to_dict(), **stepper.weights()})
    frames = np.ascontiguousarray(pair["A"].frames[:3, 2:34, 2:34])
    swapped = translator.translate("AB", frames)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        code = stepper.nets["encoder"](x)
        as_b, as_a = to_uint8(stepper.nets["decoder_B"](code)), to_uint8(stepper.nets["decoder_A"](code))
    assert np.array_equal(swapped, as_b) and not np.array_equal(swapped, as_a)
    assert np.array_equal(translator.translate("BA", frames), as_a)
    with pytest.raises(ValueError, match="32 px"):
        translator.translate("AB", np.zeros((1, 36, 36, 3), np.uint8))


# ---------------------------------------------------------------- end to end


def _outputs(out: Path) -> tuple[dict[str, Any], list[dict[str, str]], dict[str, Any]]:
    model = torch.load(out / "model.pt", weights_only=True)
    with (out / "losses.csv").open() as f:
        rows = list(csv.DictReader(f))
    return model, rows, read_json(out / "train.json")


def test_autoencoder_trains_resumes_exactly_and_swaps(pair: dict[str, PreparedSplit], tmp_path: Path) -> None:
    s = AutoencoderSettings.from_dict(AUTOENCODER)
    assert get_model("autoencoder").stepper is AutoencoderStepper
    result = train_model(s, pair, ("A", "B"), tmp_path / "full", seed=3, progress=False)
    model, rows, info = _outputs(tmp_path / "full")
    assert result["steps"] == info["steps"] == 10 and not info["diverged"]
    assert {"rec_A", "rec_B", "total", "lr"} <= set(rows[0]) and len(rows) == 5
    assert float(rows[-1]["total"]) < float(rows[0]["total"])
    assert Image.open(tmp_path / "full" / "samples.png").size == (3 * 32, 2 * 32)

    assert train_model(s, pair, ("A", "B"), tmp_path / "split", seed=3, progress=False, stop_after=4)[
        "stopped"
    ]
    assert train_model(s, pair, ("A", "B"), tmp_path / "split", seed=3, progress=False)["resumed_from"] == 3
    assert same_weights(_outputs(tmp_path / "split")[0], model)

    translator = load_translator(tmp_path / "full" / "model.pt")
    out = translator.translate("BA", np.ascontiguousarray(pair["B"].frames[:5, :32, :32]))
    assert out.shape == (5, 32, 32, 3) and out.dtype == np.uint8


def test_progressive_resumes_exactly_across_stage_boundaries(
    pair64: dict[str, PreparedSplit], tmp_path: Path
) -> None:
    s = ProgressiveSettings.from_dict(PROGRESSIVE)
    assert get_model("progressive_cyclegan").stepper is ProgressiveStepper
    result = train_model(s, pair64, ("A", "B"), tmp_path / "full", seed=3, progress=False)
    model, rows, info = _outputs(tmp_path / "full")
    assert result["steps"] == 10 and info["stage"] == model["stage"] == 5
    assert info["stage_starts"] == [0, 2, 4, 6, 8] and not info["diverged"]
    assert {"G_gan", "G_cycle", "G_idt", "G_total", "D_A", "D_B", "D"} <= set(rows[0])
    assert all(np.isfinite(float(row["G_total"])) for row in rows)
    assert Image.open(tmp_path / "full" / "samples.png").size == (3 * 64, 2 * 64)

    # Killed after step 4 (inside stage 2); the checkpoint of step 3 records stage 2.
    split = tmp_path / "split"
    assert train_model(s, pair64, ("A", "B"), split, seed=3, progress=False, stop_after=4)["stopped"]
    assert torch.load(split / "ckpt" / "last.pt", weights_only=True)["stage"] == 2
    assert train_model(s, pair64, ("A", "B"), split, seed=3, progress=False)["resumed_from"] == 3
    assert same_weights(_outputs(split)[0], model)

    translator = load_translator(tmp_path / "full" / "model.pt")
    frames = np.ascontiguousarray(pair64["A"].frames[:3, 2:66, 2:66])
    for direction in ("AB", "BA"):
        out = translator.translate(direction, frames)
        assert out.shape == frames.shape and out.dtype == np.uint8
    full = build_generator("unet_32", 4)  # the translator applies the final (full) generator
    full.load_state_dict(model["G_AB"])
    with torch.no_grad():
        expected = to_uint8(full.eval()(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1))
    assert np.array_equal(translator.translate("AB", frames), expected)


@pytest.mark.usefixtures("keep_threads")
def test_progressive_parallel_sides_resume_exactly_and_match_the_serial_step(
    pair64: dict[str, PreparedSplit], tmp_path: Path
) -> None:
    """Both directions and both discriminators on two threads at once, across the stage changes:
    a run stopped inside stage 2 and resumed ends with the uninterrupted run's weights, and the
    first step's losses are the serial step's up to rounding."""
    s = ProgressiveSettings.from_dict({**PROGRESSIVE, "threads": 2})
    parallel, serial = (
        ProgressiveStepper(replace(s, parallel_sides=on), pair64["A"], pair64["B"], seed=3, device="cpu")
        for on in (True, False)
    )
    assert parallel.sides.parallel and not serial.sides.parallel
    torch.testing.assert_close(parallel.train_step(0), serial.train_step(0), rtol=1e-5, atol=1e-6)
    train_model(s, pair64, ("A", "B"), tmp_path / "full", seed=3, progress=False)
    split = tmp_path / "split"
    assert train_model(s, pair64, ("A", "B"), split, seed=3, progress=False, stop_after=4)["stopped"]
    assert train_model(s, pair64, ("A", "B"), split, seed=3, progress=False)["resumed_from"] == 3
    assert same_weights(_outputs(split)[0], _outputs(tmp_path / "full")[0])


def test_resnet_form_trains_to_cyclegans_architecture_and_resumes_mid_fade(
    pair64: dict[str, PreparedSplit], tmp_path: Path
) -> None:
    s = ProgressiveSettings.from_dict(PROGRESSIVE_RESNET)
    train_model(s, pair64, ("A", "B"), tmp_path / "full", seed=3, progress=False)
    model, rows, info = _outputs(tmp_path / "full")
    assert info["stage"] == model["stage"] == 5 and model["alpha"] == 1.0
    assert (info["final_netG"], info["final_n_layers_D"]) == ("resnet_6blocks", 3)
    assert all(np.isfinite(float(row["G_total"])) for row in rows)
    # Stopped inside stage 3's fade (step 4 is its first step, alpha 0.5 at fade 0.5 of 2 steps)
    split = tmp_path / "split"
    assert train_model(s, pair64, ("A", "B"), split, seed=3, progress=False, stop_after=5)["stopped"]
    assert train_model(s, pair64, ("A", "B"), split, seed=3, progress=False)["resumed_from"] >= 3
    assert same_weights(_outputs(split)[0], model)
    full = build_generator("resnet_6blocks", 4)
    net = ProgressiveResnetGenerator(6, 5, 4, stage=5)
    net.load_state_dict(model["G_AB"])
    in_order = [net.stem, *net.down, *net.blocks, *reversed(net.up), net.head]
    with torch.no_grad():
        for mine, theirs in zip(
            [p for m in in_order for p in m.parameters()], full.parameters(), strict=True
        ):
            theirs.copy_(mine)
    frames = np.ascontiguousarray(pair64["A"].frames[:2, 2:34, 2:34])
    with torch.no_grad():
        expected = to_uint8(full.eval()(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1))
    assert np.array_equal(load_translator(tmp_path / "full" / "model.pt").translate("AB", frames), expected)
