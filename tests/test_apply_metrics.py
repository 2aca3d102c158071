"""The apply metrics on synthetic faces: the truth itself is ideal, the copied input fails, and each
metric sees the defect it is named for (a seam, flicker, a background leak); the family table
brackets each run with its references."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceoff.evaluate import apply_metrics as am
from faceoff.evaluate.glossary import APPLY, get_glossary
from faceoff.evaluate.table import add_apply, build_table, summary_table
from faceoff.faces.mask import face_mask
from faceoff.io.atomic import write_json
from faceoff.synth.person_videos import person_identity, person_motion
from faceoff.synth.render import render_face

SIZE, FRAMES = 96, 6


@pytest.fixture(scope="module")
def clip() -> dict[str, np.ndarray]:
    """A's frames, the same frames rendered as B (the truth), A's face masks and a feathered blend."""
    motion = person_motion(0, "A", FRAMES, 25.0)
    inputs, truth, faces = [], [], []
    for f in motion:
        face = render_face(person_identity(0, "A"), f.expression, f.pose, f.lighting, SIZE)
        inputs.append(face.image)
        faces.append(face_mask(face.landmarks, SIZE))
        truth.append(render_face(person_identity(0, "B"), f.expression, f.pose, f.lighting, SIZE).image)
    face = np.stack(faces)
    grown = np.stack([cv2.dilate(k, np.ones((7, 7), np.uint8)) for k in face]).astype(np.float32)
    blend = np.stack([cv2.GaussianBlur(k, (0, 0), 2.0) for k in grown]).clip(0, 1)
    return {"inputs": np.stack(inputs), "truth": np.stack(truth), "face": face, "blend": blend}


def _paste(pasted: np.ndarray, inputs: np.ndarray, blend: np.ndarray) -> np.ndarray:
    w = blend[..., None]
    return np.rint(w * pasted + (1 - w) * inputs).astype(np.uint8)


def _scores(outputs: np.ndarray, clip: dict[str, np.ndarray]) -> dict[str, float]:
    return am.apply_scores(outputs, clip["truth"], clip["inputs"], clip["face"], clip["blend"])


def test_every_score_is_in_the_glossary(clip: dict[str, np.ndarray]) -> None:
    scores = am.apply_scores(
        clip["inputs"], clip["truth"], clip["inputs"], clip["face"], clip["blend"], np.ones(FRAMES, bool)
    )
    assert set(scores) == set(APPLY)


def test_the_truth_itself_scores_the_ideal(clip: dict[str, np.ndarray]) -> None:
    ideal = _scores(clip["truth"], clip)
    assert ideal["apply_l1_gt"] == 0 and ideal["apply_l1_gt_face"] == 0 and ideal["apply_flicker"] == 0
    assert ideal["apply_ssim_gt"] == pytest.approx(1) and ideal["apply_ssim_gt_face"] == pytest.approx(1)
    assert ideal["apply_seam"] == pytest.approx(1)


def test_the_copied_input_fails_and_a_paste_of_the_truth_lies_between(clip: dict[str, np.ndarray]) -> None:
    copy = _scores(clip["inputs"], clip)
    paste = _scores(_paste(clip["truth"], clip["inputs"], clip["blend"]), clip)
    assert copy["apply_background_l1"] == 0 and paste["apply_background_l1"] == 0
    assert copy["apply_l1_gt_face"] > 0.03 and copy["apply_ssim_gt_face"] < 0.9
    assert paste["apply_l1_gt_face"] < copy["apply_l1_gt_face"] / 5
    assert paste["apply_ssim_gt_face"] > copy["apply_ssim_gt_face"]
    assert 0 < paste["apply_l1_gt"] < copy["apply_l1_gt"]
    assert paste["apply_ssim_gt"] > copy["apply_ssim_gt"]


def test_a_hard_edge_is_a_seam_and_a_blur_is_not(clip: dict[str, np.ndarray]) -> None:
    hard = (clip["blend"] >= 0.5).astype(np.float32)
    brighter = np.clip(clip["truth"].astype(np.int16) + 40, 0, 255).astype(np.uint8)
    pasted = _paste(brighter, clip["truth"], hard)  # the truth with a brighter face cut in sharply
    seam = am.apply_scores(pasted, clip["truth"], clip["inputs"], clip["face"], hard)["apply_seam"]
    assert seam > 1.5
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in clip["truth"]])
    assert _scores(blurred, clip)["apply_seam"] < 0.8


def test_flicker_counts_changes_the_truth_does_not_have(clip: dict[str, np.ndarray]) -> None:
    shifts = np.array([0, 30, 0, 30, 0, 30], np.int16)[:, None, None, None]
    jitter = np.clip(clip["truth"].astype(np.int16) + shifts * clip["face"][..., None], 0, 255).astype(
        np.uint8
    )
    assert _scores(jitter, clip)["apply_flicker"] > 0.05
    steady = np.clip(clip["truth"].astype(np.int16) + 30 * clip["face"][..., None], 0, 255).astype(np.uint8)
    assert _scores(steady, clip)["apply_flicker"] < _scores(jitter, clip)["apply_flicker"] / 5


def test_a_change_outside_the_blend_region_is_a_background_leak(clip: dict[str, np.ndarray]) -> None:
    leak = clip["inputs"].copy()
    corner = am.outside_blend(clip["blend"])
    corner[:, 16:] = False  # the top rows, outside the blend region
    leak[corner] = 255 - leak[corner]
    assert corner.any() and _scores(leak, clip)["apply_background_l1"] > 0.01


def test_without_truth_only_the_truthless_metrics(clip: dict[str, np.ndarray]) -> None:
    scores = am.apply_scores(clip["inputs"], None, clip["inputs"], clip["face"], clip["blend"])
    assert scores == {"apply_frames": FRAMES, "apply_face_found": None, "apply_background_l1": 0.0}


def test_shapes_must_agree(clip: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        am.apply_scores(clip["inputs"], clip["truth"], clip["inputs"][:2], clip["face"], clip["blend"])


def test_the_table_brackets_each_run_with_its_references(tmp_path: Path) -> None:
    """add_apply: a run's row gets its own apply scores, the pair's copy-input row the copied input's,
    and a ground-truth-paste row the ground-truth paste's, means over the pair's runs."""
    crops = {"l1_gt": 0.1, "ssim_gt": 0.5, "n_frames": 4}
    write_json(tmp_path / "run.json", {**crops, "names": {"A": "A", "B": "B"}})
    write_json(tmp_path / "copy.json", {**crops, "names": {"A": "A", "B": "B"}, "copy_input": True})
    df = build_table(
        {
            "A2B-x-s0": tmp_path / "run.json",
            "A2B-y-s0": tmp_path / "run.json",
            "A2B-copy": tmp_path / "copy.json",
        },
        {"A2B-x-s0": {"variant": "x", "steps": 3}, "A2B-y-s0": {"variant": "y", "steps": 3}},
    )

    def scored(l1: float) -> dict[str, float | None]:
        return {"apply_frames": 4, "apply_face_found": 1.0, "apply_l1_gt": l1, "apply_seam": None}

    for name, l1 in (("x", 0.05), ("y", 0.07)):
        write_json(
            tmp_path / f"{name}.json",
            {"run": scored(l1), "groundtruth_paste": scored(0.01 * l1), "copy_input": scored(0.1)},
        )
    table = add_apply(df, {"A2B-x-s0": tmp_path / "x.json", "A2B-y-s0": tmp_path / "y.json"}).set_index("run")
    assert table.loc["A2B-x-s0", "apply_l1_gt"] == 0.05 and table.loc["A2B-y-s0", "apply_l1_gt"] == 0.07
    assert table.loc["A2B-copy", "apply_l1_gt"] == 0.1 and table.loc["A2B-copy", "l1_gt"] == 0.1
    best = table.loc["A2B-groundtruth-paste"]
    assert best["variant"] == "ground-truth paste" and best["pair"] == "A2B"
    assert best["apply_l1_gt"] == pytest.approx(0.0006) and np.isnan(best["l1_gt"])
    assert "apply_seam" not in table  # no row has it
    assert list(table.columns)[-1] == "steps"  # training facts stay last
    summary = summary_table(table.reset_index()).set_index("variant")
    assert summary.loc["ground-truth paste", "apply_l1_gt"] < summary.loc["x", "apply_l1_gt"]
    assert {*table.reset_index().columns, *summary.reset_index().columns} <= set(
        get_glossary("translate").columns()
    )
