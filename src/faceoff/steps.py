"""The DAG steps: resolve what a step needs from the parameters, then call the library.

One function per ``faceoff`` subcommand. They are the only place that knows both the output
layout and the library APIs, which keeps Snakemake rules and DVC stages one-liners.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import zipfile
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from faceoff.config import (
    ConfigError,
    Layout,
    active_families,
    applied_runs,
    get_run,
    groundtruth_pairs,
    resolve_runs,
    split_pair,
)
from faceoff.datasets.prepared import PreparedSplit, load_split
from faceoff.errors import FaceoffError
from faceoff.io.atomic import atomic_dir, read_json, write_json

if TYPE_CHECKING:
    from faceoff.evaluate.kinds import EvaluationKind

log = logging.getLogger(__name__)

Params = Mapping[str, Any]


class StepError(FaceoffError, RuntimeError):
    """A step that cannot run; the message says what is missing and where."""


def dispatch(args: argparse.Namespace, params: Params) -> int:
    handlers: dict[str, Callable[[argparse.Namespace, Params], None]] = {
        "synth": synth,
        "prepare": prepare,
        "ingest": ingest,
        "train": train,
        "evaluate": evaluate,
        "table": table,
        "figure": figure,
        "claims": claims,
        "report": report,
        "config": show_config,
        "apply": apply,
        "apply-eval": apply_eval,
        "dvc-yaml": dvc_yaml,
    }
    handlers[args.command](args, params)
    return 0


def _dataset(params: Params, name: str) -> Mapping[str, Any]:
    try:
        return params["datasets"][name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; defined: {', '.join(params['datasets'])}") from None


def synth(args: argparse.Namespace, params: Params) -> None:
    """Render a synthetic dataset into its source folder, in the real on-disk format of its kind."""
    from faceoff.datasets.registry import get_kind
    from faceoff.synth.spec import SynthSpec

    ds = _dataset(params, args.dataset)
    spec = ds.get("synthetic")
    if not spec:
        raise StepError(f"datasets.{args.dataset} has no 'synthetic' block: its source is real data")
    out = Path(args.out or ds["source"])
    with atomic_dir(out) as tmp:
        get_kind(ds["kind"]).synth(
            tmp,
            SynthSpec(
                items=list(ds["items"]),
                n_frames=spec.get("frames", 300),
                size=spec.get("size", 256),
                fps=spec.get("fps", 25),
                seed=spec.get("seed", 0),
                ground_truth_pairs=groundtruth_pairs(params, args.dataset),
            ),
        )
    log.info("synthetic %s (%s) written to %s", args.dataset, ds["kind"], out)


def prepare(args: argparse.Namespace, params: Params) -> None:
    """Preprocess one item of a dataset into prepared arrays + report.json."""
    from faceoff.datasets.registry import get_kind
    from faceoff.prepare import PrepareError
    from faceoff.prepare.registry import prepare_item

    ds = _dataset(params, args.dataset)
    if args.item not in ds["items"]:
        raise ConfigError(f"datasets.{args.dataset}.items has no item {args.item!r}")
    settings, source = dict(ds.get("prepare", {})), Path(ds["source"])
    others = [tgt for src, tgt in groundtruth_pairs(params, args.dataset) if src == args.item]
    groundtruth = get_kind(ds["kind"]).groundtruth(source, args.item, others, settings)
    out = Path(args.out or Layout.of(params).prepared(args.dataset, args.item))
    try:
        report = prepare_item(
            ds["kind"], source, args.item, out, settings, groundtruth or None, progress=True
        )
    except PrepareError as exc:
        chosen = ", ".join(f"{k}: {settings[k]}" for k in ("detector", "landmarks") if k in settings)
        raise StepError(
            f"{exc}\n  item {args.item!r} of datasets.{args.dataset} cannot be prepared: fix or replace "
            f"its raw data, or change datasets.{args.dataset}.prepare ({chosen or 'its defaults'}) and "
            "prepare again"
        ) from exc
    log.info(
        "prepared %s/%s into %s (%s frames kept)", args.dataset, args.item, out, report.get("faces_found")
    )


def ingest(args: argparse.Namespace, params: Params) -> None:
    """Bring a dataset folder or archive into the repository and version it with DVC."""
    from faceoff.datasets.ingest import ingest as ingest_dataset
    from faceoff.datasets.registry import all_kinds

    kind = "person_videos" if args.kind == "videos" else args.kind
    kinds = all_kinds()
    if kind not in kinds:  # before the --dest lookup, whose "0 datasets of kind" would mislead
        raise StepError(
            f"unknown dataset kind {args.kind!r} "
            f"(choose from {', '.join(sorted(kinds))}; videos = person_videos)"
        )
    dest = args.dest
    if dest is None:
        sources = [ds["source"] for ds in params["datasets"].values() if ds["kind"] == kind]
        if len(sources) != 1:
            raise StepError(f"{len(sources)} datasets of kind {kind!r} in the parameters: give --dest")
        dest = Path(sources[0])
    summary = ingest_dataset(kind, Path(args.path), Path(dest), dvc=not args.no_dvc)
    log.info("ingested %s into %s: %s", kind, dest, json.dumps(summary, default=str)[:500])


def _device(params: Params) -> str:
    import torch

    device = params.get("device", "auto")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _set_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def environment(params: Params, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What produced a result: package versions, git commit, device, parameter hash."""
    import hashlib

    import torch

    packages = {}
    for name in ("torch", "torchvision", "numpy", "dlib-bin", "facenet-pytorch", "snakemake", "dvc"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    blob = json.dumps(settings if settings is not None else params, sort_keys=True, default=str)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "git_commit": commit,
        "device": _device(params),
        "torch_threads": torch.get_num_threads(),
        "params_sha256": hashlib.sha256(blob.encode()).hexdigest(),
    }


def train(args: argparse.Namespace, params: Params) -> None:
    """Train one run on the train splits its model needs (the pair's two items, or the whole
    dataset), or, with ``--classifier FAMILY``, the family's expression classifier."""
    from faceoff.train import get_model, settings_from_dict, train_model

    _set_threads(args.threads)
    layout = Layout.of(params)
    if args.classifier:
        fam = _family(params, args.classifier)
        if "classifier" not in fam:
            raise ConfigError(f"families.{args.classifier} has no 'classifier' block")
        settings = settings_from_dict(fam["classifier"])
        data = _train_splits(params, fam["dataset"], None)
        _check_crop(
            params,
            settings.crop_size,
            f"families.{args.classifier}.classifier.crop_size",
            fam["dataset"],
            data,
        )
        out = Path(args.out or layout.classifier(args.classifier))
        result = train_model(settings, data, None, out, seed=0, device=_device(params))
        write_json(out / "environment.json", environment(params, fam["classifier"]))
        log.info("trained the %s classifier: %s", args.classifier, json.dumps({"steps": result.get("steps")}))
        return
    run = get_run(params, args.run)
    settings = settings_from_dict(run.settings)
    _require_weights(run.settings, f"run {run.key} (families.{run.family}.train and variants.{run.variant})")
    whole = get_model(settings.model).data == "dataset"
    data = _train_splits(params, run.dataset, None if whole else run.items)
    _check_crop(params, settings.crop_size, _crop_key(params, run), run.dataset, data)
    out = Path(args.out or layout.train(run.family, run.id))
    result = train_model(settings, data, run.items, out, seed=run.seed, device=_device(params))
    write_json(out / "environment.json", environment(params, run.settings))
    log.info("trained %s: %s", run.key, json.dumps({k: result.get(k) for k in ("steps", "diverged")}))


def _family(params: Params, family: str) -> Mapping[str, Any]:
    try:
        return params["families"][family]
    except KeyError:
        raise ConfigError(f"unknown family {family!r}; defined: {', '.join(params['families'])}") from None


def _crop_key(params: Params, run: Any) -> str:
    """The parameter that sets a run's crop size: its variant's, else its family's train block."""
    if "crop_size" in (params["families"][run.family]["variants"].get(run.variant) or {}):
        return f"families.{run.family}.variants.{run.variant}.crop_size"
    return f"families.{run.family}.train.crop_size"


def _crop_problem(crop: int, key: str, dataset: str, size: int, prepared: Path | None = None) -> str | None:
    """Why crops of ``crop`` px cannot be cut from frames prepared at ``size`` px (None: they can).
    Without ``prepared`` the size is the parameter's (``faceoff config check``)."""
    if crop <= size:
        return None
    fix = f"lower {key}, or raise datasets.{dataset}.prepare.size to at least {crop}"
    if prepared is None:
        return f"{key} = {crop} is larger than datasets.{dataset}.prepare.size = {size}: {fix}"
    return f"{key} = {crop} is larger than the frames in {prepared} ({size} px): {fix}, then prepare again"


def _check_crop(
    params: Params, crop: int, key: str, dataset: str, splits: Mapping[str, PreparedSplit]
) -> None:
    """Stop before training or scoring when the prepared frames are smaller than the crop."""
    for item, split in splits.items():
        problem = _crop_problem(crop, key, dataset, split.size, Layout.of(params).prepared(dataset, item))
        if problem:
            raise StepError(problem)


def _require_weights(settings: Mapping[str, Any], who: str) -> None:
    """Stop before any work when a network these settings load has no weights on this machine."""
    from faceoff.faces import weights
    from faceoff.faces.features import networks_needed

    problems = [str(w.problem()) for w in weights.missing(networks_needed(settings))]
    if problems:
        raise StepError("\n  ".join([f"{who} needs weights that are not on this machine:", *problems]))


def _model_file(path: Path, train_command: str) -> Path:
    """``path`` when it holds a complete model file; else say how to make it. torch saves zip
    archives with a CRC per entry, so a truncated or damaged file is found before unpickling."""
    if not path.is_file():
        raise StepError(f"{path}: trained model not found: run `{train_command}` first")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as exc:
        damaged = str(exc)
    if damaged is not None:
        raise StepError(
            f"{path}: not a complete model file ({damaged}): delete it and run `{train_command}` again"
        )
    return path


def _run_model(params: Params, run: Any) -> Path:
    """A trained run's complete model.pt (else how to train it)."""
    return _model_file(
        Layout.of(params).train(run.family, run.id) / "model.pt", f"faceoff train --run {run.key}"
    )


def _read_output(path: Path, remake: str) -> Any:
    """A JSON file a step wrote; missing or unreadable, say which command remakes it."""
    if not path.is_file():
        raise StepError(f"{path}: not found: run `{remake}` first")
    try:
        return read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StepError(f"{path}: not valid JSON ({exc}): delete it and run `{remake}` again") from exc


def _train_splits(params: Params, dataset: str, items: Sequence[str] | None) -> dict[str, Any]:
    """item -> train split: the given items, or every item of the dataset that has a train split
    (300VW test videos have none)."""
    layout = Layout.of(params)
    if items is not None:
        return {item: load_split(layout.prepared(dataset, item), "train") for item in items}
    names = [
        i for i in _dataset(params, dataset)["items"] if (layout.prepared(dataset, i) / "train").is_dir()
    ]
    if not names:
        raise StepError(f"no item of dataset {dataset!r} has a prepared train split")
    return {item: load_split(layout.prepared(dataset, item), "train") for item in names}


def evaluate(args: argparse.Namespace, params: Params) -> None:
    """Score a run's model on its pair's test splits (or the copy-input baseline), as its model's
    evaluation kind (faceoff.evaluate.kinds) scores it."""
    from faceoff.evaluate.kinds import EvaluationJob

    _set_threads(args.threads)
    layout = Layout.of(params)
    if args.run:
        run = get_run(params, args.run)
        family, pair, dataset, settings = run.family, run.pair, run.dataset, run.settings
        out = Path(args.out or layout.evaluate(run.family, run.id))
        kind = _evaluation(settings)
        model = _load_model(params, run, _device(params))
        crop_key = _crop_key(params, run)
    else:
        family, _, pair = args.copy.partition("/")
        fam = _family(params, family)
        if pair not in fam["pairs"]:
            raise ConfigError(f"unknown family/pair {args.copy!r}")
        dataset, settings = fam["dataset"], fam["train"]
        out = Path(args.out or layout.copy_baseline(family, pair))
        kind = _evaluation(settings)
        model, crop_key = None, f"families.{family}.train.crop_size"
    fam = _family(params, family)
    crop = int(settings.get("crop_size", fam["train"].get("crop_size", 256)))
    a, b = split_pair(pair, params["datasets"][dataset]["items"])
    test_a, test_b = (load_split(layout.prepared(dataset, i), "test") for i in (a, b))
    _check_crop(params, crop, crop_key, dataset, {a: test_a, b: test_b})
    options = fam.get("evaluate", {})
    _require_weights(options, f"families.{family}.evaluate")
    job = EvaluationJob(
        model=model,
        pair=(a, b),
        tests={a: test_a, b: test_b},
        out_dir=out,
        embed=_embedder(options).embed,
        landmarks=_landmark_finder(),
        crop_size=crop,
        max_frames=options.get("max_frames", 200),
        video_frames=options.get("video_frames", 200),
        fps=options.get("fps", 25),
        options=options,
        split=lambda item, split: load_split(layout.prepared(dataset, item), split),
        classifier=lambda: _classifier(params, family),
    )
    metrics = kind.evaluate(job)
    log.info(
        "evaluated %s/%s: %s",
        family,
        pair,
        json.dumps({k: metrics[k] for k in ("l1_gt", "identity_sim", "identity_sim_source") if k in metrics}),
    )


def _evaluation(settings: Mapping[str, Any]) -> EvaluationKind:
    """The evaluation kind (faceoff.evaluate.kinds) of the model these training settings name."""
    from faceoff.evaluate.kinds import get_evaluation
    from faceoff.train import get_model

    return get_evaluation(get_model(str(settings.get("model", "cyclegan"))).evaluation)


def _embedder(options: Mapping[str, Any]) -> Any:
    """The family's identity network for metrics (the same choice as its losses)."""
    from faceoff.faces.identity import make_embedder

    return make_embedder(options.get("identity_net", "dlib_resnet"))


def _landmark_finder() -> Callable[[np.ndarray], np.ndarray | None]:
    from faceoff.faces.landmarks import LandmarkFinder

    return LandmarkFinder()


def _classifier(params: Params, family: str) -> Callable[[np.ndarray, str], float] | None:
    """The family's trained expression classifier's ``target_share``, when the family has one."""
    if "classifier" not in _family(params, family):
        return None
    from faceoff.train.classifier import ExpressionClassifier

    path = _model_file(
        Layout.of(params).classifier(family) / "model.pt", f"faceoff train --classifier {family}"
    )
    return ExpressionClassifier.from_file(path, _device(params)).target_share


def _load_model(params: Params, run: Any, device: str) -> Any:
    """The trained run's model (faceoff.train.load_translator): ``translate``, ``reenact``, ..."""
    from faceoff.train import load_translator

    return load_translator(_run_model(params, run), device, items=run.items)


def _family_rows(params: Params, family: str) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    layout = Layout.of(params)
    runs = resolve_runs(params, family)
    if not runs:
        raise ConfigError(f"family {family!r} has no runs")
    metrics, extra = {}, {}
    scored_by = {
        "metric_identity_net": _family(params, family).get("evaluate", {}).get("identity_net", "dlib_resnet")
    }
    for run in runs:
        metrics[run.id] = layout.evaluate(family, run.id) / "metrics.json"
        info = _read_output(layout.train(family, run.id) / "train.json", f"faceoff train --run {run.key}")
        _read_output(metrics[run.id], f"faceoff evaluate --run {run.key}")
        extra[run.id] = {**info, **scored_by, "pair": run.pair, "variant": run.variant, "seed": run.seed}
    for pair in sorted({r.pair for r in runs}):
        metrics[f"{pair}-copy"] = layout.copy_baseline(family, pair) / "metrics.json"
        _read_output(metrics[f"{pair}-copy"], f"faceoff evaluate --copy {family}/{pair}")
        extra[f"{pair}-copy"] = {**scored_by, "pair": pair, "variant": "copy input"}
    return metrics, extra


def table(args: argparse.Namespace, params: Params) -> None:
    """The family table (one row per run plus the copy-input rows; the runs pasted back into whole
    frames add their apply columns and ground-truth-paste rows), its per-variant summary and
    the family's extra tables (``families.<family>.tables``: name -> variants), each in CSV,
    Markdown and LaTeX. An extra table lists the variants that were run; none run, none written.
    """
    from faceoff.config.layout import TABLE_FORMATS
    from faceoff.evaluate.samples import FILENAME as SAMPLES_FILE
    from faceoff.evaluate.table import add_apply, build_table, summary_table, variant_table, write_table
    from faceoff.io.atomic import atomic_dir

    metrics, extra = _family_rows(params, args.family)
    layout = Layout.of(params)
    applied = {}  # the face-off and swap runs pasted back into whole frames
    for run in applied_runs(params, args.family):
        applied[run.id] = layout.evaluate(args.family, run.id) / "apply_metrics.json"
        _read_output(applied[run.id], f"faceoff apply-eval --run {run.key}")
    df = add_apply(build_table(metrics, extra), applied)
    write_table(df, *layout.tables(args.family))
    samples = {run_id: layout.evaluate(args.family, run_id) / SAMPLES_FILE for run_id in metrics}
    views = {"summary": summary_table(df, samples)}  # intervals where the per-sample files are
    settings = {run.variant: run.settings for run in resolve_runs(params, args.family)}
    fam = _family(params, args.family)
    for name, variants in fam.get("tables", {}).items():
        ran = {v: settings[v] for v in variants if v in settings}
        if ran:
            overridden = set().union(*(fam["variants"].get(v) or {} for v in ran))
            views[name] = variant_table(df, ran, sorted(overridden))
        else:
            log.info("table %s/%s skipped: none of its variants (%s) is run", args.family, name, variants)
    with atomic_dir(layout.table_folder(args.family)) as folder:  # no table of a removed sweep lingers
        for name, view in views.items():
            write_table(view, *(folder / f"{name}.{ext}" for ext in TABLE_FORMATS))


def figure(args: argparse.Namespace, params: Params) -> None:
    """The family's figures, written into one folder (atomically, as a whole).

    ``losses.png``: the loss curves of the variants named in ``families.<family>.loss_figure``
    (every variant when unset), on the first pair. Then, per pair, each evaluation kind among
    the runs of ``figure_variants`` (every variant when unset) adds its figures
    (faceoff.evaluate.kinds): translation the comparison of fixed test frames, reenactment the
    study's appendix figures.
    """
    from faceoff.evaluate.kinds import FigureJob
    from faceoff.io.atomic import atomic_dir
    from faceoff.plots import loss_curves

    layout = Layout.of(params)
    fam = _family(params, args.family)
    runs = resolve_runs(params, args.family)
    pairs = list(dict.fromkeys(r.pair for r in runs))
    chosen = fam.get("loss_figure") or [r.variant for r in runs]
    curves = [r for r in runs if r.pair == pairs[0] and r.variant in chosen] or runs
    shown = fam.get("figure_variants") or [r.variant for r in runs]
    kinds = {r.id: _evaluation(r.settings) for r in runs}
    with atomic_dir(layout.figures(args.family)) as folder:
        csvs = {r.id: layout.train(r.family, r.id) / "losses.csv" for r in curves}
        for r in curves:
            if not csvs[r.id].is_file():
                raise StepError(f"{csvs[r.id]}: not found: run `faceoff train --run {r.key}` first")
        loss_curves(csvs, folder / "losses.png", columns=_curve_columns(csvs))
        for pair in pairs:
            pair_runs = [r for r in runs if r.pair == pair and r.variant in shown]
            for kind in dict.fromkeys(kinds[r.id] for r in pair_runs):  # each kind once, in run order
                if kind.figures is not None:
                    job = FigureJob(
                        family=args.family,
                        pair=pair,
                        runs=[r for r in pair_runs if kinds[r.id] is kind],
                        folder=folder,
                        test_split=lambda r: load_split(layout.prepared(r.dataset, r.items[0]), "test"),
                        model=lambda r: _load_model(params, r, "cpu"),
                        losses=lambda r: layout.train(r.family, r.id) / "losses.csv",
                    )
                    kind.figures(job)


def _curve_columns(csvs: Mapping[str, Path]) -> list[str]:
    """CycleGAN-style runs plot G_total, D and G_cycle; other models their first three loss columns."""
    import pandas as pd

    first = pd.read_csv(next(iter(csvs.values())), nrows=1).columns
    if {"G_total", "D"} <= set(first):
        return ["G_total", "D", "G_cycle"]
    return [c for c in first if c not in ("step", "lr", "sec_per_step")][:3]


def claims(args: argparse.Namespace, params: Params) -> None:
    """The claims ledger: every active family's claims tested on its runs' per-sample files
    (faceoff.evaluate.claims), as tables/claims.{csv,md,tex} and the forest plot figures/claims.png."""
    from faceoff.evaluate.claims import evaluate_claims, write_claims
    from faceoff.plots.forest import forest_plot

    layout = Layout.of(params)
    df = evaluate_claims(params, kinds=_claim_kinds(params), n_boot=args.n_boot, seed=args.seed)
    write_claims(df, *layout.claims_tables())
    forest_plot(df, layout.claims_figure)
    log.info("claims: %s", json.dumps(df["verdict"].value_counts().to_dict()))


def _claim_kinds(params: Params) -> dict[str, str]:
    """Each active family's evaluation kind, whose glossary a claim's metric must be in."""
    return {family: _evaluation(fam["train"]).name for family, fam in active_families(params).items()}


def report(args: argparse.Namespace, params: Params) -> None:
    """The HTML report of every family."""
    from faceoff.report.html import write_report
    from faceoff.train import get_model

    layout = Layout.of(params)
    sections = []
    for family in active_families(params):
        runs = resolve_runs(params, family)
        applied = applied_runs(params, family)
        fam_train = params["families"][family]["train"]  # its model's evaluation kind: the glossary
        sections.append(
            {
                "family": family,
                "evaluation": get_model(str(fam_train.get("model", "cyclegan"))).evaluation,
                "table": layout.tables(family)[1],
                "extra_tables": sorted(layout.table_folder(family).glob("*.csv")),
                "figures": sorted(layout.figures(family).glob("*.png")),
                "variants": params["families"][family]["variants"],
                "runs": [
                    {
                        "id": r.id,
                        "variant": r.variant,
                        "video": layout.evaluate(family, r.id) / "faceoff.mp4",
                        "samples": layout.evaluate(family, r.id) / "samples.png",
                        "apply_side_by_side": layout.evaluate(family, r.id) / "apply_side_by_side.mp4"
                        if r in applied
                        else None,
                        "params": dict(r.settings),
                    }
                    for r in runs
                ],
            }
        )
    claims = {"table": layout.claims_tables()[0], "forest": layout.claims_figure}
    write_report(layout.report, title=f"faceoff report: {layout.root}", sections=sections, claims=claims)


def apply(args: argparse.Namespace, params: Params) -> None:
    """Face-off a video, an image or a folder of images with a trained run (faceoff.apply)."""
    from faceoff.apply import apply_run

    _set_threads(args.threads)
    overrides = {
        "blend": args.blend,
        "color_match": args.color_match,
        "detector": args.detector,
        "landmarks": args.landmarks,
        "batch_size": args.batch_size,
    }
    summary = apply_run(
        params,
        args.run,
        args.input,
        args.output,
        direction=args.direction,
        side_by_side=args.side_by_side,
        all_faces=args.all_faces,
        driver=args.driver,
        overrides={k: v for k, v in overrides.items() if v is not None},
        device=_device(params),
        precision=args.precision,
    )
    if args.summary:
        write_json(args.summary, summary.to_dict())


def apply_eval(args: argparse.Namespace, params: Params) -> None:
    """Apply a face-off or swap run, as `faceoff apply` does, to the held-out (test) segment of its
    source person's raw video and score the whole frames against the truth, with the ground-truth
    paste and the copied input as references (faceoff.evaluate.apply_run)."""
    from faceoff.apply import ApplyOptions, annotation_lookup, apply_frames, cut
    from faceoff.apply.run import load_run_model, translator
    from faceoff.datasets.registry import get_kind
    from faceoff.evaluate.apply_run import REFERENCES, evaluate_apply, read_segment
    from faceoff.io.video import probe_fps

    _set_threads(args.threads)
    run = get_run(params, args.run)
    source, target = run.items
    ds = _dataset(params, run.dataset)
    layout = Layout.of(params)
    remake = f"faceoff prepare --dataset {run.dataset} --item {source}"
    report = _read_output(layout.prepared(run.dataset, source) / "report.json", remake)
    settings = report["settings"]
    device = _device(params)
    model, trained = load_run_model(_run_model(params, run), run.key, device, run.items)
    crop = int(trained.get("crop_size", run.settings.get("crop_size", settings["size"])))
    options = ApplyOptions.from_prepare(settings, crop)
    kind, root = get_kind(ds["kind"]), Path(ds["source"])
    video = kind.item_inputs(root, source, ds.get("prepare"))[0]
    truth = kind.groundtruth(root, source, [target], ds.get("prepare")).get(target)
    landmarks = None
    if "annotations" in (options.detector, options.landmarks):  # beside the video, as prepare reads them
        landmarks = annotation_lookup(video.parent / f"{source}.landmarks.npy")
    held_out = report["split"].get("index_range", {}).get("test")
    if held_out is None:
        raise StepError(
            f"{layout.prepared(run.dataset, source)}: no held-out frame range: run `{remake}` again"
        )
    first, last = held_out
    max_frames = _family(params, run.family).get("evaluate", {}).get("max_frames", 200)
    try:
        segment = read_segment(video, first, last, settings.get("fps"), truth, landmarks, max_frames)
    except ValueError as exc:  # raw data that changed since it was prepared
        raise StepError(
            f"{exc}: the raw data no longer matches its prepared item; run `{remake}` again"
        ) from exc
    metrics = evaluate_apply(
        translator(model, "AB", crop, device=device),  # fp32, as `faceoff apply` by default
        lambda frames, translate: apply_frames(frames, translate, options, segment.landmarks),
        cut,
        segment,
        Path(args.out or layout.evaluate(run.family, run.id)),
        names=run.items,
        fps=settings.get("fps") or (probe_fps(video) if video.is_file() else 25.0),
    )
    scored = {k: v.get("apply_l1_gt") for k, v in metrics.items() if k in ("run", *REFERENCES)}
    log.info("applied %s to %s frames %s: apply_l1_gt %s", run.key, source, metrics["segment"], scored)


def dvc_yaml(args: argparse.Namespace, params: Params) -> None:
    """Write (or, with ``--check``, compare) dvc.yaml as :mod:`faceoff.config.dvc` derives it."""
    from faceoff.config.dvc import render
    from faceoff.train import get_model

    text = render(params, lambda model: get_model(model).stepper.losses)
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            raise StepError(f"{args.out} is stale: run `faceoff dvc-yaml -o {args.out}` and commit it")
        print(f"{args.out} is what the parameters give")
        return
    args.out.write_text(text)
    log.info("wrote %s", args.out)


def show_config(args: argparse.Namespace, params: Params) -> None:
    """Print the merged parameters or the resolved runs, or check (before a cluster run, not in
    its jobs) that the datasets exist, every run's training settings are valid and its model's
    evaluation kind registered, its crops fit in the prepared frames and every network it loads
    has its weights on this machine."""
    if args.what == "show":
        print(yaml.safe_dump(dict(params), sort_keys=False), end="")
    elif args.what == "runs":
        for run in resolve_runs(params):
            print(run.key)
    else:
        problems = config_problems(params)
        if problems:
            raise StepError("\n  ".join(["the parameters cannot run:", *problems]))
        print("all datasets present, every run's training settings valid, crops fit, weights present")


def config_problems(params: Params) -> list[str]:
    """Everything that would stop a run of ``params`` on this machine, one message each."""
    from faceoff.datasets.check import missing_sources
    from faceoff.evaluate.kinds import EvaluationError
    from faceoff.faces import weights
    from faceoff.faces.features import networks_needed
    from faceoff.train import SettingsError, settings_from_dict

    problems = [f"raw data missing: {m}" for m in missing_sources(params)]
    needs: dict[str, list[str]] = {}  # network -> who loads it
    sized: list[tuple[str, int, str, str]] = []  # (who, crop, crop key, dataset)
    for run in resolve_runs(params):
        try:
            settings = settings_from_dict(run.settings)
            _evaluation(run.settings)  # its model's evaluation kind is registered
        except (SettingsError, EvaluationError) as exc:
            problems.append(f"run {run.key}: {exc}")
            continue
        sized.append((f"run {run.key}", settings.crop_size, _crop_key(params, run), run.dataset))
        for net in networks_needed(run.settings):
            needs.setdefault(net, []).append(f"run {run.key}")
    for family, fam in active_families(params).items():
        if "classifier" in fam:
            key = f"families.{family}.classifier"
            try:
                settings = settings_from_dict(fam["classifier"])
            except SettingsError as exc:
                problems.append(f"{key}: {exc}")
            else:
                sized.append((key, settings.crop_size, f"{key}.crop_size", fam["dataset"]))
        for net in networks_needed(fam.get("evaluate", {})):
            needs.setdefault(net, []).append(f"families.{family}.evaluate.identity_net")
    for dataset in sorted({fam["dataset"] for fam in active_families(params).values()}):
        for key, net in weights.prepare_networks(params["datasets"][dataset].get("prepare", {})).items():
            needs.setdefault(net, []).append(f"datasets.{dataset}.prepare.{key}")
    for who, crop, key, dataset in sized:
        size = params["datasets"][dataset].get("prepare", {}).get("size")
        problem = None if size is None else _crop_problem(crop, key, dataset, int(size))
        if problem:
            problems.append(f"{who}: {problem}")
    for missing in weights.missing(needs):
        problems.append(f"{missing.problem()}\n    needed by: {', '.join(needs[missing.network])}")
    return problems
