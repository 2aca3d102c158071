"""CycleGAN training mechanics on tiny nets: settings, data, variants, divergence, resume, translation."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from faceoff.bench.measure import PRESETS
from faceoff.datasets.prepared import PreparedSplit, load_split, save_split
from faceoff.io.atomic import read_json
from faceoff.train import SettingsError, TrainSettings, get_model, settings_from_dict, train_model
from faceoff.train import loop as loop_module
from faceoff.train.cyclegan import CycleGANTrainer
from faceoff.train.data import DeviceSplit, sample_arrays, step_rng, to_tensors
from faceoff.train.optim import lr_factor
from faceoff.train.pool import ImagePool
from faceoff.train.runtime import Runtime
from faceoff.train.translator import Translator

TINY = {
    "ngf": 4,
    "ndf": 4,
    "crop_size": 32,
    "steps": 6,
    "steps_decay": 6,
    "log_every": 3,
    "checkpoint_every": 5,
}


def make_split(n: int = 6, size: int = 36, hue: int = 0, seed: int = 0) -> PreparedSplit:
    """Structured frames: a coloured disc (the "face", also the mask) on a gradient background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    frames, masks = [], []
    for _ in range(n):
        cy, cx = rng.integers(size // 3, 2 * size // 3, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < (size // 4) ** 2
        background = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 60)], -1)
        face = np.array([200, (hue + 80) % 256, hue], np.int64)
        frames.append(np.where(disc[..., None], face, background))
        masks.append(disc)
    return PreparedSplit(
        frames=np.asarray(frames, np.uint8),
        landmarks=np.zeros((n, 68, 2), np.float32),
        masks=np.asarray(masks, np.uint8),
        index=np.arange(n),
    )


@pytest.fixture(scope="module")
def pair() -> tuple[PreparedSplit, PreparedSplit]:
    return make_split(hue=0, seed=1), make_split(hue=160, seed=2)


def train_cyclegan(
    s: TrainSettings, data_a: PreparedSplit, data_b: PreparedSplit, out: Path, **kwargs: Any
) -> dict[str, Any]:
    return train_model(s, {"A": data_a, "B": data_b}, ("A", "B"), out, **kwargs)


def settings(**overrides: Any) -> TrainSettings:
    return TrainSettings.from_dict({**TINY, **overrides})


def optimizer_steps(optimizer: torch.optim.Optimizer) -> set[int]:
    return {int(state["step"]) for state in optimizer.state.values()}


# ---------------------------------------------------------------- settings and helpers


def test_settings_defaults_and_round_trip() -> None:
    s = TrainSettings.from_dict({"n_layers_D": [3, 5], "lr_D": 1e-4})
    assert s.n_layers_D == (3, 5) and s.lr_discriminator == 1e-4 and s.total_steps == 200
    assert TrainSettings.from_dict(s.to_dict()) == s
    assert TrainSettings().lr_discriminator == 2e-4


def test_settings_reject_unknown_and_invalid_keys() -> None:
    with pytest.raises(SettingsError, match="'lamda_cycle'"):
        TrainSettings.from_dict({"lamda_cycle": 5})
    with pytest.raises(SettingsError, match="gan_mode"):
        TrainSettings.from_dict({"gan_mode": "hinge"})
    with pytest.raises(SettingsError, match="multiple of 128"):
        TrainSettings.from_dict({"netG": "unet_128", "crop_size": 64})
    with pytest.raises(SettingsError, match="too small"):
        TrainSettings.from_dict({"n_layers_D": [5], "crop_size": 64})


def test_registry_names_the_model_and_its_settings() -> None:
    spec = get_model("cyclegan")
    assert spec.stepper is CycleGANTrainer and spec.settings is TrainSettings
    assert settings_from_dict({"lambda_p": 5}) == TrainSettings(lambda_p=5)
    with pytest.raises(SettingsError, match="pix2pix"):
        get_model("pix2pix")
    with pytest.raises(SettingsError, match="'lambda_pixel' for model 'cyclegan'"):
        settings_from_dict({"lambda_pixel": 10})


def test_lr_schedule_constant_then_linear() -> None:
    assert [lr_factor(i, 2, 3) for i in range(5)] == [1.0, 1.0, 0.75, 0.5, 0.25]


def test_crops_and_flips_treat_frames_and_masks_alike(pair: tuple[PreparedSplit, PreparedSplit]) -> None:
    split = pair[0]
    frames, masks = sample_arrays(split, step_rng(0, 3, 0), 8, 24, flip=True)
    again, _ = sample_arrays(split, step_rng(0, 3, 0), 8, 24, flip=True)
    assert frames.shape == (8, 24, 24, 3) and masks.shape == (8, 24, 24)
    np.testing.assert_array_equal(frames, again)
    # Inside the disc the red channel is 200; the background's red is a left-to-right ramp.
    np.testing.assert_array_equal(masks == 1, frames[..., 0] == 200)
    ramps = np.diff(frames[..., 0].astype(int), axis=2)[masks[:, :, 1:] + masks[:, :, :-1] == 0]
    assert (ramps > 0).any() and (ramps < 0).any()  # some crops were mirrored


def test_pool_is_reproducible_and_restorable() -> None:
    fakes = [torch.full((1, 3, 2, 2), float(i)) for i in range(8)]
    pools = ImagePool(3), ImagePool(3)
    outs = [[p.query(f, step_rng(0, i, 2)) for i, f in enumerate(fakes)] for p in pools]
    assert all(torch.equal(x, y) for x, y in zip(*outs, strict=True))
    assert any(not torch.equal(out, f) for out, f in zip(outs[0], fakes, strict=True))
    restored = ImagePool(3)
    restored.load_state_dict(pools[0].state_dict(), "cpu")
    assert torch.equal(
        restored.query(fakes[0], step_rng(0, 9, 2)), pools[0].query(fakes[0], step_rng(0, 9, 2))
    )


# ---------------------------------------------------------------- variants


def test_two_discriminators_per_side_all_learn(pair: tuple[PreparedSplit, PreparedSplit]) -> None:
    big = tuple(make_split(n=2, size=96, hue=h) for h in (0, 160))
    trainer = CycleGANTrainer(settings(n_layers_D=[3, 5], crop_size=96), *big, seed=0, device="cpu")
    trainer.train_step(0)
    for side in (trainer.side_A, trainer.side_B):
        assert len(side.nets) == 2
        for net, opt in zip(side.nets, side.optimizers, strict=True):
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
            assert optimizer_steps(opt) == {1}


def test_n_critic_steps_per_generator_step(pair: tuple[PreparedSplit, PreparedSplit]) -> None:
    trainer = CycleGANTrainer(settings(n_critic=3), *pair, seed=0, device="cpu")
    for step in range(2):
        trainer.train_step(step)
    assert optimizer_steps(trainer.opt_G) == {2}
    assert all(optimizer_steps(o) == {6} for o in trainer.side_A.optimizers + trainer.side_B.optimizers)


def test_wgan_clips_every_critic_weight(pair: tuple[PreparedSplit, PreparedSplit]) -> None:
    s = settings(
        gan_mode="wgan", optimizer="rmsprop", lr=5e-3, n_critic=2, clip_value=0.01, lambda_identity=0.0
    )
    trainer = CycleGANTrainer(s, *pair, seed=0, device="cpu")
    for step in range(3):
        trainer.train_step(step)
    params = [p for d in trainer.side_A.nets + trainer.side_B.nets for p in d.parameters()]
    assert max(p.abs().max().item() for p in params) <= 0.01
    assert sum((p.abs() == 0.01).sum().item() for p in params) > 0  # the clamp was active


@pytest.mark.parametrize(
    "overrides",
    [
        {"gan_mode": "vanilla"},
        {"gan_mode": "wgangp", "gp_weight": 10.0},
        {"lambda_ssim": 1.0, "mask_weight": 2.0, "mask_input": True},
        {"precision": "bf16", "sample_every": 2},
        {"precision": "fp16"},
        {"netG": "resnet_6blocks", "norm": "batch", "channels_last": True, "pool_size": 0, "batch_size": 2},
    ],
)
def test_variants_train_and_log(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit], overrides: dict[str, Any]
) -> None:
    result = train_cyclegan(
        settings(steps=2, steps_decay=1, **overrides), *pair, tmp_path, seed=0, progress=False
    )
    assert result["steps"] == 3 and not result["diverged"]
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    assert [int(r["step"]) for r in rows] == [3]
    assert all(math.isfinite(float(v)) for v in rows[0].values())
    if "sample_every" in overrides:
        assert [p.name for p in (tmp_path / "samples").iterdir()] == ["step_00000002.png"]
    if "lambda_ssim" in overrides:
        assert float(rows[0]["G_ssim"]) > 0
    if overrides.get("gan_mode") == "wgangp":
        assert float(rows[0]["GP"]) > 0


# ---------------------------------------------------------------- whole runs


def test_outputs_and_loss_reduction_on_prepared_data(tmp_path: Path) -> None:
    """A run on memory-mapped prepared splits writes every output and lowers the cycle loss."""
    for item, hue in (("A", 0), ("B", 160)):
        save_split(tmp_path / item, "train", make_split(n=8, hue=hue, seed=hue))
    data_a, data_b = (load_split(tmp_path / item, "train") for item in "AB")
    assert isinstance(data_a.frames, np.memmap)
    s = settings(ngf=8, ndf=8, steps=60, steps_decay=0, log_every=10, checkpoint_every=30, lr=1e-3)
    out = tmp_path / "run"
    result = train_cyclegan(s, data_a, data_b, out, seed=0, progress=False)
    assert read_json(out / "train.json") == result
    assert result["steps"] == 60 and result["diverged"] is False and result["sec_per_step"] > 0
    rows = list(csv.DictReader((out / "losses.csv").open()))
    assert len(rows) == 6
    assert float(rows[-1]["G_cycle"]) < 0.6 * float(rows[0]["G_cycle"])
    model = torch.load(out / "model.pt", weights_only=True)
    assert TrainSettings.from_dict(model["settings"]) == s
    assert Image.open(out / "samples.png").size == (3 * 32, 2 * 32)
    assert (out / "ckpt" / "last.pt").is_file()


@pytest.fixture
def restore_determinism() -> Any:
    """Deterministic mode is process-wide: switch it back off for the tests that follow."""
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False


@pytest.mark.parametrize(
    "overrides",
    [{}, {"deterministic": True}, {"threads": 2, "parallel_sides": True}],
    ids=["default", "deterministic", "parallel_sides"],
)
@pytest.mark.usefixtures("restore_determinism", "keep_threads")
def test_resume_reproduces_uninterrupted_run(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit], overrides: dict[str, Any]
) -> None:
    s = settings(pool_size=2, batch_size=2, n_layers_D=[2, 3], **overrides)
    train_cyclegan(s, *pair, tmp_path / "whole", seed=3, progress=False)
    assert train_cyclegan(s, *pair, tmp_path / "split", seed=3, progress=False, stop_after=7)["stopped"]
    assert not (tmp_path / "split" / "model.pt").exists()
    assert train_cyclegan(s, *pair, tmp_path / "split", seed=3, progress=False)["resumed_from"] == 5

    def load(run: str, name: str) -> dict[str, Any]:
        return torch.load(tmp_path / run / name, weights_only=True)

    whole, split = load("whole", "model.pt"), load("split", "model.pt")
    for g in ("G_AB", "G_BA"):
        assert all(torch.equal(whole[g][k], split[g][k]) for k in whole[g])
    whole, split = load("whole", "ckpt/last.pt"), load("split", "ckpt/last.pt")
    for side in "AB":
        for d1, d2 in zip(whole["D"][side], split["D"][side], strict=True):
            assert all(torch.equal(d1[k], d2[k]) for k in d1)

    def losses(run: str) -> list[dict[str, str]]:
        return [
            {k: v for k, v in r.items() if k != "sec_per_step"}
            for r in csv.DictReader((tmp_path / run / "losses.csv").open())
        ]

    assert losses("whole") == losses("split")


def test_checkpoint_of_other_settings_is_ignored(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit]
) -> None:
    train_cyclegan(settings(steps=5, steps_decay=0), *pair, tmp_path, seed=0, progress=False)
    result = train_cyclegan(
        settings(steps=5, steps_decay=0, lr=1e-3), *pair, tmp_path, seed=0, progress=False
    )
    assert result["resumed_from"] == 0


def test_divergence_stops_cleanly(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NaN input at step 5 (0-based 4): recorded, last finite weights kept, no exception."""
    sample = loop_module.sample_batch

    def poisoned(*args: Any, **kwargs: Any) -> Any:
        batch = sample(*args, **kwargs)
        if args[2] >= 4:
            batch.images = torch.full_like(batch.images, float("nan"))
        return batch

    monkeypatch.setattr(loop_module, "sample_batch", poisoned)
    result = train_cyclegan(settings(), *pair, tmp_path, seed=0, progress=False)
    assert result["diverged"] is True and result["diverged_step"] == 5 and result["steps"] == 3
    assert read_json(tmp_path / "train.json")["diverged_step"] == 5
    model = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for g in ("G_AB", "G_BA") for v in model[g].values())
    assert not (tmp_path / "ckpt" / "last.pt").exists()  # a checkpoint is only written when healthy
    assert result["final_losses"]["step"] == 3


def test_huge_learning_rate_is_caught(tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit]) -> None:
    s = settings(optimizer="rmsprop", lr=1e30, gan_mode="vanilla")
    result = train_cyclegan(s, *pair, tmp_path, seed=0, progress=False)
    assert result["diverged"] is True and result["diverged_step"] <= 12
    model = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for g in ("G_AB", "G_BA") for v in model[g].values())


@pytest.mark.parametrize("mask_input", [False, True])
def test_translator_matches_trained_generators(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit], mask_input: bool
) -> None:
    train_cyclegan(
        settings(steps=2, steps_decay=0, mask_input=mask_input), *pair, tmp_path, seed=0, progress=False
    )
    translator = Translator.from_file(tmp_path / "model.pt")
    frames, masks = pair[0].frames[:3, 2:34, 2:34], pair[0].masks[:3, 2:34, 2:34]
    out = translator.translate("AB", frames, masks, batch_size=2)
    assert out.shape == frames.shape and out.dtype == np.uint8
    if mask_input:
        with pytest.raises(ValueError, match="mask"):
            translator.translate("BA", out)
    back = translator.translate("BA", out, masks)
    assert back.shape == frames.shape
    no_face = translator.translate("AB", frames, np.zeros_like(masks), batch_size=2)
    assert np.array_equal(no_face, out) != mask_input
    model = torch.load(tmp_path / "model.pt", weights_only=True)
    trainer = CycleGANTrainer(settings(mask_input=mask_input), *pair, seed=0, device="cpu")
    trainer.G_AB.load_state_dict(model["G_AB"])
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    if mask_input:
        x = torch.where(torch.from_numpy(masks)[:, None] > 0, x, -1.0)
    with torch.no_grad():
        expected = (
            ((trainer.G_AB.eval()(x).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        )
    # Batch sizes change float rounding in the convolutions, hence one grey level of slack.
    np.testing.assert_allclose(out.astype(int), expected.astype(int), atol=1)
    with pytest.raises(ValueError, match="direction"):
        translator.translate("AA", frames)


# ---------------------------------------------------------------- fast path

PLAIN = PRESETS["plain"]  # every speed switch off: the reference computation


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_batched_passes_match_separate_ones(pair: tuple[PreparedSplit, PreparedSplit], norm: str) -> None:
    """Identity passes batched with the translations: the losses and gradients of six separate passes."""
    trainers = [
        CycleGANTrainer(settings(norm=norm, batch_size=2, batch_passes=on), *pair, seed=0, device="cpu")
        for on in (False, True)
    ]
    assert [t.rt.batch_passes for t in trainers] == [False, True]
    a, b = trainers[0].batches(0)
    results = []
    for trainer in trainers:
        terms, _, _ = trainer.generator_losses(a, b)
        trainer.opt_G.zero_grad()
        terms["G_total"].backward()
        grads = [p.grad.clone() for net in (trainer.G_AB, trainer.G_BA) for p in net.parameters()]
        results.append((terms, grads))
    (terms0, grads0), (terms1, grads1) = results
    assert terms0["G_idt"] > 0
    for key in terms0:
        torch.testing.assert_close(terms0[key], terms1[key], rtol=1e-5, atol=1e-6)
    for g0, g1 in zip(grads0, grads1, strict=True):
        torch.testing.assert_close(g0, g1, rtol=1e-4, atol=1e-6)
    # A whole step (discriminators see real and fake in one call too) logs the same losses.
    fresh = [
        CycleGANTrainer(settings(norm=norm, batch_size=2, batch_passes=on), *pair, seed=0, device="cpu")
        for on in (False, True)
    ]
    torch.testing.assert_close(fresh[0].train_step(0), fresh[1].train_step(0), rtol=1e-5, atol=1e-6)


def test_batch_norm_never_batches_passes() -> None:
    assert Runtime.resolve(settings(norm="batch"), "cpu").batch_passes is False
    assert Runtime.resolve(settings(norm="instance"), "cpu").batch_passes is True


@pytest.mark.parametrize("key", sorted(PLAIN))
def test_each_fast_path_switch_turns_off(key: str) -> None:
    """On CUDA every switch is on by default (resolved without a GPU here) and each one turns off."""
    on = Runtime.resolve(settings(precision="auto"), "cuda")
    assert on.channels_last and on.batch_passes and on.data_on_device and on.fused_optimizer
    assert on.cudnn_benchmark and on.amp_dtype is not None and not on.compile
    off = Runtime.resolve(settings(**{"precision": "auto", key: PLAIN[key]}), "cuda")
    field = "amp_dtype" if key == "precision" else key
    assert getattr(off, field) in (False, None)
    others = {f: getattr(on, f) for f in ("channels_last", "batch_passes", "data_on_device") if f != key}
    assert all(getattr(off, f) == v for f, v in others.items())


def test_cpu_defaults_and_deterministic_mode() -> None:
    rt = Runtime.resolve(settings(), "cpu")
    assert (rt.channels_last, rt.data_on_device) == (False, False)
    assert rt.fused_optimizer and not Runtime.resolve(settings(optimizer="rmsprop"), "cpu").fused_optimizer
    assert rt.batch_passes and rt.precision == "fp32"  # fp32 unless asked for
    assert Runtime.resolve(settings(precision="auto"), "cpu").precision in ("fp32", "bf16")  # bf16: native
    assert not Runtime.resolve(settings(deterministic=True), "cuda").cudnn_benchmark
    assert Runtime.resolve(settings(precision="bf16"), "cpu").amp_dtype == torch.bfloat16
    assert not Runtime.resolve(settings(precision="bf16"), "cpu").grad_scaling
    assert Runtime.resolve(settings(precision="fp16"), "cpu").grad_scaling


def test_deterministic_mode_switches_on_and_off_without_loading_the_compiler() -> None:
    """Activating a run sets torch's deterministic flag both ways; a run that leaves it off does
    not import torch's inductor (1.5 s of every training process) just to clear a cleared flag."""
    probe = (
        "import sys, torch\n"
        "from faceoff.train import settings_from_dict\n"
        "from faceoff.train.runtime import Runtime\n"
        "def runtime(on):\n"
        "    s = settings_from_dict({'model': 'cyclegan', 'deterministic': on})\n"
        "    return Runtime.resolve(s, 'cpu')\n"
        "runtime(False).activate()\n"
        "print(torch.are_deterministic_algorithms_enabled(), 'torch._inductor' in sys.modules)\n"
        "runtime(True).activate()\n"
        "print(torch.are_deterministic_algorithms_enabled())\n"
        "runtime(False).activate()\n"
        "print(torch.are_deterministic_algorithms_enabled())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True", "False"]


@pytest.mark.parametrize("model", ["expression_classifier", "nst"])
def test_pooling_models_run_channels_last_on_the_cpu(model: str) -> None:
    """The classifier and the style transfer's feature net max-pool, which a CPU does about six
    times as fast channels-last: their default lays the nets out so on every device (cyclegan's
    stays CUDA-only), and a channels-last step computes what the contiguous step computes."""
    from faceoff.bench.models import bench_stepper, model_settings

    extra = {"feature_net": "dlib_resnet"} if model == "nst" else {}
    default = model_settings(model, {"crop_size": 32, **extra}, {})
    assert Runtime.resolve(default, "cpu").channels_last
    assert not Runtime.resolve(model_settings("cyclegan", {}, {}), "cpu").channels_last
    losses = []
    for layout in (True, False):
        stepper = bench_stepper(
            model_settings(model, {"crop_size": 32, "channels_last": layout, **extra}, {}), "cpu"
        )
        net = stepper.net
        convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs and all(
            c.weight.is_contiguous(memory_format=torch.channels_last) == layout for c in convs
        )
        losses.append(stepper.train_step(0))
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-5)


def test_device_split_draws_the_host_batches(pair: tuple[PreparedSplit, PreparedSplit]) -> None:
    """Crop and flip on the device give exactly the host path's batch (same random numbers)."""
    split = pair[0]
    stored = DeviceSplit(split, "cpu", chunk=4)
    for step in range(4):
        host = to_tensors(*sample_arrays(split, step_rng(0, step, 0), 3, 24, True), "cpu")
        device = stored.sample(step_rng(0, step, 0), 3, 24, True)
        assert torch.equal(host.images, device.images) and torch.equal(host.masks, device.masks)


def test_parallel_sides_resolve_per_device_precision_and_threads() -> None:
    """Two halves at once where a CPU run has two threads or more; never on one thread, by default
    never on CUDA, never with fp16's grad scaler (one object both halves would update)."""
    rt = Runtime.resolve(settings(threads=2), "cpu")
    assert rt.parallel_sides and rt.side_threads == 1
    assert Runtime.resolve(settings(threads=6), "cpu").side_threads == 3
    assert not Runtime.resolve(settings(threads=1), "cpu").parallel_sides
    assert not Runtime.resolve(settings(threads=2), "cuda").parallel_sides
    assert not Runtime.resolve(settings(threads=2, precision="fp16"), "cpu").parallel_sides
    assert not Runtime.resolve(settings(threads=2, parallel_sides=False), "cpu").parallel_sides
    assert "parallel_sides" in PLAIN and not PLAIN["parallel_sides"]


def _trained(
    pair: tuple[PreparedSplit, PreparedSplit], hook: Any = None, **overrides: Any
) -> tuple[CycleGANTrainer, torch.Tensor]:
    """A two-thread trainer after three steps (``hook`` on G_AB's forward) and its losses."""
    trainer = CycleGANTrainer(settings(threads=2, **overrides), *pair, seed=0, device="cpu")
    if hook is not None:
        trainer.G_AB.register_forward_hook(hook)
    return trainer, torch.stack([trainer.train_step(step) for step in range(3)])


def _all_weights(trainer: CycleGANTrainer) -> list[torch.Tensor]:
    nets = [trainer.G_AB, trainer.G_BA, *trainer.side_A.nets, *trainer.side_B.nets]
    return [p.detach().clone() for net in nets for p in net.parameters()]


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"gan_mode": "wgangp", "n_critic": 2, "n_layers_D": [2, 3]},
        {"lambda_identity": 0, "precision": "bf16"},
    ],
    ids=["baseline", "wgangp_two_critics", "no_identity_bf16"],
)
@pytest.mark.usefixtures("keep_threads")
def test_parallel_sides_repeat_themselves_and_match_the_serial_step(
    pair: tuple[PreparedSplit, PreparedSplit], variant: dict[str, Any]
) -> None:
    """Each direction and each discriminator side on a thread of its own: the same weights on every
    run (each shared weight takes one gradient from each half, and ``g1 + g2 == g2 + g1``), the
    serial step's gradients and losses up to rounding."""
    threads: set[str] = set()
    first, first_losses = _trained(pair, lambda *_: threads.add(threading.current_thread().name), **variant)
    assert first.sides.parallel and sum(name.startswith("faceoff-side") for name in threads) == 2
    again, again_losses = _trained(pair, **variant)
    serial, serial_losses = _trained(pair, parallel_sides=False, **variant)
    assert not serial.sides.parallel
    assert torch.equal(first_losses, again_losses)
    assert all(torch.equal(x, y) for x, y in zip(_all_weights(first), _all_weights(again), strict=True))
    bf16 = variant.get("precision") == "bf16"
    tolerance = {"rtol": 2e-2, "atol": 2e-3} if bf16 else {"rtol": 1e-4, "atol": 1e-5}
    # The first step's losses and one generator update's gradients, from the same weights: Adam
    # turns rounding in near-zero gradients into whole steps, so later steps are no measure of it.
    torch.testing.assert_close(first_losses[0], serial_losses[0], **tolerance)
    grads = []
    for on in (True, False):
        trainer = CycleGANTrainer(
            settings(threads=2, parallel_sides=on, **variant), *pair, seed=0, device="cpu"
        )
        a, b = trainer.batches(0)
        trainer.opt_G.zero_grad(set_to_none=True)
        trainer.generator_backward(a, b)
        grads.append([p.grad for net in (trainer.G_AB, trainer.G_BA) for p in net.parameters()])
    for x, y in zip(*grads, strict=True):
        torch.testing.assert_close(x, y, **tolerance)


@pytest.mark.usefixtures("keep_threads")
def test_parallel_sides_keep_the_calling_thread_at_a_share_during_the_step(
    pair: tuple[PreparedSplit, PreparedSplit],
) -> None:
    """While the halves run at once the calling thread's own work (the optimiser updates) runs on a
    half's share of the threads, and the run's count is back after the step; in turn, all of them."""
    seen: dict[bool, list[int]] = {True: [], False: []}
    for on in (True, False):
        trainer = CycleGANTrainer(settings(threads=4, parallel_sides=on), *pair, seed=0, device="cpu")
        for opt in (trainer.opt_G, *trainer.side_A.optimizers, *trainer.side_B.optimizers):
            opt.register_step_pre_hook(lambda *_, on=on: seen[on].append(torch.get_num_threads()))
        trainer.train_step(0)
        assert torch.get_num_threads() == 4
    assert seen == {True: [2, 2, 2], False: [4, 4, 4]}


@pytest.mark.usefixtures("keep_threads")
def test_parallel_sides_draw_the_serial_penalty_weights(
    pair: tuple[PreparedSplit, PreparedSplit], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every critic gets the WGAN-GP mixing weights the serial step gives it: they are drawn
    before the sides run, in the serial order, not by whichever thread reaches the generator first."""
    from faceoff.train import cyclegan

    penalty = cyclegan.gradient_penalty
    drawn: dict[bool, dict[tuple[int, int], torch.Tensor]] = {True: {}, False: {}}
    for on in (True, False):
        trainer = CycleGANTrainer(
            settings(threads=2, parallel_sides=on, gan_mode="wgangp", n_critic=2, n_layers_D=[2, 3]),
            *pair,
            seed=0,
            device="cpu",
        )
        critics = [*trainer.side_A.nets, *trainer.side_B.nets]

        def record(d: Any, real: Any, fake: Any, alpha: Any, on: bool = on, critics: list = critics) -> Any:
            drawn[on][(critics.index(d), len(drawn[on]) // len(critics))] = alpha
            return penalty(d, real, fake, alpha)

        monkeypatch.setattr(cyclegan, "gradient_penalty", record)
        trainer.train_step(0)
    assert len(drawn[True]) == 8 and drawn[True].keys() == drawn[False].keys()
    assert all(torch.equal(drawn[True][k], drawn[False][k]) for k in drawn[False])
    assert len({float(alpha) for alpha in drawn[False].values()}) == 8


@pytest.mark.usefixtures("keep_threads")
def test_parallel_sides_stay_serial_where_threads_would_change_the_result(
    pair: tuple[PreparedSplit, PreparedSplit], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generator with dropout (a plugin's) keeps the step in turn: two threads would race for its
    random draws. Under torch's FLOP counter (the calling thread's own) the halves run in turn, so
    the benchmark counts the whole step."""
    from faceoff.bench.models import step_flops
    from faceoff.train import cyclegan

    parallel, serial = (
        CycleGANTrainer(settings(threads=2, parallel_sides=on), *pair, seed=0, device="cpu")
        for on in (True, False)
    )
    assert step_flops(parallel, 0) == step_flops(serial, 0) > 0
    build = cyclegan.build_generator
    monkeypatch.setattr(
        cyclegan, "build_generator", lambda *args: torch.nn.Sequential(build(*args), torch.nn.Dropout(0.1))
    )
    with_dropout = CycleGANTrainer(settings(threads=2), *pair, seed=0, device="cpu")
    assert with_dropout.rt.parallel_sides and not with_dropout.sides.parallel


def test_plain_and_fast_settings_train(tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit]) -> None:
    """Every switch off (the reference computation) and the CPU extras on both train a run."""
    for name, overrides in (("plain", PLAIN), ("extras", {"channels_last": True, "precision": "bf16"})):
        result = train_cyclegan(
            settings(steps=2, steps_decay=0, **overrides), *pair, tmp_path / name, seed=0, progress=False
        )
        assert result["steps"] == 2 and not result["diverged"]


def test_speed_switches_keep_checkpoints_valid(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit]
) -> None:
    """Switches that change speed, not the objective, may differ on resume; precision may not."""
    speed = {k: v for k, v in PLAIN.items() if k != "precision"}
    for run, overrides, resumed_from in (("speed", speed, 5), ("precision", {"precision": "bf16"}, 0)):
        base = settings(steps=5, steps_decay=1)
        train_cyclegan(base, *pair, tmp_path / run, seed=0, progress=False, stop_after=5)
        changed = settings(steps=5, steps_decay=1, **overrides)
        result = train_cyclegan(changed, *pair, tmp_path / run, seed=0, progress=False)
        assert result["resumed_from"] == resumed_from


def test_plateau_schedule_cuts_each_group_on_its_own_validation_loss(
    pair: tuple[PreparedSplit, PreparedSplit], tmp_path: Path
) -> None:
    s = settings(lr_policy="plateau", val_every=2, val_frames=2, plateau_patience=1, steps=8, steps_decay=0)
    trainer = CycleGANTrainer(s, *pair, seed=0, device="cpu")
    assert len(trainer.data[0]) == len(pair[0]) - 2 and len(trainer.val[0]) == 2  # held out, not trained on
    trainer.plateau["G"].best = -1.0  # no validation loss can beat this: G must be cut, D not
    trainer._validate()
    assert trainer.plateau["G"].scale == pytest.approx(0.1) and trainer.plateau["D"].scale == 1.0
    set_scale = trainer.current_lr(0)
    assert set_scale == pytest.approx(s.lr * 0.1)
    trainer.train_step(0)
    assert trainer.opt_G.param_groups[0]["lr"] == pytest.approx(s.lr * 0.1)
    assert trainer.side_A.optimizers[0].param_groups[0]["lr"] == pytest.approx(s.lr)

    # A resumed plateau run ends exactly where the uninterrupted one does (the schedule's state
    # is in the checkpoint), and train.json shows the validation history.
    whole = train_cyclegan(s, *pair, tmp_path / "whole", seed=1, progress=False)
    train_cyclegan(s, *pair, tmp_path / "split", seed=1, progress=False, stop_after=5)
    resumed = train_cyclegan(s, *pair, tmp_path / "split", seed=1, progress=False)
    assert resumed["resumed_from"] == 5
    assert [v["step"] for v in whole["validation"]] == [2, 4, 6]
    assert resumed["validation"] == whole["validation"] and resumed["plateau"] == whole["plateau"]
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["G_AB"]
    b = torch.load(tmp_path / "split" / "model.pt", weights_only=True)["G_AB"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_limit_uses_the_first_frames_only(pair: tuple[PreparedSplit, PreparedSplit]) -> None:
    trainer = CycleGANTrainer(settings(train_limit=3), *pair, seed=0, device="cpu")
    assert [len(d) for d in trainer.data] == [3, 3]
    assert np.array_equal(trainer.data[0].frames, pair[0].frames[:3])
    with pytest.raises(SettingsError, match="train_limit"):
        settings(train_limit=0)


def test_identity_preserving_loss_joins_the_generator_objective(
    pair: tuple[PreparedSplit, PreparedSplit], tmp_path: Path
) -> None:
    """lambda_p adds ||E(G(x)) - E(x)||^2 with dlib's ResNet as E: a positive, weighted term
    whose gradient reaches both generators; train.json records which network ran."""
    trainer = CycleGANTrainer(settings(lambda_p=5.0), *pair, seed=0, device="cpu")
    a, b = trainer.batches(0)
    terms, _, _ = trainer.generator_losses(a, b)
    assert terms["G_perc"] > 0
    total = sum(v for k, v in terms.items() if k not in ("G_total", "G_perc"))
    assert torch.allclose(terms["G_total"], total + terms["G_perc"])
    trainer.opt_G.zero_grad()
    terms["G_perc"].backward()
    for net in (trainer.G_AB, trainer.G_BA):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    double = CycleGANTrainer(settings(lambda_p=10.0), *pair, seed=0, device="cpu")
    assert torch.allclose(double.generator_losses(a, b)[0]["G_perc"], 2 * terms["G_perc"].detach())
    plain = CycleGANTrainer(settings(), *pair, seed=0, device="cpu")
    assert plain.identity is None and plain.generator_losses(a, b)[0]["G_perc"] == 0
    info = train_cyclegan(
        settings(lambda_p=1.0, steps=2, steps_decay=0), *pair, tmp_path, seed=0, progress=False
    )
    assert info["identity_net"] == "dlib_resnet"
