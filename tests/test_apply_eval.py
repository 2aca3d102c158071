"""The apply evaluation on a rendered person video: the held-out segment is read as prepare indexes it,
pasted back with faceoff.apply's engine, scored with both references, and written as the DAG's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceoff import cli
from faceoff.apply import ApplyOptions, annotation_lookup, apply_frames, cut
from faceoff.evaluate.apply_run import REFERENCES, Paste, Segment, evaluate_apply, read_segment
from faceoff.io.atomic import read_json
from faceoff.io.video import read_frames
from faceoff.synth.person_videos import write_person_videos
from faceoff.synth.spec import SynthSpec

from .conftest import REPO

SIZE, FIRST, LAST = 96, 4, 11


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Persons A and B, 12 frames each, and A's frames rendered as B."""
    root = tmp_path_factory.mktemp("persons")
    write_person_videos(root, SynthSpec(["A", "B"], n_frames=12, size=SIZE, ground_truth_pairs=[("A", "B")]))
    return root


@pytest.fixture(scope="module")
def segment(raw: Path) -> Segment:
    return read_segment(
        raw / "A.mp4",
        FIRST,
        LAST,
        truth=raw / "groundtruth" / "A_as_B.mp4",
        landmarks=annotation_lookup(raw / "A.landmarks.npy"),
        max_frames=6,
    )


def _paste(segment: Segment) -> Paste:
    options = ApplyOptions(size=40, crop_size=32, detector="annotations", landmarks="annotations", smooth=3)
    return lambda frames, translate: apply_frames(frames, translate, options, segment.landmarks)


def test_the_segment_is_the_source_frames_and_their_truth(raw: Path, segment: Segment) -> None:
    video = np.stack(list(read_frames(raw / "A.mp4")))
    truth = np.stack(list(read_frames(raw / "groundtruth" / "A_as_B.mp4")))
    assert segment.index.tolist() == list(range(FIRST, FIRST + 6))  # at most max_frames
    assert np.array_equal(segment.frames, video[FIRST : FIRST + 6])
    assert segment.truth is not None and np.array_equal(segment.truth, truth[FIRST : FIRST + 6])
    landmarks = np.load(raw / "A.landmarks.npy")
    assert segment.landmarks is not None and np.array_equal(segment.landmarks(2), landmarks[FIRST + 2])


def test_a_run_is_scored_between_its_references_and_written(segment: Segment, tmp_path: Path) -> None:
    """With the identity translator as the run, the run is the input pasted back onto itself: it
    scores like the copied input, and the ground-truth paste far better inside the face."""
    result = evaluate_apply(
        lambda crops, faces: crops, _paste(segment), cut, segment, tmp_path, names=("A", "B")
    )
    assert result == read_json(tmp_path / "apply_metrics.json")
    assert result["segment"] == {"first": FIRST, "last": FIRST + 5, "frames": 6}
    run, best, copy = (result[k] for k in ("run", "groundtruth_paste", "copy_input"))
    assert set(REFERENCES) <= result.keys()
    for scores in (run, best, copy):
        assert scores["apply_frames"] == 6 and scores["apply_face_found"] == 1
        assert scores["apply_background_l1"] == 0  # nothing changes outside the blend region
    assert run["apply_l1_gt_face"] == pytest.approx(copy["apply_l1_gt_face"], abs=0.02)
    assert best["apply_l1_gt_face"] < copy["apply_l1_gt_face"] / 2
    assert (
        best["apply_l1_gt"] < copy["apply_l1_gt"] and best["apply_ssim_gt_face"] > copy["apply_ssim_gt_face"]
    )
    applied = np.stack(list(read_frames(tmp_path / "apply.mp4")))
    assert applied.shape == (6, SIZE, SIZE, 3)
    panels = next(read_frames(tmp_path / "apply_side_by_side.mp4"))
    assert panels.shape == (SIZE, 4 * SIZE, 3)  # input | run | ground-truth paste | truth


def test_without_truth_only_the_copy_reference(segment: Segment, tmp_path: Path) -> None:
    real = Segment(segment.frames, segment.index, None, segment.landmarks)
    result = evaluate_apply(lambda crops, faces: crops, _paste(real), cut, real, tmp_path)
    assert "groundtruth_paste" not in result and "apply_l1_gt" not in result["run"]
    assert result["copy_input"]["apply_background_l1"] == 0
    assert next(read_frames(tmp_path / "apply_side_by_side.mp4")).shape == (SIZE, 2 * SIZE, 3)


def test_a_segment_outside_the_video_is_an_error(raw: Path) -> None:
    with pytest.raises(ValueError, match="no frame between 40 and 50"):
        read_segment(raw / "A.mp4", 40, 50)


def test_the_step_names_what_to_run_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`faceoff apply-eval` before prepare: one line naming the missing file and the command."""
    override = tmp_path / "where.yaml"
    override.write_text(f"output_dir: {tmp_path / 'results'}\n")
    config = ["-c", str(REPO / "params.yaml"), "-c", str(REPO / "config/smoke.yaml"), "-c", str(override)]
    assert cli.main([*config, "apply-eval", "--run", "faceoff/A2B-baseline-s0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("faceoff: error: ") and "Traceback" not in error
    assert "prepared/persons/A/report.json: not found" in error
    assert "`faceoff prepare --dataset persons --item A`" in error
