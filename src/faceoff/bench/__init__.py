"""``faceoff bench``: training and preprocessing speed, measured the same way on a laptop and a GPU.

Training: for every model family with a registered stepper and every crop size, the median
seconds per step over ``--steps`` steps after ``--warmup`` steps, images per second (A and B
images), the share of a step spent producing its batches, and peak memory (host RSS; GPU
memory on CUDA). ``--compare plain,fast`` builds both settings in one process and alternates
their steps, so that load from other processes hits both alike; the ratio line is what to quote.

A setting is a preset name, optionally followed by ``:key=value`` overrides of TrainSettings,
e.g. ``plain:batch_passes=true``. Presets: ``plain`` (every fast-path switch off and fp32, the
reference implementation's computation), ``fast`` (the default switches, ``precision: auto``),
``deterministic`` (``fast`` with deterministic algorithms).

Preprocessing (``--what prepare``): frames per second of decode + detect + landmarks + crop +
write on a synthetic 256 px talking-head video, with the per-step breakdown of report.json.

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
        "--what", choices=["train", "prepare", "apply"], default="train", help="what to time (default: train)"
    )
    parser.add_argument(
        "--prepare", dest="what", action="store_const", const="prepare", help="= --what prepare"
    )
    parser.add_argument("--apply", dest="what", action="store_const", const="apply", help="= --what apply")
    parser.add_argument("--families", type=_names, help="model families (default: every registered one)")
    parser.add_argument("--sizes", type=_ints, default=[64, 128, 256], help="crop sizes (default 64,128,256)")
    parser.add_argument("--ngf", type=int, default=64, help="generator width (default 64)")
    parser.add_argument("--ndf", type=int, default=64, help="discriminator width (default 64)")
    parser.add_argument("--netG", default="resnet_9blocks", help="generator (default resnet_9blocks)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per step (default 1)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--compare",
        type=_names,
        help="settings run interleaved, ratios to the first (train: plain,fast; prepare: reference,fast)",
    )
    parser.add_argument("--frames", type=int, default=250, help="prepare: frames of the synthetic video")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark ``args`` asks for (prints its table and ratio lines)."""
    from faceoff.bench.measure import run as measure

    return measure(args)


def _names(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def _ints(text: str) -> list[int]:
    return [int(part) for part in _names(text)]
