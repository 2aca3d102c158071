"""The ``faceoff`` command: one subcommand per DAG step, shared by Snakemake, DVC and users.

Every subcommand reads the same parameter files (``-c params.yaml -c config/demo.yaml``), so a
rule or a stage only names *what* to build; the settings come from the registry in
:mod:`faceoff.config`.

A failure the user can fix (a :class:`~faceoff.errors.FaceoffError`) ends as one
``faceoff: error: ...`` message and exit status 2, like a bad argument; ``--debug`` (or the
environment variable FACEOFF_DEBUG=1) shows its traceback too.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from faceoff import __version__
from faceoff.errors import FaceoffError
from faceoff.io.progress import bars_and_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceoff", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"faceoff {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        metavar="YAML",
        help="parameter file; repeat to override (default: params.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--debug",
        action="store_true",
        default=os.environ.get("FACEOFF_DEBUG", "") not in ("", "0"),
        help="show the traceback of user errors too (also: FACEOFF_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="render a synthetic dataset in its real on-disk format")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", type=Path, help="default: the dataset's source folder")

    p = sub.add_parser("prepare", help="detect, align, crop, mask and split one item of a dataset")
    p.add_argument("--dataset", required=True)
    p.add_argument("--item", required=True)
    p.add_argument("--out", type=Path)

    p = sub.add_parser("ingest", help="bring a dataset folder or archive in, safely, and `dvc add` it")
    p.add_argument("kind", choices=["videos", "jaffe", "300vw", "portraits", "ffpp"])
    p.add_argument("path", type=Path, help="the dataset folder or its zip/tar archive")
    p.add_argument("--dest", type=Path, help="where the raw data goes (default: its dataset's source)")
    p.add_argument("--no-dvc", action="store_true", help="do not register the data with `dvc add`")

    p = sub.add_parser("train", help="train one run (family/pair-variant-sSEED) or a family's classifier")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", metavar="FAMILY/RUN")
    group.add_argument("--classifier", metavar="FAMILY", help="the family's expression classifier")
    p.add_argument("--out", type=Path)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")

    p = sub.add_parser("evaluate", help="translate the test split of a run and compute its metrics")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", metavar="FAMILY/RUN")
    group.add_argument("--copy", metavar="FAMILY/PAIR", help="the 'copy input' baseline of a pair")
    p.add_argument("--out", type=Path)
    p.add_argument("--threads", type=int, default=0)

    p = sub.add_parser("table", help="the family table (CSV, Markdown, LaTeX)")
    p.add_argument("--family", required=True)

    p = sub.add_parser("figure", help="the family figures (loss curves, comparison grid)")
    p.add_argument("--family", required=True)

    sub.add_parser("report", help="the HTML report of every family")

    p = sub.add_parser("apply", help="face-off a video, an image or a folder of images with a trained run")
    p.add_argument("--run", required=True, metavar="FAMILY/RUN")
    p.add_argument("input", type=Path, help="video (mp4, avi, mov, mkv), image, or folder of images")
    p.add_argument("-o", "--output", type=Path, required=True, help="the same kind as INPUT")
    p.add_argument("--direction", choices=["A2B", "B2A"], default="A2B")
    p.add_argument("--side-by-side", action="store_true", help="input and output next to each other")
    p.add_argument("--all-faces", action="store_true", help="every face, not only the tracked main face")
    p.add_argument("--driver", type=Path, metavar="VIDEO", help="reenactment: expression and pose")
    p.add_argument("--blend", choices=["feather", "seamless"], help="default: feather")
    p.add_argument("--color-match", choices=["none", "ring"], help="ring: remove a colour cast")
    p.add_argument("--detector", choices=["mtcnn", "dlib"], help="instead of the run's detector")
    p.add_argument("--landmarks", choices=["dlib", "fan"], help="instead of the run's")
    p.add_argument("--batch-size", type=int, help="faces per translator call (default 8)")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16", "auto"],
        default="fp32",
        help="translation arithmetic (auto: bf16 where native; changes the pixels)",
    )
    p.add_argument("--summary", type=Path, help="also write the summary as JSON here")
    p.add_argument("--threads", type=int, default=0)

    p = sub.add_parser(
        "apply-eval",
        help="apply a face-off or swap run to its source's held-out video frames and score them against "
        "the truth, with the ground-truth paste and the copied input as references (a DAG step)",
    )
    p.add_argument("--run", required=True, metavar="FAMILY/RUN")
    p.add_argument("--out", type=Path, help="default: the run's evaluate folder")
    p.add_argument("--threads", type=int, default=0)

    p = sub.add_parser("config", help="print the merged parameters, the runs or missing datasets")
    p.add_argument("what", choices=["show", "runs", "check"])

    from faceoff import bench

    p = sub.add_parser(
        "bench",
        help="training and preprocessing speed (s/step, img/s, memory; --compare plain,fast)",
        description=bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        with bars_and_logging():
            return _run(args)
    except FaceoffError as exc:
        if args.debug:
            raise
        print(f"faceoff: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "bench":  # measures the code, not a configuration: needs no params.yaml
        from faceoff import bench

        return bench.run(args)
    from faceoff import steps
    from faceoff.config import load_params

    return steps.dispatch(args, load_params(args.config or ["params.yaml"]))


if __name__ == "__main__":
    sys.exit(main())
