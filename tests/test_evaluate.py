"""Evaluation metrics on known inputs, dlib identity on a real photo, evaluate_pair end to end, tables."""

from __future__ import annotations

import math
from argparse import Namespace
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib import cbook
from PIL import Image
from skimage import data as skdata

from faceoff.datasets.crops import center_crop
from faceoff.datasets.prepared import PreparedSplit, load_split, save_split
from faceoff.evaluate import kinds
from faceoff.evaluate import metrics as m
from faceoff.evaluate.glossary import Glossary, all_glossaries, get_glossary
from faceoff.evaluate.kid import kid_features
from faceoff.evaluate.kinds import (
    EvaluationError,
    EvaluationJob,
    EvaluationKind,
    FigureJob,
    get_evaluation,
    register_evaluation,
)
from faceoff.evaluate.retrieval import retrieval_net
from faceoff.evaluate.run import (
    REFERENCE_FRAMES,
    Retrieval,
    copy_input,
    evaluate_job,
    evaluate_pair,
    face_swap_retrieval,
    reference_frames,
    score_pair,
    translate_all,
)
from faceoff.evaluate.samples import FILENAME as SAMPLES_FILE
from faceoff.evaluate.samples import KEYS, read_samples, write_samples
from faceoff.evaluate.table import (
    build_table,
    summary_table,
    to_latex,
    to_markdown,
    variant_table,
    write_table,
)
from faceoff.faces.identity import DlibFaceEmbedder
from faceoff.faces.landmarks import LandmarkFinder
from faceoff.io.atomic import read_json, write_json
from faceoff.io.video import read_frames
from faceoff.synth import EXPRESSION_PRESETS, Identity, person_identity, person_motion
from faceoff.synth.render import render_face
from faceoff.synth.sequence import FrameParams

SIZE, CROP, N = 96, 88, 6


class Dlib:
    """The real evaluation networks: dlib's detector + 68-point predictor and its descriptor."""

    def __init__(self) -> None:
        self.landmarks = LandmarkFinder()
        self.embedder = DlibFaceEmbedder()
        self.embed = self.embedder.embed


@pytest.fixture(scope="module")
def nets() -> Dlib:
    return Dlib()


def _ramp(n: int, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.stack([np.stack([(xx * 7 + i * 20) % 256, yy * 5, xx + yy], -1) for i in range(n)]).astype(
        np.uint8
    )


# --- image metrics ---------------------------------------------------------------------------


def test_identical_images() -> None:
    x = _ramp(3)
    assert np.all(m.l1(x, x) == 0)
    assert np.allclose(m.ssim(x, x), 1.0, atol=1e-6)
    assert np.all(m.psnr(x, x) == pytest.approx(m.PSNR_CAP))  # capped, never inf


def test_known_shift_gives_analytic_values() -> None:
    x = _ramp(4)
    y = (x.astype(int) + 51).clip(0, 255).astype(np.uint8)
    expected = np.abs(y.astype(float) - x).mean(axis=(1, 2, 3)) / 255
    assert np.allclose(m.l1(x, y), expected)
    flat = np.full((2, 16, 16, 3), 100, np.uint8)
    assert np.allclose(m.l1(flat, flat + 51), 0.2)
    assert np.allclose(m.psnr(flat, flat + 51), -10 * math.log10(0.2**2))
    assert np.all(m.ssim(x, 255 - x) < 0.5)


def test_metrics_reject_mismatched_batches() -> None:
    with pytest.raises(ValueError, match="shape"):
        m.l1(_ramp(2), _ramp(3))


def test_flicker() -> None:
    moving = _ramp(5)
    static = np.repeat(moving[:1], 5, axis=0)
    assert m.flicker(moving, moving) == pytest.approx(1.0)
    assert m.flicker(static, moving) == 0.0
    assert m.flicker(static, static) == 1.0
    assert m.flicker(moving, static) == math.inf
    doubled = moving.copy()
    doubled[1::2] = (moving[1::2].astype(int) + 40).clip(0, 255)
    assert m.flicker(doubled, moving) > 1.0


def test_collapse() -> None:
    inputs = _ramp(6)
    assert m.collapse(np.repeat(inputs[:1], 6, axis=0), inputs) == 0.0
    assert m.collapse(inputs, inputs) == pytest.approx(1.0)
    assert m.collapse(255 - inputs, inputs) == pytest.approx(1.0)
    assert math.isnan(m.collapse(inputs[:1], inputs[:1]))


def test_landmark_nme() -> None:
    ref = np.zeros((3, 68, 2), np.float32)
    ref[:, :, 0] = np.arange(68)
    ref[:, m.LEFT_EYE_OUTER] = (10, 20)
    ref[:, m.RIGHT_EYE_OUTER] = (50, 20)  # inter-ocular distance 40
    nme = m.landmark_nme([ref[0], ref[1] + (3, 4), None], ref)
    assert nme[0] == 0 and nme[1] == pytest.approx(5 / 40) and math.isnan(nme[2])


def test_translate_all_batches_and_checks_outputs() -> None:
    frames = _ramp(40)
    calls = []
    out = translate_all(lambda d, f, _m: calls.append(len(f)) or 255 - f, "AB", frames, None)
    assert np.array_equal(out, 255 - frames) and calls == [16, 16, 8]
    with pytest.raises(ValueError, match="float64"):
        translate_all(lambda d, f, _m: f / 255.0, "AB", frames, None)


# --- identity with dlib's descriptor network -----------------------------------------------


def test_identity_similarity_real_photo(nets: Dlib) -> None:
    photo = skdata.astronaut()
    shifted = np.roll(photo, (6, 9), axis=(0, 1))
    other = skdata.coffee()
    descriptors = nets.embed(np.stack([photo, shifted]))
    assert np.isfinite(descriptors).all()
    ref = m.reference_descriptor(descriptors[:1])
    same = m.cosine_to_reference(descriptors[1:], ref)[0]
    # No face in the coffee photo: the embedder describes the whole image as if it were one.
    different = m.cosine_to_reference(nets.embed(other[None]), ref)[0]
    assert same > 0.99 and different < 0.9
    assert math.isnan(m.cosine_to_reference(np.full((1, 128), np.nan), ref)[0])
    assert np.allclose(
        m.reference_descriptor(np.vstack([descriptors, np.full((1, 128), np.nan)])), descriptors.mean(0)
    )


# --- evaluate_pair end to end ----------------------------------------------------------------


class ChannelSwap(torch.nn.Module):
    """A fixed 1x1 convolution that reverses RGB: the exact translation between the test persons."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).flip(0).view(3, 3, 1, 1))

    @torch.no_grad()
    def translate(self, direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
        y = self.conv(x).clamp(0, 1).mul(255).round().byte()
        return y.permute(0, 2, 3, 1).numpy()


def _person(flip: bool, step: int) -> np.ndarray:
    """A short 'video' of the astronaut's face, drifting by ``step`` px per frame."""
    photo = skdata.astronaut()
    frames = []
    for i in range(N):
        cx, cy = 220 + step * i, 121 + i
        crop = photo[cy - 75 : cy + 75, cx - 75 : cx + 75]
        frame = np.asarray(Image.fromarray(crop).resize((SIZE, SIZE), Image.BICUBIC))
        frames.append(frame[:, ::-1, ::-1] if flip else frame)
    return np.ascontiguousarray(np.stack(frames))


def _split(nets: Dlib, frames: np.ndarray, other: str) -> PreparedSplit:
    landmarks = [nets.landmarks(f) for f in frames]
    assert all(p is not None for p in landmarks), "dlib must find the test face in every frame"
    return PreparedSplit(
        frames=frames,
        landmarks=np.stack(landmarks),
        masks=np.ones(frames.shape[:3], np.uint8),
        index=np.arange(len(frames)),
        gt={other: np.ascontiguousarray(frames[..., ::-1])},
    )


def colour_share(frames: np.ndarray, target: str) -> float:
    """A stand-in expression classifier: Q's frames (RGB reversed) are bluer than red, P's redder."""
    bluer = frames[..., 2].mean((1, 2)) > frames[..., 0].mean((1, 2))
    return float(np.mean(bluer == (target == "Q")))


@pytest.fixture(scope="module")
def evaluated(nets: Dlib, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    save_split(root / "prepared" / "P", "test", _split(nets, _person(False, 2), "Q"))
    save_split(root / "prepared" / "Q", "test", _split(nets, _person(True, -1), "P"))
    test_p, test_q = load_split(root / "prepared" / "P", "test"), load_split(root / "prepared" / "Q", "test")
    outs = {"P2Q-swap": root / "swap", "P2Q-copy": root / "copy"}
    for translate, out in ((ChannelSwap().translate, outs["P2Q-swap"]), (copy_input, outs["P2Q-copy"])):
        evaluate_pair(
            translate,
            test_p,
            test_q,
            out_dir=out,
            embed=nets.embed,
            landmarks=nets.landmarks,
            names=("P", "Q"),
            crop_size=CROP,
            max_frames=5,
            video_frames=4,
            fps=10,
            target_share=colour_share,
            retrieval=Retrieval("dlib_resnet", nets.embed),
        )
    return outs | {"root": root}


def test_metrics_json(evaluated: dict[str, Path]) -> None:
    swap = read_json(evaluated["P2Q-swap"] / "metrics.json")
    keys = {"l1_gt", "psnr_gt", "ssim_gt", "ssim_input", "cycle_l1", "identity_sim", "landmark_nme"}
    keys |= {"face_found", "flicker", "collapse"}
    for scope in (swap, swap["A2B"], swap["B2A"]):
        assert keys <= scope.keys()
    assert swap["n_frames"] == 10 and swap["A2B"]["n_frames"] == 5
    assert swap["names"] == {"A": "P", "B": "Q"} and not swap["copy_input"]
    assert swap["l1_gt"] == 0 and swap["cycle_l1"] == 0 and swap["psnr_gt"] == m.PSNR_CAP
    assert swap["face_found"] == 1.0 and swap["landmark_nme"] < 0.1
    assert 0.5 < swap["collapse"] < 2 and 0.5 < swap["flicker"] < 2
    assert swap["identity_sim"] == pytest.approx(
        np.mean([swap["A2B"]["identity_sim"], swap["B2A"]["identity_sim"]])
    )


def test_copy_input_matches_direct_computation(evaluated: dict[str, Path]) -> None:
    copy = read_json(evaluated["P2Q-copy"] / "metrics.json")
    p = load_split(evaluated["root"] / "prepared" / "P", "test")
    off = (SIZE - CROP) // 2
    frames = np.asarray(p.frames[:5, off : off + CROP, off : off + CROP])
    gt = np.asarray(p.gt["Q"][:5, off : off + CROP, off : off + CROP])
    assert copy["copy_input"] and copy["A2B"]["l1_gt"] == pytest.approx(m.l1(frames, gt).mean())
    assert copy["cycle_l1"] == 0 and copy["flicker"] == 1 and copy["collapse"] == 1
    assert copy["ssim_input"] == pytest.approx(1.0)
    # Centred on the pair: the copied input is its own person, on the far side from the target.
    assert copy["identity_sim_source"] > 0.9 and copy["identity_sim"] < 0
    assert copy["identity_cos"] > copy["identity_sim"]  # the raw cosine hides that


def test_video_and_samples(evaluated: dict[str, Path]) -> None:
    frames = list(read_frames(evaluated["P2Q-swap"] / "faceoff.mp4"))
    assert len(frames) == 4 and frames[0].shape == (CROP, 3 * CROP, 3)
    with Image.open(evaluated["P2Q-swap"] / "samples.png") as image:
        image.verify()


# --- per-sample values and the field's protocols ------------------------------------------------

PER_SAMPLE = {"l1_gt", "psnr_gt", "ssim_gt", "ssim_input", "cycle_l1", "identity_sim", "identity_sim_source"}
PER_SAMPLE |= {"identity_cos", "identity_input", "background_l1", "landmark_nme", "face_found", "pose_err"}
PER_SAMPLE |= {"expr_err", "sharpness", "expression_success", "id_retrieval"}


def test_per_sample_file_pairs_a_run_with_its_copy_baseline(evaluated: dict[str, Path]) -> None:
    swap, copy = (read_samples(evaluated[run] / SAMPLES_FILE) for run in ("P2Q-swap", "P2Q-copy"))
    assert set(swap.columns) == {*KEYS, *PER_SAMPLE}  # set-level metrics (kid, flicker...) stay out
    index = load_split(evaluated["root"] / "prepared" / "P", "test").index[:5].tolist()
    a2b = swap[swap["direction"] == "A2B"]
    assert a2b["frame"].tolist() == index and set(a2b["source"]) == {"P"} and set(a2b["target"]) == {"Q"}
    paired = swap.merge(copy, on=list(KEYS), suffixes=("", "_copy"), validate="one_to_one")
    assert len(paired) == len(swap) == 10
    # Row by row: the exact translation is the ground truth, the copied input is not.
    assert (paired["l1_gt"] == 0).all() and (paired["l1_gt_copy"] > 0.05).all()


def test_per_sample_means_are_the_metrics(evaluated: dict[str, Path]) -> None:
    """metrics.json's per-frame metrics are exactly the means of per_sample.csv's columns."""
    for run in ("P2Q-swap", "P2Q-copy"):
        metrics = read_json(evaluated[run] / "metrics.json")
        rows = read_samples(evaluated[run] / SAMPLES_FILE)
        for column in PER_SAMPLE:
            means = [m.finite_mean(rows.loc[rows["direction"] == d, column]) for d in ("A2B", "B2A")]
            assert means == [metrics[d][column] for d in ("A2B", "B2A")], (run, column)
            known = [v for v in means if v is not None]  # no background in these crops: all NaN
            assert metrics[column] == (float(np.mean(known)) if known else None), (run, column)


def test_protocol_metrics_of_the_truth_and_the_copy(evaluated: dict[str, Path]) -> None:
    swap, copy = (read_json(evaluated[run] / "metrics.json") for run in ("P2Q-swap", "P2Q-copy"))
    for scores in (swap, copy):
        assert scores["kid_features"] == kid_features() and scores["kid_subset"] == 5
        assert "fid" not in scores and "fid" not in scores["A2B"]  # 5 frames: no small-sample FID
        assert scores["expression_success_real"] == 1.0  # the stand-in classifier knows the real frames
        assert scores["id_retrieval_net"] == "dlib_resnet" and scores["id_retrieval_gallery"] == 2
        assert scores["landmarks_skipped"] == 0
    assert swap["sharpness"] == 1.0 and swap["expression_success"] == 1.0
    assert copy["expression_success"] == 0.0
    assert swap["kid"] < copy["kid"]
    # The truth keeps the source's pose and expression (dlib's landmarks wobble by a degree or two).
    assert swap["pose_err"] < 3 and swap["expr_err"] < 0.02


def _rotated(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(f).rotate(20, resample=Image.BILINEAR)) for f in frames])


def _stretched(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """Taller by 30 %: a change of face shape no rotation or scaling undoes."""
    h, w = frames.shape[1:3]
    tall = [np.asarray(Image.fromarray(f).resize((w, round(h * 1.3)), Image.BILINEAR)) for f in frames]
    top = (tall[0].shape[0] - h) // 2
    return np.stack([t[top : top + h] for t in tall])


def _blurred(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    size = frames.shape[2], frames.shape[1]
    small = [Image.fromarray(f).resize((22, 22), Image.BILINEAR) for f in frames]
    return np.stack([np.asarray(s.resize(size, Image.BILINEAR)) for s in small])


def test_protocol_metrics_name_their_failures(nets: Dlib, evaluated: dict[str, Path]) -> None:
    """Each protocol metric moves on the failure it names: pose on a head turned 20 degrees (not the
    expression: Procrustes takes the rotation out), expression on a stretched face, sharpness and KID
    on blur; frames without landmarks are skipped and counted."""
    swap = read_json(evaluated["P2Q-swap"] / "metrics.json")
    p, q = (load_split(evaluated["root"] / "prepared" / item, "test") for item in ("P", "Q"))
    options: dict[str, Any] = {"names": ("P", "Q"), "crop_size": CROP, "max_frames": 3}
    scores = {
        t.__name__: score_pair(t, p, q, nets.embed, nets.landmarks, **options)[0]
        for t in (_rotated, _stretched, _blurred)
    }
    assert 15 < scores["_rotated"]["pose_err"] < 25 and scores["_rotated"]["expr_err"] < 0.03
    assert scores["_stretched"]["expr_err"] > 2 * swap["expr_err"] + 0.03
    blurred = scores["_blurred"]
    assert blurred["sharpness"] < 0.1 and blurred["kid"] > 2 * swap["kid"]
    assert blurred["landmarks_skipped"] == round((1 - blurred["A2B"]["face_found"]) * 3) + round(
        (1 - blurred["B2A"]["face_found"]) * 3
    )
    assert "id_retrieval" not in blurred  # no face-swap protocol asked for


def _grace_hopper(nets: Dlib) -> PreparedSplit:
    """Another person: Grace Hopper's portrait, drifting like :func:`_person`."""
    photo = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    frames = []
    for i in range(N):
        cx, cy = 266 + 2 * i, 250 + i
        crop = photo[cy - 140 : cy + 140, cx - 140 : cx + 140]
        frames.append(np.asarray(Image.fromarray(crop).resize((SIZE, SIZE), Image.BICUBIC)))
    return _split(nets, np.stack(frames), "none")


def test_id_retrieval_finds_the_target_person(nets: Dlib) -> None:
    """A perfect swap (the output is the target person, in the source's frame) is retrieved as the
    target every time, the copied input never; retrieval uses its own network's descriptors."""
    astronaut, hopper = _split(nets, _person(False, 2), "none"), _grace_hopper(nets)
    splits = {"A": astronaut, "B": hopper}

    def swap(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        target = center_crop(splits[direction[1]], CROP).frames
        return np.stack([target[i % len(target)] for i in range(len(frames))])

    own = Retrieval(
        "dlib_resnet", lambda images, points: nets.embed(images, points)
    )  # not the metrics' embed
    options: dict[str, Any] = {"names": ("astronaut", "hopper"), "crop_size": CROP, "max_frames": 3}
    perfect, *_, rows = score_pair(
        swap, astronaut, hopper, nets.embed, nets.landmarks, retrieval=own, **options
    )
    copied = score_pair(None, astronaut, hopper, nets.embed, nets.landmarks, retrieval=own, **options)[0]
    assert perfect["id_retrieval"] == 100.0 and copied["id_retrieval"] == 0.0
    assert rows["id_retrieval"].tolist() == [100.0] * 6 and perfect["id_retrieval_gallery"] == 2
    assert perfect["kid"] < 0.01 < copied["kid"]  # the outputs are the target's real frames


def _rendered(
    identity: Identity, motion: list[FrameParams], truth: tuple[str, Identity] | None = None
) -> PreparedSplit:
    """Synthetic frames of ``identity`` moving as ``motion``, with the renderer's exact landmarks and,
    with ``truth`` (name, identity), the same frames rendered as that other person."""
    faces = [render_face(identity, f.expression, f.pose, f.lighting, 112) for f in motion]
    gt = {}
    if truth is not None:
        gt[truth[0]] = np.stack(
            [render_face(truth[1], f.expression, f.pose, f.lighting, 112).image for f in motion]
        )
    return PreparedSplit(
        frames=np.stack([f.image for f in faces]),
        landmarks=np.stack([f.landmarks for f in faces]),
        masks=np.stack([f.mask for f in faces]),
        index=np.arange(len(faces)),
        gt=gt,
    )


def test_identity_reference_holds_the_person_not_the_scored_clip(nets: Dlib) -> None:
    """Two rendered persons whose scored clips each hold one expression (A surprised, B happy), as a
    short test stretch of a real video does. Against references made of those clips, the ground
    truth (A's clip rendered as B) sits half-way between the persons (identity_sim near 0, as the
    demo pair's truth did: +0.10); against references spread over the train frames, which show
    many expressions, it is clearly B (the demo pair's: +0.61) and copying the input clearly is not."""
    names = ("A", "B")
    identity = {k: person_identity(0, k) for k in names}
    motion = {k: person_motion(0, k, 210, 25.0) for k in names}
    held = {"A": EXPRESSION_PRESETS["SU"], "B": EXPRESSION_PRESETS["HA"]}
    train = {k: _rendered(identity[k], motion[k][:200:5]) for k in names}
    test = {
        k: _rendered(identity[k], [replace(f, expression=held[k]) for f in motion[k][200:]], (o, identity[o]))
        for k, o in (names, names[::-1])
    }
    truth = {
        f.tobytes(): gt
        for k, o in (names, names[::-1])
        for f, gt in zip(test[k].frames, test[k].gt[o], strict=True)
    }

    def truth_of(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        return np.stack([truth.get(f.tobytes(), f) for f in frames])

    references = tuple(reference_frames(train[k], 20) for k in names)
    assert [len(r) for r in references] == [20, 20] and references[0].index.tolist()[::19] == [0, 39]
    score = {
        (translator, refs): score_pair(t, test["A"], test["B"], nets.embed, nets.landmarks, references=r)[0][
            "identity_sim"
        ]
        for translator, t in (("truth", truth_of), ("copy", None))
        for refs, r in (("clip", None), ("train", references))
    }
    assert abs(score["truth", "clip"]) < 0.15  # the clip's expression drowns the identity
    assert score["truth", "train"] > 0.35 and score["copy", "train"] < -0.15
    assert score["truth", "train"] - score["copy", "train"] > 0.6


def test_evaluation_takes_references_from_the_train_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """The translate kind's references: evaluate.identity_reference_frames train frames (default
    REFERENCE_FRAMES) of each person; 0 scores against the test frames."""
    frames = np.zeros((100, 8, 8, 3), np.uint8)
    split = PreparedSplit(frames, np.zeros((100, 68, 2), np.float32), frames[..., 0], np.arange(100))
    asked: list[tuple[str, str]] = []
    seen: dict[str, Any] = {}
    monkeypatch.setattr("faceoff.evaluate.run.evaluate_pair", lambda *a, **k: seen.update(k) or {})

    def job(**options: Any) -> EvaluationJob:
        return EvaluationJob(
            None, ("P", "Q"), {"P": split, "Q": split}, Path("."), None, None, 8, None, 4, 25.0,
            options, lambda item, name: asked.append((item, name)) or split, lambda: None,
        )  # fmt: skip

    evaluate_job(job())
    assert asked == [("P", "train"), ("Q", "train")]
    assert [r.index.tolist() for r in seen["references"]] == [
        reference_frames(split, REFERENCE_FRAMES).index.tolist()
    ] * 2
    assert len(seen["references"][0]) == REFERENCE_FRAMES and seen["references"][0].index[-1] == 99
    evaluate_job(job(identity_reference_frames=10))
    assert len(seen["references"][1]) == 10
    asked.clear()
    evaluate_job(job(identity_reference_frames=0))
    assert seen["references"] is None and asked == []


def test_face_swap_families_retrieve_with_another_network(nets: Dlib) -> None:
    """evaluate.face_swap turns the protocol on; the network is never the one the loss trained with."""
    job = SimpleNamespace(options={"identity_net": "dlib_resnet"}, model=None, embed=nets.embed)
    assert face_swap_retrieval(job) is None
    job.options["face_swap"] = True
    expected = retrieval_net(None).name
    retrieval = face_swap_retrieval(job)
    assert retrieval is not None and retrieval.net == expected
    if expected == "dlib_resnet":
        assert retrieval.embed is nets.embed  # the metrics' own network: descriptors reused
    other = retrieval_net("dlib_resnet").name
    for settings in (
        SimpleNamespace(lambda_p=5.0, identity_net="dlib_resnet"),  # the portrait study's identity loss
        SimpleNamespace(feature_net="dlib_resnet"),  # dlib standing in as a perceptual/style network
    ):
        job.model = SimpleNamespace(settings=settings)
        retrieval = face_swap_retrieval(job)
        assert (retrieval is None) if other is None else (retrieval.net == other != "dlib_resnet")


def test_tables(evaluated: dict[str, Path], tmp_path: Path) -> None:
    files = {run: evaluated[run] / "metrics.json" for run in ("P2Q-swap", "P2Q-copy")}
    info = {"steps": 10, "diverged": False, "device": "cpu", "final_losses": {"D": 0.1}}
    extra = {"P2Q-swap": {"pair": "P2Q", "variant": "swap", "seed": 0, **info}}
    df = build_table(files, extra)
    assert list(df.columns[:4]) == ["run", "pair", "variant", "seed"] and "device" not in df
    assert df["steps"].tolist()[0] == 10 and df["diverged"].tolist()[0] is False
    assert list(df["variant"]) == ["swap", "copy input"]
    assert df["kid_features"].tolist() == [kid_features()] * 2  # metrics.json names KID's network
    paths = [tmp_path / f"faceoff.{ext}" for ext in ("csv", "md", "tex")]
    write_table(df, *paths)
    assert pd.read_csv(paths[0])["variant"].tolist() == ["swap", "copy input"]
    assert "copy input" in paths[1].read_text() and "| run" in paths[1].read_text()
    tex = paths[2].read_text()
    assert tex.startswith("\\begin{tabular}") and "copy input" in tex and "l1\\_gt" in tex
    summary = summary_table(df)
    assert summary["variant"].tolist() == ["swap", "copy input"] and summary["runs"].tolist() == [1, 1]
    # Every column of both tables is defined in the translation glossary.
    assert {*df.columns, *summary.columns} <= set(get_glossary("translate").columns())
    with pytest.raises(FileNotFoundError, match="missing-run"):
        build_table({"missing-run": tmp_path / "nope.json"})


def test_sweep_table_shows_the_swept_setting_beside_its_scores() -> None:
    """A variant table keeps the given variants, in order, with the settings that vary as columns."""
    df = pd.DataFrame(
        {
            "run": ["A2B-a-s0", "A2C-a-s0", "A2B-b-s0", "A2B-c-s0", "A2B-copy"],
            "pair": ["A2B", "A2C", "A2B", "A2B", "A2B"],
            "variant": ["a", "a", "b", "c", "copy input"],
            "seed": [0, 0, 0, 0, None],
            "l1_gt": [0.1, 0.2, 0.3, 0.4, 0.5],
        }
    )
    settings = {
        "c": {"lambda_ssim": 0.1, "ngf": 8, "n_layers_D": [3]},
        "a": {"lambda_ssim": 1e-4, "ngf": 8, "n_layers_D": [3, 5]},
    }
    table = variant_table(df, settings)
    assert table["run"].tolist() == ["A2B-c-s0", "A2B-a-s0", "A2C-a-s0"]
    assert table.columns.tolist()[:6] == ["run", "pair", "variant", "lambda_ssim", "n_layers_D", "seed"]
    assert table["lambda_ssim"].tolist() == [0.1, 1e-4, 1e-4] and "ngf" not in table
    assert table["l1_gt"].tolist() == [0.4, 0.1, 0.2]


def _samples(folder: Path, l1: np.ndarray, nme: np.ndarray) -> Path:
    """A per-sample file of ``l1`` and ``nme``: its first half A2B, its second B2A."""
    half = len(l1) // 2
    keys = {"direction": ["A2B"] * half + ["B2A"] * half, "source": "A", "target": "B"}
    keys["frame"] = np.arange(len(l1))
    folder.mkdir(parents=True)
    write_samples(folder / SAMPLES_FILE, pd.DataFrame({**keys, "l1_gt": l1, "landmark_nme": nme}))
    return folder / SAMPLES_FILE


def test_summary_intervals_from_the_per_sample_files(tmp_path: Path) -> None:
    """Two seeds: an interval over seeds and frames around the unchanged mean; one seed (and the copy
    input): frames only; a run without a per-sample file: no interval for its variant, and nothing
    breaks. Markdown and LaTeX show "mean [lo, hi]", the CSV the three numbers."""
    rng = np.random.default_rng(0)
    rows, samples = [], {}
    for run, variant, seed, level in [
        ("A2B-a-s0", "a", 0, 0.10),
        ("A2B-a-s1", "a", 1, 0.12),
        ("A2B-b-s0", "b", 0, 0.30),
        ("A2B-c-s0", "c", 0, 0.40),
        ("A2B-copy", "copy input", None, 0.50),
    ]:
        l1 = level + rng.normal(0, 0.01, 40)
        nme = np.full(40, np.nan) if variant == "b" else rng.uniform(0, 0.1, 40)  # b: no face found
        row = {"run": run, "pair": "A2B", "variant": variant, "seed": seed, "l1_gt": l1.mean()}
        rows.append(row | {"landmark_nme": np.nanmean(nme) if variant != "b" else np.nan})
        if variant != "c":
            samples[run] = _samples(tmp_path / run, l1, nme)
    samples["A2B-c-s0"] = tmp_path / "A2B-c-s0" / SAMPLES_FILE  # evaluated before per-sample files
    df = pd.DataFrame(rows)
    plain, summary = summary_table(df), summary_table(df, samples).set_index("variant")
    assert summary["l1_gt"].tolist() == plain["l1_gt"].tolist()  # the means do not change
    columns = ["runs", "pairs", "n_seeds", "interval", "l1_gt", "l1_gt_lo", "l1_gt_hi"]
    assert summary.columns.tolist()[:7] == columns
    assert summary["n_seeds"].tolist() == [2, 1, 1, 0]
    assert summary["interval"].tolist() == ["seeds, frames", "frames", None, "frames"]
    a, b = summary.loc["a"], summary.loc["b"]
    # Two seeds 0.02 apart: about as wide as they are apart; one seed: the frames' spread only.
    assert a["l1_gt_lo"] < 0.105 < a["l1_gt"] < 0.115 < a["l1_gt_hi"]
    assert b["l1_gt_lo"] < b["l1_gt"] < b["l1_gt_hi"] and b["l1_gt_hi"] - b["l1_gt_lo"] < 0.01
    assert np.isnan(b["landmark_nme_lo"]) and a["landmark_nme_lo"] < a["landmark_nme"]  # b: none to resample
    c = summary.loc["c"]
    assert np.isnan(c["l1_gt_lo"]) and c["l1_gt"] == pytest.approx(0.40, abs=0.01)
    assert set(summary.reset_index().columns) <= set(get_glossary("translate").columns())
    cell = f"{a['l1_gt']:.4g} [{a['l1_gt_lo']:.4g}, {a['l1_gt_hi']:.4g}]"
    md, tex = to_markdown(summary.reset_index()), to_latex(summary.reset_index())
    assert cell in md and "l1_gt_lo" not in md and cell in tex and "l1\\_gt\\_lo" not in tex
    assert f"| {c['l1_gt']:.4g} " in md and f"{c['l1_gt']:.4g} [" not in md  # no interval: the mean alone


def test_every_metric_name_has_one_meaning() -> None:
    """One glossary per evaluation kind; a name two kinds share is defined the same in both, and a
    metric that means something else cannot take an existing name."""
    from faceoff.train.registry import all_models

    glossaries = all_glossaries()
    assert {spec.evaluation for spec in all_models().values()} <= set(glossaries)
    translate, reenact = glossaries["translate"].metrics, glossaries["reenact"].metrics
    shared = set(translate) & set(reenact)
    assert shared == {"l1_gt", "ssim_gt", "ssim_input", "identity_sim_source", "face_found"} | {
        "kid",
        "kid_std",
        "kid_subset",
    }
    assert all(translate[name] == reenact[name] for name in shared)
    # Reenactment's copy excess (> 0 = collapse) is not translation's collapse (near 0 = collapse).
    excess = Glossary("other", "", {"collapse": reenact["ssim_input_excess"]})
    with pytest.raises(ValueError, match=r"collapse \(translate\)"):
        register_evaluation(EvaluationKind("other", excess, _toy_evaluate))
    steps = Glossary("other", "", {"steps": "optimiser steps of the evaluation"})
    with pytest.raises(ValueError, match="steps"):
        register_evaluation(EvaluationKind("other", steps, _toy_evaluate))
    assert "other" not in all_glossaries()


# --- evaluation kinds ------------------------------------------------------------------------

TOY = Glossary("toy", "What the toy kind counts.", {"toy_frames": "test frames the toy kind was given"})


def _toy_evaluate(job: EvaluationJob) -> dict[str, Any]:
    """A kind's whole contract: score the job's model on its test splits, write metrics.json last."""
    result = {
        "names": dict(zip("AB", job.pair, strict=True)),
        "copy_input": job.model is None,
        "toy_frames": sum(len(split) for split in job.tests.values()),
        "n_frames": job.max_frames,
    }
    write_json(job.out_dir / "metrics.json", result)
    return result


def test_an_unknown_kind_names_the_registered_ones() -> None:
    with pytest.raises(
        EvaluationError, match=r"unknown evaluation kind 'nope' \(registered: reenact, translate\)"
    ):
        get_evaluation("nope")
    with pytest.raises(EvaluationError, match="unknown evaluation kind 'nope'"):
        get_glossary("nope")
    assert get_evaluation("translate").glossary is get_glossary("translate")


def test_a_kind_registers_once_with_its_own_glossary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds, "KINDS", dict(kinds.all_evaluations()))
    toy = register_evaluation(EvaluationKind("toy", TOY, _toy_evaluate))
    assert register_evaluation(toy) is toy and get_evaluation("toy") is toy
    with pytest.raises(ValueError, match="'toy' registered twice"):
        register_evaluation(EvaluationKind("toy", TOY, _toy_evaluate))
    with pytest.raises(ValueError, match="'toy2' has the glossary of 'toy'"):
        register_evaluation(EvaluationKind("toy2", TOY, _toy_evaluate))


def _toy_params(root: Path) -> dict[str, Any]:
    """A family whose model (``toy``, evaluated by kind ``toy``) neither steps.py nor any config knows."""
    family = {
        "dataset": "toys",
        "pairs": ["P2Q"],
        "run": ["one", "two"],
        "seeds": [0],
        "variants": {"one": {}, "two": {"crop_size": 24}},
        "train": {"model": "toy", "crop_size": 32},
        "evaluate": {"max_frames": 3, "video_frames": 2, "identity_net": "dlib_resnet"},
    }
    toys = {"kind": "person_videos", "items": ["P", "Q"], "source": str(root / "raw")}
    return {
        "output_dir": str(root),
        "device": "cpu",
        "datasets": {"toys": toys},
        "families": {"toyfam": family},
    }


def test_a_kind_registered_elsewhere_evaluates_and_draws_through_the_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model and its evaluation kind registered outside the package (as a plug-in registers them):
    `faceoff evaluate` scores with the kind, `faceoff table` tabulates its metric and `faceoff figure`
    draws the kind's figures, with no edit of steps.py."""
    from faceoff import steps
    from faceoff.config import Layout
    from faceoff.train.loop import Stepper
    from faceoff.train.registry import MODELS, ModelSpec
    from faceoff.train.settings import BaseSettings

    drawn: list[FigureJob] = []

    def figures(job: FigureJob) -> None:
        drawn.append(job)
        Image.fromarray(job.test_split(job.runs[0]).frames[0]).save(job.folder / f"toy-{job.pair}.png")

    monkeypatch.setattr(kinds, "KINDS", dict(kinds.all_evaluations()))
    register_evaluation(EvaluationKind("toy", TOY, _toy_evaluate, figures))
    monkeypatch.setitem(MODELS, "toy", ModelSpec("toy", BaseSettings, Stepper, evaluation="toy"))
    params = _toy_params(tmp_path)
    layout = Layout.of(params)
    for item, n in (("P", 5), ("Q", 4)):
        frames = _ramp(n, 40)
        save_split(
            layout.prepared("toys", item),
            "test",
            PreparedSplit(
                frames, np.zeros((n, 68, 2), np.float32), np.ones((n, 40, 40), np.uint8), np.arange(n)
            ),
        )
    steps.evaluate(Namespace(run=None, copy="toyfam/P2Q", out=None, threads=0), params)
    metrics = read_json(layout.copy_baseline("toyfam", "P2Q") / "metrics.json")
    assert metrics["toy_frames"] == 9 and metrics["copy_input"] and metrics["n_frames"] == 3
    table = build_table({"P2Q-copy": layout.copy_baseline("toyfam", "P2Q") / "metrics.json"})
    assert table["toy_frames"].tolist() == [9.0]  # a plug-in kind's metric is a column

    for run in ("P2Q-one-s0", "P2Q-two-s0"):
        write_table(
            pd.DataFrame({"step": [0, 2], "loss": [1.0, 0.5]}), layout.train("toyfam", run) / "losses.csv"
        )
    steps.figure(Namespace(family="toyfam"), params)
    assert [(job.family, job.pair, [r.variant for r in job.runs]) for job in drawn] == [
        ("toyfam", "P2Q", ["one", "two"])
    ]
    assert drawn[0].losses(drawn[0].runs[1]) == layout.train("toyfam", "P2Q-two-s0") / "losses.csv"
    assert {p.name for p in layout.figures("toyfam").iterdir()} == {"losses.png", "toy-P2Q.png"}


def test_a_model_naming_an_unregistered_kind_stops_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faceoff import steps
    from faceoff.train.loop import Stepper
    from faceoff.train.registry import MODELS, ModelSpec
    from faceoff.train.settings import BaseSettings

    monkeypatch.setitem(MODELS, "toy", ModelSpec("toy", BaseSettings, Stepper, evaluation="toy"))
    params = _toy_params(tmp_path)
    with pytest.raises(EvaluationError, match="unknown evaluation kind 'toy'"):
        steps.evaluate(Namespace(run=None, copy="toyfam/P2Q", out=None, threads=0), params)
    problems = [p for p in steps.config_problems(params) if "evaluation kind" in p]
    assert len(problems) == 2 and problems[0].startswith(
        "run toyfam/P2Q-one-s0: unknown evaluation kind 'toy'"
    )
