"""The measurements behind ``faceoff bench`` (see :mod:`faceoff.bench`): imports torch."""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from faceoff.datasets.prepared import PreparedSplit
from faceoff.train.registry import all_models
from faceoff.train.runtime import FAST_PATH
from faceoff.train.settings import TrainSettings

PRESETS: dict[str, dict[str, Any]] = {
    "plain": {**dict.fromkeys(FAST_PATH, False), "precision": "fp32"},
    "fast": {"precision": "auto"},
    "deterministic": {"precision": "auto", "deterministic": True},
}
PREPARE_PRESETS: dict[str, dict[str, Any]] = {
    "reference": {},  # prepare_person's defaults: the detector on every full-size frame
    "fast": {"detect_size": 160},  # what talking-head video allows (see prepare.persons.DEFAULTS)
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
    stepper: Any
    seconds: list[float] = field(default_factory=list)
    data_seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    step_mb: float = 0.0
    gpu_mb: float = 0.0


def _bench_train(args: argparse.Namespace, device: torch.device) -> None:
    steppers = _benchmarkable()
    families = args.families or sorted(steppers)
    unmeasured = sorted(set(all_models()) - set(steppers))
    if unmeasured:
        print(f"# not image-to-image CycleGAN-style steppers, not measured: {', '.join(unmeasured)}")
    names = args.compare or ["fast"]
    print(
        f"# device {device}, torch {torch.__version__}, {args.steps} timed steps after {args.warmup} warm-up"
    )
    print("# s/step: median; img/s: A and B images per second; data: share of a step spent making batches")
    print("# cpu_s: median CPU seconds (all threads) per step: comparable when other jobs share the cores")
    print("# rss_MB: process peak (all compared settings are resident); step_MB: a step's own peak growth")
    header = (
        "family",
        "setting",
        "size",
        "netG",
        "ngf/ndf",
        "batch",
        "precision",
        "s/step",
        "cpu_s",
        "img/s",
        "data",
        "rss_MB",
        "step_MB",
    )
    rows: list[tuple[str, ...]] = []
    ratios: list[str] = []
    for family in families:
        if family not in steppers:
            raise SystemExit(
                f"no benchmark stepper for family {family!r} (have: {', '.join(sorted(steppers))})"
            )
        for size in args.sizes:
            cases = [_case(family, name, size, args, device) for name in names]
            _interleave(cases, args.warmup, args.steps, device)
            for case in cases:
                rows.append(_row(family, case, size, args, device))
            base = statistics.median(cases[0].seconds)
            for case in cases[1:]:
                ratio = base / statistics.median(case.seconds)
                ratios.append(
                    f"ratio {family} {size}px: {case.label} is {ratio:.2f}x as fast as {cases[0].label} "
                    f"({statistics.median(case.seconds):.3f} vs {base:.3f} s/step)"
                )
    if device.type == "cuda":
        header = (*header, "gpu_MB")
    _print_table(header, rows)
    for line in ratios:
        print(line)


def _case(family: str, name: str, size: int, args: argparse.Namespace, device: torch.device) -> _Case:
    values = {
        **_setting(name, PRESETS),
        "netG": args.netG,
        "ngf": args.ngf,
        "ndf": args.ndf,
        "batch_size": args.batch_size,
        "crop_size": size,
        "threads": args.threads,
    }
    settings = TrainSettings.from_dict({"model": family, **values})
    data = [_synthetic_split(size + size // 8, seed) for seed in (0, 1)]
    return _Case(name, all_models()[family].stepper(settings, *data, seed=0, device=str(device)))


def _benchmarkable() -> dict[str, type]:
    """Pair models whose stepper exposes ``batches(step)`` and takes TrainSettings (the CycleGANs)."""
    return {
        name: spec.stepper
        for name, spec in all_models().items()
        if spec.data == "pair"
        and hasattr(spec.stepper, "batches")
        and issubclass(spec.settings, TrainSettings)
    }


def _interleave(cases: list[_Case], warmup: int, steps: int, device: torch.device) -> None:
    """Alternate the settings step by step; time a step's batches on their own, then the whole step."""
    for step in range(warmup + steps):
        for case in cases:
            case.stepper.rt.activate()
            _reset_peaks(device)
            before = _peak_rss_mb()
            data = _timed(lambda c=case, s=step: c.stepper.batches(s), device)
            cpu = _cpu_seconds()
            seconds = _timed(lambda c=case, s=step: c.stepper.train_step(s), device)
            cpu = _cpu_seconds() - cpu
            peak = _peak_rss_mb()
            case.rss_mb = max(case.rss_mb, peak)
            case.step_mb = max(case.step_mb, peak - before)
            if device.type == "cuda":
                case.gpu_mb = max(case.gpu_mb, torch.cuda.max_memory_allocated(device) / 2**20)
            if step >= warmup:
                case.seconds.append(seconds)
                case.data_seconds.append(data)
                case.cpu_seconds.append(cpu)


def _row(
    family: str, case: _Case, size: int, args: argparse.Namespace, device: torch.device
) -> tuple[str, ...]:
    median = statistics.median(case.seconds)
    row = (
        family,
        case.label,
        str(size),
        args.netG,
        f"{args.ngf}/{args.ndf}",
        str(args.batch_size),
        case.stepper.rt.precision,
        f"{median:.3f}",
        f"{statistics.median(case.cpu_seconds):.3f}",
        f"{2 * args.batch_size / median:.3g}",
        f"{statistics.median(case.data_seconds) / median:.1%}",
        f"{case.rss_mb:.0f}",
        f"{case.step_mb:.0f}",
    )
    return (*row, f"{case.gpu_mb:.0f}") if device.type == "cuda" else row


def _timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall seconds of ``fn`` including the device work it queued (the benchmark's only syncs)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


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


def _synthetic_split(size: int, seed: int, n: int = 16) -> PreparedSplit:
    """Smooth random images: realistic bytes for the data path without rendering faces."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (n, size // 8 + 1, size // 8 + 1, 3), dtype=np.uint8)
    frames = np.ascontiguousarray(coarse.repeat(8, 1).repeat(8, 2)[:, :size, :size])
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return PreparedSplit(frames, np.zeros((n, 68, 2), np.float32), masks, np.arange(n))


# ---------------------------------------------------------------- preprocessing


def _bench_prepare(args: argparse.Namespace) -> None:
    from faceoff.prepare import prepare_person
    from faceoff.synth import write_person_videos

    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.compare or ["fast"]
    with tempfile.TemporaryDirectory(prefix="faceoff-bench-") as tmp:
        folder = Path(tmp)
        write_person_videos(folder, ["A"], n_frames=args.frames, size=256)
        test = max(1, args.frames // 10)
        base = {"size": 128, "split": {"train": args.frames - test, "test": test}}
        prepare_person(folder / "A.mp4", "A", folder / "warm", base, progress=False)  # imports, weights
        print(f"# {args.frames} frames of 256 px synthetic video, torch threads {torch.get_num_threads()}")
        print("# fps: frames per wall second without model loading; fps/core: per CPU-second used")
        print("# <step>_ms: wall milliseconds per decoded frame")
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
            (name, str(report["detector_runs"]), f"{fps:.1f}", f"{cores:.2f}", f"{fps / cores:.1f}", *ms)
        )
    _print_table(("setting", "detector_runs", "fps", "cores", "fps/core", *(f"{k}_ms" for k in steps)), rows)
    first = names[0]
    for name in names[1:]:
        print(f"ratio prepare: {name} is {fps_of[name] / fps_of[first]:.2f}x as fast as {first}")


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
    from faceoff.synth import write_person_videos
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
        write_person_videos(folder, ["A"], n_frames=args.frames, size=frame_size)
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
    name, *overrides = spec.split(":")
    if name not in presets:
        raise SystemExit(f"unknown setting {name!r} (presets: {', '.join(presets)})")
    values = dict(presets[name])
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{spec!r}: override {item!r} is not key=value")
        values[key] = yaml.safe_load(value)
    return values


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
