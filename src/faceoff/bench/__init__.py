"""``faceoff bench``: training and preprocessing speed, measured the same way on a laptop and a GPU.

Training: every registered model (``--models``; plugins with ``--plugin``), built through the
model registry on synthetic in-memory data with its own default settings (``--ngf``, ``--ndf``,
``--netG``, ``--batch-size`` set where a model has the key), at every crop size: the median
seconds per step over ``--steps`` steps after ``--warmup`` steps, images per second, the share
of a step spent producing its batches, the step's FLOPs (forward and backward, counted once with
torch's flop counter) and the rate achieved beside the peak measured on this device in the
step's precision (the better of a large matmul and a large 3x3 convolution), and peak memory
(host RSS; GPU memory on CUDA). The steps are the last of the model's schedule, so a progressive
model runs its final architecture. A size a model rejects, or a feature net whose weights are
missing, skips that model with the reason. ``--compare plain,fast`` builds both settings in one
process and alternates their steps, so that load from other processes hits both alike; the
speedup column and the ratio lines are what to quote.

A model is a registered name, optionally followed by ``:key=value`` overrides of its settings (a
variant), e.g. ``cyclegan:gan_mode=wgangp``; a setting is a preset name, optionally followed by
``:key=value`` overrides of the speed switches, e.g. ``plain:batch_passes=true``. Presets: ``plain``
(every fast-path switch off and fp32, the reference implementation's computation), ``fast`` (the
default switches, ``precision: auto``), ``deterministic`` (``fast`` with deterministic algorithms).

GPU check (``--gpu-check``, ``make gpu-check``): see :mod:`faceoff.bench.gpu_check`.

Preprocessing (``--what prepare``): frames per second of decode + detect + landmarks + crop +
write on a synthetic 256 px talking-head video, with the per-step breakdown of report.json, for
``reference`` (the detector on every frame) and ``default`` (the detector every ``detect_every``
frames, the box tracked in between), and the crop boxes' IoU with every-frame detection's and
with the renderer's exact boxes.

Apply (``--apply``): ``faceoff apply``'s frames per second (decode, detect, landmarks, crop,
translate, blend, encode) on a synthetic talking-head video at the demo's frame size, with the
demo's face-off generator (freshly initialised: speed does not depend on the weights) and the
persons dataset's prepare settings (``-c`` files, default params.yaml + config/demo.yaml), next
to the preprocessing throughput of the same video, from one run.
"""

from __future__ import annotations

import argparse

# Only the command line lives here, so `faceoff --help` and `faceoff bench --help` need no torch;
# the measurements (faceoff.bench.measure) are imported when a benchmark runs.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--what",
        choices=["train", "prepare", "apply", "gpu-check"],
        default="train",
        help="what to time (default: train)",
    )
    parser.add_argument(
        "--prepare", dest="what", action="store_const", const="prepare", help="= --what prepare"
    )
    parser.add_argument("--apply", dest="what", action="store_const", const="apply", help="= --what apply")
    parser.add_argument(
        "--gpu-check",
        dest="what",
        action="store_const",
        const="gpu-check",
        help="every model with every fast switch on CUDA, then plain vs fast at 256 px (make gpu-check)",
    )
    parser.add_argument(
        "--models",
        type=_names,
        metavar="MODEL,...",
        help="train: registered models, each optionally with :key=value overrides of its settings, e.g. "
        "cyclegan,cyclegan:gan_mode=wgangp,sagan (default: every registered model)",
    )
    parser.add_argument(
        "--plugin",
        action="append",
        metavar="FILE|MODULE",
        help="train: import a plugin first (as params' plugins: list), so its models are registered",
    )
    parser.add_argument(
        "--sizes",
        type=_ints,
        default=[64, 128, 256],
        metavar="PX,...",
        help="train: crop sizes (default: 64,128,256)",
    )
    parser.add_argument(
        "--ngf",
        type=int,
        metavar="N",
        help="train: generator width, where a model has ngf (default: its own)",
    )
    parser.add_argument(
        "--ndf",
        type=int,
        metavar="N",
        help="train: discriminator width, where a model has ndf (default: its own)",
    )
    parser.add_argument(
        "--netG", metavar="NAME", help="train: generator, where a model has netG (default: its own)"
    )
    parser.add_argument(
        "--batch-size", type=int, metavar="N", help="train: batch size (default: each model's own)"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=20,
        metavar="N",
        help="train: timed steps per setting, median reported (default: 20)",
    )
    parser.add_argument(
        "--warmup", type=int, default=3, metavar="N", help="train: untimed steps first (default: 3)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, metavar="N", help="torch CPU threads (default 0: torch's default)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="auto (default: CUDA if present), cpu, cuda, cuda:1, ...",
    )
    parser.add_argument(
        "--compare",
        type=_names,
        metavar="SETTING,...",
        help="settings run interleaved, ratios to the first (train: plain,fast; prepare: reference,default)",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=250,
        metavar="N",
        help="prepare, apply: frames of the synthetic video (default: 250)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the benchmark ``args`` asks for (prints its table and ratio lines)."""
    if args.what == "gpu-check":
        from faceoff.bench.gpu_check import main

        return main([])
    from faceoff.bench.measure import run as measure

    return measure(args)


def _names(text: str) -> list[str]:
    """Comma-separated names; commas inside [...] (a YAML list of an override) do not separate."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "[") - (char == "]")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [part for part in (*parts, current) if part]


def _ints(text: str) -> list[int]:
    return [int(part) for part in _names(text)]
