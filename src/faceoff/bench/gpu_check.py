"""``make gpu-check``: what only a GPU can show, checked in a few minutes on tiny synthetic data.

On a CUDA device, for every registered model: a short training with each fast switch (bf16 and
fp16 autocast, the latter with its grad scaler; channels_last; torch.compile; frames held on the
device; the ``fast`` preset's switches together) with finite losses; in deterministic mode, an
interrupted and resumed run equal to an uninterrupted one, in fp32 and in each autocast
precision; a bf16 run continued under ``precision: auto`` where auto means bf16, and restarted
from scratch under fp32; an evaluation and an apply (the trained model's translator, twice: equal
outputs) of a deterministic run. Then ``faceoff bench`` plain vs fast at 256 px. Without CUDA it
says so and exits 0.

The same checks run on a CPU with the CPU-capable switches (``check(..., "cpu", CPU_SWITCHES)``),
which is how the test suite keeps this code exercised.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceoff.bench.measure import PRESETS
from faceoff.bench.models import PAIR, bench_stepper, model_settings, synthetic_data, synthetic_split
from faceoff.config.runs import FAST_PATH
from faceoff.errors import FaceoffError
from faceoff.faces.weights import missing
from faceoff.train.registry import get_model, load_translator, model_names, train_model
from faceoff.train.runtime import resolve_precision
from faceoff.train.settings import BaseSettings, SettingsError

PLAIN = PRESETS["plain"]  # every switch off, fp32: each check turns on the switches it names
CUDA_SWITCHES: dict[str, dict[str, Any]] = {
    "plain": {},
    "bf16": {"precision": "bf16"},
    "fp16": {"precision": "fp16"},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "data_on_device": {"data_on_device": True},
    "fast": {**{key: getattr(BaseSettings, key) for key in FAST_PATH}, "precision": "auto"},  # the preset
}
CPU_SWITCHES = {name: CUDA_SWITCHES[name] for name in ("plain", "bf16", "channels_last")}
# Tiny widths, where a model has the key; the feature nets that ship offline (as config/demo.yaml),
# since a GPU node may lack VGG19's weights.
TINY: dict[str, Any] = {"ngf": 8, "ndf": 8, "width": 8, "latent": 64, "batch_size": 2, "n_style": 2}
OFFLINE_FEATURES: dict[str, Any] = {
    "feature_net": "dlib_resnet",
    "perceptual_layers": ["stage1", "stage2", "stage3", "stage4"],
    "style_layer": "stage3",
    "identity_layer": "stage2",
}
# Six steps (every stage of a 5-stage progressive model), a checkpoint after the third.
SCHEDULE = {"steps": 3, "steps_decay": 3, "log_every": 3, "checkpoint_every": 3}
STOP = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceoff.bench.gpu_check", description=__doc__)
    parser.add_argument("--models", help="comma-separated models (default: every registered one)")
    parser.add_argument("--size", type=int, default=32, help="crop size of the checks (default: 32)")
    parser.add_argument(
        "--bench-size", type=int, default=256, help="faceoff bench's crop size (default: 256)"
    )
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device present (torch {torch.__version__}); nothing to check, exit 0")
        return 0
    models = args.models.split(",") if args.models else None
    failures = check(models, "cuda", CUDA_SWITCHES, args.size)
    _bench(args.bench_size)
    print(f"gpu-check: {len(failures)} failed" + "".join(f"\n  {f}" for f in failures))
    return 1 if failures else 0


def check(
    models: list[str] | None, device: str, switches: Mapping[str, Mapping[str, Any]], size: int = 32
) -> list[str]:
    """Run every check of every model on ``device``; print one line per check, return the failures."""
    failures = []
    for model in models or model_names():
        checks: list[tuple[str, Callable[[Path], str]]] = [
            *(
                (f"switch {name}", _switch_check(model, values, device, size))
                for name, values in switches.items()
            ),
            ("resume", lambda tmp, m=model: check_resume(m, device, size, tmp)),
            ("precisions", lambda tmp, m=model: check_precisions(m, device, size, tmp)),
            ("evaluate+apply", lambda tmp, m=model: check_evaluate_apply(m, device, size, tmp)),
        ]
        for what, run in checks:
            with tempfile.TemporaryDirectory(prefix="faceoff-gpu-check-") as tmp:
                try:
                    note = run(Path(tmp))
                except (AssertionError, FaceoffError, RuntimeError, ValueError) as error:
                    failures.append(f"{model} {what}: {type(error).__name__}: {error}")
                    print(f"FAIL  {model:22} {what}: {type(error).__name__}: {error}", flush=True)
                else:
                    print(f"ok    {model:22} {what}{': ' + note if note else ''}", flush=True)
    return failures


def tiny_settings(model: str, values: Mapping[str, Any], size: int) -> BaseSettings:
    """``model`` at tiny widths on ``size`` px crops with the six-step schedule, or its own where its
    schedule is fixed (NST's one step)."""
    optional = {**TINY, **OFFLINE_FEATURES}
    base = {**PLAIN, **values, "crop_size": size}
    try:
        return model_settings(model, {**base, **SCHEDULE}, optional)
    except SettingsError:
        return model_settings(model, base, optional)


def _switch_check(model: str, values: Mapping[str, Any], device: str, size: int) -> Callable[[Path], str]:
    def run(_: Path) -> str:
        settings = tiny_settings(model, values, size)
        stepper = bench_stepper(settings, device)
        losses = torch.stack([stepper.train_step(step) for step in range(settings.total_steps)])
        assert torch.isfinite(losses).all(), f"non-finite losses {losses.tolist()}"
        return f"{settings.total_steps} steps, precision {stepper.rt.precision}"

    return run


def _train(settings: BaseSettings, device: str, out: Path, stop_after: int | None = None) -> dict[str, Any]:
    spec = get_model(settings.model)
    data = synthetic_data(settings)
    pair = None if spec.data == "dataset" else PAIR
    return train_model(
        settings, data, pair, out, seed=0, device=device, progress=False, stop_after=stop_after
    )


def check_resume(model: str, device: str, size: int, tmp: Path) -> str:
    """Deterministic runs: interrupted and resumed equals uninterrupted (weights and loss log)."""
    precisions = ("fp32", "bf16", "fp16") if torch.device(device).type == "cuda" else ("fp32", "bf16")
    for precision in precisions:
        settings = tiny_settings(model, {"deterministic": True, "precision": precision}, size)
        if settings.total_steps <= STOP:
            return f"a {settings.total_steps}-step schedule: nothing to resume"
        whole, parts = tmp / f"{precision}-whole", tmp / f"{precision}-parts"
        _train(settings, device, whole)
        _train(settings, device, parts, stop_after=STOP)
        resumed = _train(settings, device, parts)
        assert resumed["resumed_from"] == STOP, f"{precision}: resumed from {resumed['resumed_from']}"
        _assert_same_run(whole, parts, precision)
    return f"deterministic, {', '.join(precisions)}"


def check_precisions(model: str, device: str, size: int, tmp: Path) -> str:
    """A bf16 run continues under ``auto`` where auto means bf16; under fp32 it is a new run."""
    settings = tiny_settings(model, {"precision": "bf16"}, size)
    if settings.total_steps <= STOP:
        return f"a {settings.total_steps}-step schedule: nothing to resume"
    _train(settings, device, tmp, stop_after=STOP)
    notes = []
    if resolve_precision("auto", device) == "bf16":
        auto = _train(tiny_settings(model, {"precision": "auto"}, size), device, tmp)
        assert auto["resumed_from"] == STOP and auto["precision"] == "bf16", f"auto: {auto}"
        notes.append("bf16 continued under auto")
    fresh = _train(tiny_settings(model, {"precision": "fp32"}, size), device, tmp)
    assert fresh["resumed_from"] == 0 and fresh["precision"] == "fp32", f"fp32: {fresh}"
    assert not fresh["diverged"], "fp32 run diverged"
    return ", ".join([*notes, "fp32 started afresh"])


def check_evaluate_apply(model: str, device: str, size: int, tmp: Path) -> str:
    """Evaluate a deterministic run's model.pt and apply it twice (equal outputs)."""
    spec = get_model(model)
    if spec.translator is None:
        return "no translator (nothing to evaluate or apply)"
    settings = tiny_settings(model, {"deterministic": True}, size)
    _train(settings, device, tmp / "run")
    items = tuple(getattr(settings, "classes", PAIR))[:2]
    translator = load_translator(tmp / "run" / "model.pt", device, (items[0], items[1]))
    test = synthetic_split(size, seed=7, n=4)
    frames, masks = test.frames, test.masks
    if spec.evaluation == "reenact":
        driving = np.ascontiguousarray(test.landmarks[::-1])  # another frame's landmarks each
        outputs = [translator.reenact(frames, driving) for _ in range(2)]
        note = "reenacted"
    else:
        from faceoff.evaluate.run import evaluate_pair

        result = evaluate_pair(
            translator.translate,
            test,
            synthetic_split(size, seed=8, n=4),
            tmp / "eval",
            embed=lambda images, points: images.reshape(len(images), -1)[:, :128].astype(np.float32),
            landmarks=lambda image: None,
            crop_size=size,
            max_frames=4,
            video_frames=4,
        )
        assert np.isfinite(result["A2B"]["cycle_l1"]), f"metrics {result['A2B']}"
        outputs = [translator.translate("AB", frames, masks) for _ in range(2)]
        note = f"cycle_l1 {result['A2B']['cycle_l1']:.3f}"
    assert outputs[0].dtype == np.uint8 and outputs[0].shape == frames.shape, f"output {outputs[0].shape}"
    assert np.array_equal(outputs[0], outputs[1]), "two applications differ"
    return note


def _assert_same_run(a: Path, b: Path, precision: str) -> None:
    weights_a, weights_b = (torch.load(p / "model.pt", weights_only=True) for p in (a, b))
    assert _equal(weights_a, weights_b), f"{precision}: resumed weights differ from the uninterrupted run's"
    assert _loss_rows(a) == _loss_rows(b), f"{precision}: resumed losses.csv differs"


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and torch.equal(x, y)
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    return x == y


def _loss_rows(run: Path) -> list[dict[str, str]]:
    with (run / "losses.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "sec_per_step"} for row in csv.DictReader(f)]


def _bench(size: int) -> None:
    from faceoff import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    models = ",".join(_bench_models())
    argv = ["--device", "cuda", "--sizes", str(size), "--compare", "plain,fast", "--steps", "10"]
    bench.run(parser.parse_args([*argv, "--models", models]))


def _bench_models() -> list[str]:
    """Every model, the feature-net ones on the nets that ship offline when VGG19's weights are missing."""
    if not missing(["vgg19"]):
        return model_names()
    return [
        f"{m}:" + ":".join(f"{k}={_yaml(v)}" for k, v in OFFLINE_FEATURES.items() if k in _fields(m))
        if "feature_net" in _fields(m)
        else m
        for m in model_names()
    ]


def _fields(model: str) -> set[str]:
    return {f.name for f in dataclasses.fields(get_model(model).settings)}


def _yaml(value: Any) -> str:
    return f"[{','.join(value)}]" if isinstance(value, list) else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
