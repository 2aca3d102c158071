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
from typing import Any

from faceoff import __version__
from faceoff.errors import FaceoffError
from faceoff.warmstart import run_warm

# Names shared by the subcommands: one spelling and one meaning each.
RUN = "FAMILY/RUN"
RUN_HELP = (
    "the run: FAMILY/PAIR-VARIANT-sSEED, e.g. faceoff/A2B-baseline-s0 (`faceoff config runs` lists them)"
)
FAMILY_HELP = "the study: a key of the parameters' `families`, e.g. faceoff"
DATASET_HELP = "a key of the parameters' `datasets`, e.g. persons"
THREADS_HELP = "torch CPU threads (default 0: torch's default)"


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary is listed by ``faceoff --help`` and heads its own help."""
    return sub.add_parser(name, help=summary, description=kwargs.pop("description", summary), **kwargs)


def _out(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--out", type=Path, metavar="DIR", help=f"the output folder (default: {default})")


def _threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=0, metavar="N", help=THREADS_HELP)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceoff",
        description=__doc__.splitlines()[0].replace("``", "`"),
        epilog="`faceoff COMMAND --help` describes a command. OUTPUT_DIR is the parameters' `output_dir`.",
    )
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

    p = _command(sub, "synth", "render a synthetic dataset in its real on-disk format")
    p.add_argument(
        "--dataset", required=True, metavar="DATASET", help=DATASET_HELP + " (with a `synthetic` block)"
    )
    _out(p, "the dataset's `source`")

    p = _command(sub, "prepare", "detect, align, crop, mask and split one item of a dataset")
    p.add_argument("--dataset", required=True, metavar="DATASET", help=DATASET_HELP)
    p.add_argument("--item", required=True, metavar="ITEM", help="one of the dataset's `items`, e.g. A")
    _out(p, "OUTPUT_DIR/prepared/DATASET/ITEM")

    p = _command(sub, "ingest", "bring a dataset folder or archive in, safely, and `dvc add` it")
    p.add_argument(
        "kind",
        metavar="KIND",
        help="a dataset kind registered in faceoff.datasets.registry or by a plugin (what a dataset's "
        "`kind` names, e.g. person_videos, alias videos); an unknown kind is an error listing them",
    )
    p.add_argument("path", type=Path, metavar="PATH", help="the dataset folder or its zip/tar archive")
    p.add_argument(
        "--dest",
        type=Path,
        metavar="DIR",
        help="where the raw data goes (default: the `source` of its dataset)",
    )
    p.add_argument("--no-dvc", action="store_true", help="do not register the data with `dvc add`")

    p = _command(sub, "train", "train one run, or a family's expression classifier")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", metavar=RUN, help=RUN_HELP)
    group.add_argument("--classifier", metavar="FAMILY", help="the family's expression classifier")
    _out(p, "OUTPUT_DIR/train/FAMILY/RUN, or OUTPUT_DIR/train/FAMILY/classifier")
    _threads(p)

    p = _command(sub, "evaluate", "translate the test split of a run and compute its metrics")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", metavar=RUN, help=RUN_HELP)
    group.add_argument(
        "--copy", metavar="FAMILY/PAIR", help="the 'copy input' baseline of a pair, e.g. faceoff/A2B"
    )
    _out(p, "OUTPUT_DIR/evaluate/FAMILY/RUN, or OUTPUT_DIR/evaluate/FAMILY/PAIR-copy")
    _threads(p)

    p = _command(
        sub, "table", "the family's tables (CSV, Markdown, LaTeX) in OUTPUT_DIR/tables/FAMILY.* and FAMILY/"
    )
    p.add_argument("--family", required=True, metavar="FAMILY", help=FAMILY_HELP)

    p = _command(
        sub, "figure", "the family's figures (loss curves, comparison grids) in OUTPUT_DIR/figures/FAMILY/"
    )
    p.add_argument("--family", required=True, metavar="FAMILY", help=FAMILY_HELP)

    p = _command(
        sub,
        "claims",
        "test every family's claims: OUTPUT_DIR/tables/claims.* and the forest plot figures/claims.png",
        description="test each study's claims (families.FAMILY.claims) on the per-sample metrics of the "
        "runs they name: the paired difference with its 95% hierarchical bootstrap interval (seeds, then "
        "samples) and a verdict",
    )
    p.add_argument(
        "--n-boot", type=int, default=2000, metavar="N", help="bootstrap resamples per claim (default: 2000)"
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="S", help="the bootstrap's random seed (default: 0)"
    )

    _command(sub, "report", "the HTML report of every family: OUTPUT_DIR/report.html")

    p = _command(sub, "apply", "face-off a video, an image or a folder of images with a trained run")
    p.add_argument("--run", required=True, metavar=RUN, help=RUN_HELP)
    p.add_argument(
        "input", type=Path, metavar="INPUT", help="video (mp4, avi, mov, mkv), image, or folder of images"
    )
    p.add_argument(
        "-o",
        "--out",
        dest="output",
        type=Path,
        required=True,
        metavar="OUTPUT",
        help="the result: the same kind as INPUT",
    )
    p.add_argument(
        "--direction",
        choices=["A2B", "B2A"],
        default="A2B",
        help="A2B: into the pair's second item (default); B2A: into its first",
    )
    p.add_argument("--side-by-side", action="store_true", help="input and output next to each other")
    p.add_argument("--all-faces", action="store_true", help="every face, not only the tracked main face")
    p.add_argument(
        "--driver",
        type=Path,
        metavar="VIDEO",
        help="reenactment runs: the video whose expression and pose to follow",
    )
    p.add_argument(
        "--blend", choices=["feather", "seamless"], help="how the face is pasted back (default: feather)"
    )
    p.add_argument(
        "--color-match", choices=["none", "ring"], help="ring: remove a colour cast (default: none)"
    )
    p.add_argument("--detector", choices=["mtcnn", "dlib"], help="instead of the run's dataset's detector")
    p.add_argument("--landmarks", choices=["dlib", "fan"], help="instead of the run's dataset's landmarks")
    p.add_argument("--batch-size", type=int, metavar="N", help="faces per translator call (default: 8)")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16", "auto"],
        default="fp32",
        help="translation arithmetic (default: fp32; auto: bf16 where native; changes the pixels)",
    )
    p.add_argument("--summary", type=Path, metavar="JSON", help="also write the summary as JSON here")
    _threads(p)

    p = _command(
        sub,
        "apply-eval",
        "apply a face-off or swap run to whole held-out video frames and score them (a DAG step)",
        description="apply a face-off or swap run to its source's held-out video frames and score them "
        "against the truth, with the ground-truth paste and the copied input as references (a DAG step)",
    )
    p.add_argument("--run", required=True, metavar=RUN, help=RUN_HELP)
    _out(p, "OUTPUT_DIR/evaluate/FAMILY/RUN")
    _threads(p)

    p = _command(sub, "config", "print the merged parameters or the runs, or check that they can run")
    p.add_argument(
        "what",
        choices=["show", "runs", "check"],
        help="show: the merged parameters (YAML); runs: every run, one a line; check: data, settings, "
        "crops and weights are all in place (before a cluster run)",
    )

    p = _command(sub, "dvc-yaml", "write dvc.yaml: DVC's view of the DAG, derived from the parameters")
    p.add_argument(
        "-o", "--out", type=Path, default=Path("dvc.yaml"), metavar="OUTPUT", help="default: dvc.yaml"
    )
    p.add_argument("--check", action="store_true", help="write nothing; exit 2 when OUT differs (stale)")

    from faceoff import bench

    p = _command(
        sub,
        "bench",
        "training, preprocessing and apply speed (s/step, img/s, memory; --compare plain,fast)",
        description=bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    warm = run_warm(sys.argv[1:] if argv is None else argv)
    if warm is not None:  # run by a warm-start server (faceoff.warmstart)
        return warm
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from faceoff.io.progress import bars_and_logging  # tqdm: not needed for --help

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
