"""The measurements behind ``faceoff bench`` (see :mod:`faceoff.bench`): imports torch."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import resource
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceoff.bench.models import (
    bench_stepper,
    images_per_step,
    measured_peak,
    model_settings,
    step_flops,
    timed,
)
from faceoff.bench.specs import named_overrides
from faceoff.config.load import ConfigError
from faceoff.config.plugins import load_plugins
from faceoff.config.runs import FAST_PATH
from faceoff.errors import FaceoffError
from faceoff.train.loop import Stepper
from faceoff.train.registry import get_model, model_names
from faceoff.train.settings import BaseSettings

PRESETS: dict[str, dict[str, Any]] = {
    "plain": {**dict.fromkeys(FAST_PATH, False), "precision": "fp32"},
    "fast": {"precision": "auto"},
    "deterministic": {"precision": "auto", "deterministic": True},
}
PREPARE_PRESETS: dict[str, dict[str, Any]] = {
    "reference": {"detect_every": 1},  # the detector on every full-size frame (the old default)
    "default": {},  # prepare_person's defaults: detect every few frames, track in between
    "fast": {"detect_size": 160},  # the defaults on a downscaled frame (see prepare.persons.DEFAULTS)
}


def run(args: argparse.Namespace) -> int:
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.what == "prepare":
        _bench_prepare(args)
    elif args.what == "apply":
        _bench_apply(args, device)
    else:
        _bench_train(args, torch.device(device))
    return 0


# ---------------------------------------------------------------- training


@dataclass
class _Case:
    label: str
    settings: BaseSettings
    stepper: Stepper
    start: int  # the step index of the FLOP-counted step; warm-up and timed steps follow it
    flops: int = 0
    seconds: list[float] = field(default_factory=list)
    data_seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    step_mb: float = 0.0
    gpu_mb: float = 0.0


def _bench_train(args: argparse.Namespace, device: torch.device) -> None:
    if args.plugin:
        load_plugins({"plugins": args.plugin})
    models = [_model_arg(text) for text in args.models or model_names()]
    names = args.compare or ["fast"]
    optional = {"netG": args.netG, "ngf": args.ngf, "ndf": args.ndf, "batch_size": args.batch_size}
    shown = ", ".join(f"{k} {v}" for k, v in optional.items() if v is not None) or "none"
    print(
        f"# device {device}, torch {torch.__version__}, {args.steps} timed steps after {args.warmup} warm-up"
    )
    print(f"# every model with its own default settings; set where the model has the key: {shown}")
    print("# steps: the last of the model's schedule (a progressive model's final architecture)")
    print("# s/step: median; speedup: the first setting's s/step over this one's")
    print("# cpu_s: median CPU seconds (all threads) per step: comparable when other jobs share the cores")
    print("# img/s: training images drawn per second (A and B for pair models); data: share of a step")
    print("#   spent making its batches (models whose stepper has batches(step); else -)")
    print("# GFLOP/step: one step's forward and backward FLOPs, counted by torch.utils.flop_counter")
    print("# peak: measured on this device in the row's precision, the better of a large matmul and a large")
    print("#   3x3 convolution (nominal FLOPs, as counted for the step; see the line below the table)")
    print("# rss_MB: process peak (all compared settings are resident); step_MB: a step's own peak growth")
    header = (
        *("model", "setting", "size", "precision", "batch", "s/step", "speedup", "cpu_s", "img/s"),
        *("data", "GFLOP/step", "GFLOP/s", "peak_GFLOP/s", "%peak", "rss_MB", "step_MB"),
    )
    if device.type == "cuda":
        header = (*header, "gpu_MB")
    rows: list[tuple[str, ...]] = []
    ratios: list[str] = []
    peaks: dict[str, dict[str, float]] = {}
    for label, model, overrides in models:
        for size in args.sizes:
            try:
                cases = [_case(model, overrides, name, size, optional, args, device) for name in names]
            except FaceoffError as error:  # a size the model rejects, a feature net without weights
                print(f"# skipped {label} {size}px: {error}")
                continue
            _interleave(cases, args.warmup, args.steps, device)
            base = statistics.median(cases[0].seconds)
            for case in cases:
                precision = case.stepper.rt.precision
                if precision not in peaks:
                    case.stepper.rt.activate()  # the same threads as the steps
                    peaks[precision] = measured_peak(precision, device)
                rows.append(_row(label, case, size, base, max(peaks[precision].values()), device))
            for case in cases[1:]:
                ratio = base / statistics.median(case.seconds)
                ratios.append(
                    f"ratio {label} {size}px: {case.label} is {ratio:.2f}x as fast as {cases[0].label} "
                    f"({statistics.median(case.seconds):.3f} vs {base:.3f} s/step)"
                )
    _print_table(header, rows)
    for precision, rates in peaks.items():
        shown = ", ".join(f"{op} {rate / 1e9:.1f}" for op, rate in rates.items())
        print(f"peak {precision}, measured (GFLOP/s, torch threads {torch.get_num_threads()}): {shown}")
    for line in ratios:
        print(line)


def _model_arg(text: str) -> tuple[str, str, dict[str, Any]]:
    """``name[:key=value...]``: a registered model and overrides of its settings (a variant)."""
    name, *_ = text.split(":")
    models = model_names()
    if name not in models:
        raise SystemExit(f"unknown model {name!r} (registered: {', '.join(models)})")
    return text, name, _setting(text, {name: {}})


def _case(
    model: str,
    overrides: dict[str, Any],
    name: str,
    size: int,
    optional: dict[str, Any],
    args: argparse.Namespace,
    device: torch.device,
) -> _Case:
    values = {**_setting(name, PRESETS), **overrides, "crop_size": size, "threads": args.threads}
    known = {f.name for f in dataclasses.fields(get_model(model).settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"model {model!r} has no settings {unknown} (known: {', '.join(sorted(known))})")
    total = 1 + args.warmup + args.steps
    settings = model_settings(model, values, optional)
    # The schedule's last steps (past it only for schedules shorter than the bench: NST's one step).
    return _Case(name, settings, bench_stepper(settings, device), max(0, settings.total_steps - total))


def _interleave(cases: list[_Case], warmup: int, steps: int, device: torch.device) -> None:
    """Count each setting's FLOPs on a first step, then alternate the settings step by step; time a
    step's batches on their own (where the stepper exposes them), then the whole step."""
    for i in range(1 + warmup + steps):
        for case in cases:
            step = case.start + i
            case.stepper.rt.activate()
            if i == 0:
                case.flops = step_flops(case.stepper, step)
                continue
            _reset_peaks(device)
            before = _peak_rss_mb()
            batches = getattr(case.stepper, "batches", None)
            data = timed(lambda b=batches, s=step: b(s), device) if batches else float("nan")
            cpu = _cpu_seconds()
            seconds = timed(lambda c=case, s=step: c.stepper.train_step(s), device)
            cpu = _cpu_seconds() - cpu
            peak = _peak_rss_mb()
            case.rss_mb = max(case.rss_mb, peak)
            case.step_mb = max(case.step_mb, peak - before)
            if device.type == "cuda":
                case.gpu_mb = max(case.gpu_mb, torch.cuda.max_memory_allocated(device) / 2**20)
            if i > warmup:
                case.seconds.append(seconds)
                case.data_seconds.append(data)
                case.cpu_seconds.append(cpu)


def _row(
    label: str, case: _Case, size: int, base: float, peak: float, device: torch.device
) -> tuple[str, ...]:
    median = statistics.median(case.seconds)
    data = statistics.median(case.data_seconds)
    rate = case.flops / median
    row = (
        label,
        case.label,
        str(size),
        case.stepper.rt.precision,
        str(case.settings.batch_size),
        f"{median:.3f}",
        f"{base / median:.2f}",
        f"{statistics.median(case.cpu_seconds):.3f}",
        f"{images_per_step(case.settings) / median:.3g}",
        "-" if np.isnan(data) else f"{data / median:.1%}",
        f"{case.flops / 1e9:.3g}",
        f"{rate / 1e9:.3g}",
        f"{peak / 1e9:.3g}",
        f"{rate / peak:.1%}",
        f"{case.rss_mb:.0f}",
        f"{case.step_mb:.0f}",
    )
    return (*row, f"{case.gpu_mb:.0f}") if device.type == "cuda" else row


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peaks(device: torch.device) -> None:
    """Start new peak-memory windows: Linux resets VmHWM on writing 5 to clear_refs."""
    with contextlib.suppress(OSError):  # elsewhere the peak is the process's (ru_maxrss), never reset
        Path("/proc/self/clear_refs").write_text("5")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if os.uname().sysname == "Darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


# ---------------------------------------------------------------- preprocessing


def _bench_prepare(args: argparse.Namespace) -> None:
    from faceoff.prepare import prepare_person
    from faceoff.prepare.persons import DEFAULTS, boxes_from_landmarks, crop_boxes
    from faceoff.synth import SynthSpec, write_person_videos

    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.compare or ["reference", "default"]
    with tempfile.TemporaryDirectory(prefix="faceoff-bench-") as tmp:
        folder = Path(tmp)
        write_person_videos(folder, SynthSpec(["A"], n_frames=args.frames, size=256))
        test = max(1, args.frames // 10)
        base = {"size": 128, "split": {"train": args.frames - test, "test": test}}
        prepare_person(folder / "A.mp4", "A", folder / "warm", base, progress=False)  # imports, weights
        print(f"# {args.frames} frames of 256 px synthetic video, torch threads {torch.get_num_threads()}")
        print("# fps: frames per wall second without model loading; fps/core: per CPU-second used")
        print("# <step>_ms: wall milliseconds per decoded frame")
        print("# iou_mean, iou_min: the crop boxes' intersection over union with every-frame detection's;")
        print("# exact_iou_*: with the boxes of the renderer's exact landmarks (dlib's own error included)")
        results = {name: [] for name in names}
        for repeat in range(2):  # interleaved repeats: load from other processes hits every setting
            for name in names:
                settings = {**base, **_setting(name, PREPARE_PRESETS)}
                cpu = _cpu_seconds()
                report = prepare_person(
                    folder / "A.mp4", "A", folder / f"{name}{repeat}", settings, progress=False
                )
                cpu = _cpu_seconds() - cpu
                results[name].append((report, cpu))
        # Crop box error against every-frame detection and against the exact boxes (the renderer's
        # landmarks), on frames where both found a face.
        reference = crop_boxes(folder / "A.mp4", "A", {**base, **PREPARE_PRESETS["reference"]})[1]
        exact = boxes_from_landmarks(np.load(folder / "A.landmarks.npy"), {**DEFAULTS, **base})
        iou = {}
        for name in names:
            boxes = crop_boxes(folder / "A.mp4", "A", {**base, **_setting(name, PREPARE_PRESETS)})[1]
            iou[name] = (_iou(boxes, reference), _iou(boxes, exact))
    steps = sorted({k for runs in results.values() for r, _ in runs for k in r["timing_s"]} - {"total"})
    rows = []
    fps_of = {}
    for name, runs in results.items():
        report, cpu = min(runs, key=lambda run: run[0]["timing_s"]["total"])  # the less disturbed repeat
        timing = report["timing_s"]
        work = timing["total"] - timing.get("load_models", 0.0)
        fps = report["frames_decoded"] / work
        cores = cpu / timing["total"]
        fps_of[name] = fps
        ms = [f"{1000 * timing.get(k, 0.0) / report['frames_decoded']:.1f}" for k in steps]
        rows.append(
            (
                *(name, str(report["detector_runs"]), f"{fps:.1f}", f"{cores:.2f}", f"{fps / cores:.1f}"),
                *(f"{v:.3f}" for pair in iou[name] for v in (np.mean(pair), np.min(pair))),
                *ms,
            )
        )
    header = ("setting", "detector_runs", "fps", "cores", "fps/core", "iou_mean", "iou_min")
    header += ("exact_iou_mean", "exact_iou_min")
    _print_table((*header, *(f"{k}_ms" for k in steps)), rows)
    first = names[0]
    for name in names[1:]:
        print(f"ratio prepare: {name} is {fps_of[name] / fps_of[first]:.2f}x as fast as {first}")


def _iou(boxes: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame IoU of two (T, 4) box tracks where both have a box (NaN when they never do)."""
    from faceoff.faces.track import box_iou

    both = ~np.isnan(boxes).any(axis=1) & ~np.isnan(reference).any(axis=1)
    return box_iou(boxes[both], reference[both]) if both.any() else np.array([np.nan])


# ---------------------------------------------------------------- apply

APPLY_STAGES = ("decode", "detect", "landmarks", "crop", "translate", "blend", "encode")
APPLY_CONFIG = ["params.yaml", "config/demo.yaml"]


def _bench_apply(args: argparse.Namespace, device: str) -> None:
    """Preprocess, then apply, the same synthetic video; both in frames per second of work."""
    from faceoff.apply import ApplyOptions
    from faceoff.apply.run import ApplySummary, apply_media, translator
    from faceoff.config import load_params
    from faceoff.nets import build_generator
    from faceoff.prepare import prepare_person
    from faceoff.synth import SynthSpec, write_person_videos
    from faceoff.train.registry import settings_from_dict
    from faceoff.train.runtime import resolve_precision
    from faceoff.train.translator import Translator

    if args.threads:
        torch.set_num_threads(args.threads)
    files = getattr(args, "config", None) or APPLY_CONFIG
    params = load_params(files)
    dataset = params["datasets"]["persons"]
    frame_size = int(dataset.get("synthetic", {}).get("size", 160))
    settings = settings_from_dict(params["families"]["faceoff"]["train"]).to_dict()
    net = build_generator(settings["netG"], settings["ngf"], settings["norm"]).state_dict()
    model = Translator(settings, {"G_AB": net, "G_BA": net}, device)
    test = max(1, args.frames // 10)
    prepare = {**dataset.get("prepare", {}), "split": {"train": args.frames - test, "test": test}}
    options = ApplyOptions.from_prepare(prepare, settings["crop_size"])
    with tempfile.TemporaryDirectory(prefix="faceoff-bench-") as tmp:
        folder = Path(tmp)
        write_person_videos(folder, SynthSpec(["A"], n_frames=args.frames, size=frame_size))
        video = folder / "A.mp4"
        prepare_person(video, "A", folder / "warm", prepare, progress=False)  # imports, weights
        report = prepare_person(video, "A", folder / "prepared", prepare, progress=False)
        summaries = {}
        for precision in dict.fromkeys(["fp32", resolve_precision("auto", device)]):  # bf16 where native
            summary = ApplySummary(str(video), str(folder / "out.mp4"), "video", "bench", "A2B")
            translate = translator(model, "AB", settings["crop_size"], precision, device)
            summaries[precision] = apply_media(video, folder / "out.mp4", translate, options, summary, False)
    shown = {k: v for k, v in options.__dict__.items() if k in ("size", "crop_size", "detector", "landmarks")}
    print(
        f"# {args.frames} frames of {frame_size} px synthetic video ({', '.join(files)}: datasets.persons, "
        f"families.faceoff.train: {settings['netG']} ngf {settings['ngf']}), device {device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"# apply options: {shown}, detect_every {options.detect_every}, smooth {options.smooth}")
    print("# fps: frames per wall second without model loading; <stage>_ms: wall ms per frame")
    print("# apply translates on a second thread: translate_ms is that thread's time, translate_wait_ms")
    print("# the time the main thread waited for it; precision: the translator's arithmetic")
    timing = report["timing_s"]
    prepare_fps = report["frames_decoded"] / (timing["total"] - timing.get("load_models", 0.0))
    stages = [*APPLY_STAGES, *sorted(set(timing) - {"total", "load_models", *APPLY_STAGES})]
    stages.insert(stages.index("translate") + 1, "translate_wait")
    per_frame = {"prepare": (report["frames_decoded"], prepare_fps, timing)}
    for precision, summary in summaries.items():
        work = summary.total_s - summary.seconds.get("load_models", 0.0)
        per_frame[f"apply_{precision}"] = (summary.frames, summary.frames / work, summary.seconds)
    rows = [
        (
            name,
            str(frames),
            f"{fps:.1f}",
            *(f"{1000 * seconds[k] / frames:.1f}" if k in seconds else "-" for k in stages),
        )
        for name, (frames, fps, seconds) in per_frame.items()
    ]
    _print_table(("what", "frames", "fps", *(f"{k}_ms" for k in stages)), rows)
    for name, (_, fps, _) in per_frame.items():
        if name != "prepare":
            print(f"ratio {name}: {fps / prepare_fps:.2f} of the preprocessing throughput (target >= 0.5)")


# ---------------------------------------------------------------- helpers


def _setting(spec: str, presets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``name[:key=value...]``: a preset and overrides, values read as YAML (true, 3, null)."""
    try:
        name, overrides = named_overrides(spec)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    if name not in presets:
        raise SystemExit(f"unknown setting {name!r} (presets: {', '.join(presets)})")
    return {**presets[name], **overrides}


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
