"""The synthetic renderer: determinism, landmark/mask consistency, the writer, and realism."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from faceoff.config import load_params
from faceoff.io.atomic import read_json
from faceoff.io.video import read_frames
from faceoff.synth import (
    EXPRESSION_PRESETS,
    Expression,
    Lighting,
    Pose,
    SynthSpec,
    person_identity,
    person_motion,
    read_person,
    recorded_like,
    render_face,
    sample_expression,
    sample_identity,
    sample_lighting,
    sample_pose,
    talking_head_sequence,
    write_person_videos,
)


def _random_face(seed: int, size: int = 128):
    rng = np.random.default_rng(seed)
    return render_face(
        sample_identity(rng), sample_expression(rng), sample_pose(rng), sample_lighting(rng), size
    )


def _talking_frames(n_ids: int, per_id: int, size: int):
    for k in range(n_ids):
        rng = np.random.default_rng(100 + k)
        identity = sample_identity(rng)
        for f in talking_head_sequence(rng, per_id * 6, 25.0)[::6]:
            yield render_face(identity, f.expression, f.pose, f.lighting, size)


def test_same_seed_same_pixels() -> None:
    a, b, c = _random_face(3), _random_face(3), _random_face(4)
    assert a.image.dtype == np.uint8 and a.image.shape == (128, 128, 3)
    assert a.landmarks.dtype == np.float32 and a.landmarks.shape == (68, 2)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.landmarks, b.landmarks)
    assert not np.array_equal(a.image, c.image)
    seq1 = talking_head_sequence(np.random.default_rng(5), 30, 25.0)
    assert seq1 == talking_head_sequence(np.random.default_rng(5), 30, 25.0)


@pytest.mark.parametrize("seed", range(12))
def test_landmarks_inside_and_covered_by_mask(seed: int) -> None:
    face = _random_face(seed, 160)
    assert np.all((face.landmarks >= 0) & (face.landmarks < 160))
    assert set(np.unique(face.mask)) <= {0, 1}
    hull = Image.new("L", (160, 160), 0)
    outline = np.concatenate([face.landmarks[:17], face.landmarks[26:16:-1]])
    ImageDraw.Draw(hull).polygon(outline.ravel().tolist(), fill=1)
    inside = np.asarray(hull, dtype=bool)
    assert face.mask[inside].mean() > 0.99
    assert face.mask.mean() < 0.5 * inside.mean() + 0.5  # the mask is the face, not the frame


def test_landmark_layout_is_ibug() -> None:
    lm = render_face(
        sample_identity(np.random.default_rng(0)), Expression(), Pose(), Lighting(), 256
    ).landmarks
    x, y = lm[:, 0], lm[:, 1]
    assert x[0] < x[8] < x[16] and y[8] == y[:17].max()  # jaw image-left -> chin -> image-right
    assert x[17] < x[21] < x[22] < x[26] and y[17:27].max() < y[36:48].min()  # brows above eyes
    assert x[36] < x[39] < x[42] < x[45]  # right eye (image-left) outer -> inner, then left eye
    assert y[27] < y[28] < y[29] < y[30] < y[33]  # nose bridge downwards, nostrils below
    assert x[48] < x[51] < x[54] and y[51] < y[62] <= y[66] < y[57]  # lips top to bottom


def test_expression_presets_move_the_landmarks() -> None:
    identity = sample_identity(np.random.default_rng(1))
    assert sorted(EXPRESSION_PRESETS) == ["AN", "DI", "FE", "HA", "NE", "SA", "SU"]
    lm = {
        k: render_face(identity, e, Pose(), Lighting(), 128).landmarks for k, e in EXPRESSION_PRESETS.items()
    }

    def mouth_gap(p: np.ndarray) -> float:
        return float(p[66, 1] - p[62, 1])

    def brow_height(p: np.ndarray) -> float:
        return float(p[36:48, 1].mean() - p[17:27, 1].mean())

    assert mouth_gap(lm["SU"]) > mouth_gap(lm["NE"]) + 5
    assert brow_height(lm["SU"]) > brow_height(lm["NE"]) > brow_height(lm["AN"])
    assert lm["HA"][[48, 54], 1].mean() < lm["NE"][[48, 54], 1].mean() < lm["SA"][[48, 54], 1].mean()


def test_talking_head_is_smooth_and_moves() -> None:
    identity = sample_identity(np.random.default_rng(2))
    seq = talking_head_sequence(np.random.default_rng(2), 100, 25.0)
    lm = np.stack([render_face(identity, f.expression, f.pose, f.lighting, 128).landmarks for f in seq])
    width = (lm[:, 16, 0] - lm[:, 0, 0]) / 128
    assert width.min() > 0.3 and width.max() < 0.6  # a talking head filling 35-55% of the frame
    centre = lm[:, 27:36].mean(1)
    step = np.linalg.norm(np.diff(centre, axis=0), axis=1)
    assert step.max() < 4.0 and np.ptp(centre, axis=0).max() > 4.0
    eye_open = np.array([f.expression.eye_open for f in seq])
    assert eye_open.min() < 0.2 and np.median(eye_open) > 0.5  # blinks, but eyes mostly open
    mouth = np.array([f.expression.mouth_open for f in seq])
    assert np.ptp(mouth) > 0.15  # speech


def test_writer_files_and_ground_truth(tmp_path: Path) -> None:
    n, size = 12, 96
    write_person_videos(
        tmp_path,
        SynthSpec(["A", "B"], n_frames=n, size=size, fps=25.0, seed=7, ground_truth_pairs=[("A", "B")]),
    )
    for item in "AB":
        frames = np.stack(list(read_frames(tmp_path / f"{item}.mp4")))
        assert frames.shape == (n, size, size, 3)
        landmarks = np.load(tmp_path / f"{item}.landmarks.npy")
        assert landmarks.shape == (n, 68, 2) and landmarks.dtype == np.float32
        identity, motion, size_json = read_person(tmp_path / f"{item}.json")
        assert identity == person_identity(7, item) and size_json == size and len(motion) == n
        rerender = render_face(identity, motion[3].expression, motion[3].pose, motion[3].lighting, size)
        assert np.allclose(rerender.landmarks, landmarks[3])
        assert np.abs(rerender.image.astype(float) - frames[3]).mean() < 4  # H.264 at crf 18
    assert read_json(tmp_path / "A.json")["item"] == "A"
    assert person_identity(7, "A") != person_identity(7, "B")

    truth = np.stack(list(read_frames(tmp_path / "groundtruth" / "A_as_B.mp4")))
    assert truth.shape == (n, size, size, 3)
    b_identity, a_motion = person_identity(7, "B"), person_motion(7, "A", n, 25.0)
    in_b = recorded_like(a_motion, person_motion(7, "B", n, 25.0))
    expected = [render_face(b_identity, f.expression, f.pose, f.lighting, size) for f in in_b]
    assert np.abs(expected[5].image.astype(float) - truth[5]).mean() < 4
    # B's recording, not A's: under A's light the same frame is off by more than the codec's error.
    in_a = render_face(b_identity, a_motion[5].expression, a_motion[5].pose, a_motion[5].lighting, size)
    assert np.abs(in_a.image.astype(float) - truth[5]).mean() > 8
    # The ground truth moves with A: its landmark trajectory follows A's, not B's own motion.
    a_lm = np.load(tmp_path / "A.landmarks.npy")
    b_lm = np.load(tmp_path / "B.landmarks.npy")
    gt_lm = np.stack([e.landmarks for e in expected])
    track = lambda lm: lm[:, 27:36].mean(1) - lm[:, 27:36].mean((0, 1))  # noqa: E731
    assert np.abs(track(gt_lm) - track(a_lm)).mean() < 0.5 * np.abs(track(gt_lm) - track(b_lm)).mean()
    gap = lambda lm: lm[:, 66, 1] - lm[:, 62, 1]  # noqa: E731
    assert np.corrcoef(gap(gt_lm), gap(a_lm))[0, 1] > 0.95


def test_a_ground_truth_is_the_source_moving_in_the_targets_recording() -> None:
    """Pose, expression and the light's turning come from the source's frames; the light's strength,
    ambient level, height and mean direction from the target's recording, which is all a translator
    trained on the target's frames can learn of it."""
    a, b = person_motion(3, "A", 50, 25.0), person_motion(3, "B", 50, 25.0)
    truth = recorded_like(a, b)
    assert [(f.pose, f.expression) for f in truth] == [(f.pose, f.expression) for f in a]
    for key in ("intensity", "ambient", "elevation"):
        assert {getattr(f.lighting, key) for f in truth} == {getattr(b[0].lighting, key)}
        assert getattr(a[0].lighting, key) != getattr(b[0].lighting, key)
    turn = lambda motion: np.array([f.lighting.azimuth for f in motion])  # noqa: E731
    assert np.isclose(turn(truth).mean(), turn(b).mean())
    np.testing.assert_allclose(turn(truth) - turn(truth).mean(), turn(a) - turn(a).mean(), atol=1e-12)
    assert np.ptp(turn(a)) > 0.05  # the light does turn


def test_persons_differ_clearly() -> None:
    faces = [person_identity(0, item) for item in "ABCD"]
    skins = np.array([f.skin for f in faces])
    backgrounds = np.array([f.background_top for f in faces])
    for i in range(4):
        for j in range(i + 1, 4):
            distinct_colours = (
                np.abs(skins[i] - skins[j]).sum() + np.abs(backgrounds[i] - backgrounds[j]).sum()
            )
            assert distinct_colours > 40 or faces[i].hair_style != faces[j].hair_style


@pytest.mark.slow
def test_real_detectors_accept_the_faces() -> None:
    """MTCNN finds >= 95% of faces; dlib's 68-point predictor agrees with our landmarks (NME <= 0.10)."""
    import dlib
    from facenet_pytorch import MTCNN

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
        import face_recognition_models

    mtcnn = MTCNN(keep_all=False, device="cpu")
    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    found, errors = [], []
    for face in _talking_frames(n_ids=5, per_id=8, size=256):
        boxes, _ = mtcnn.detect(Image.fromarray(face.image))
        found.append(boxes is not None)
        rects = hog(face.image, 0)
        if len(rects):
            rect = rects[0]
        elif boxes is not None:
            rect = dlib.rectangle(*(int(v) for v in boxes[0]))
        else:
            continue
        shape = predictor(face.image, rect)
        pred = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        iod = np.linalg.norm(face.landmarks[36] - face.landmarks[45])
        errors.append(np.linalg.norm(pred - face.landmarks, axis=1).mean() / iod)
    assert len(found) == 40
    assert np.mean(found) >= 0.95
    assert np.mean(errors) <= 0.10


@pytest.mark.parametrize("n_frames", [1, 3])
def test_clips_shorter_than_the_smoothing_window(tmp_path: Path, n_frames: int) -> None:
    from faceoff.datasets.registry import get_kind

    get_kind("person_videos").synth(
        tmp_path, SynthSpec(items=["A"], n_frames=n_frames, size=48, fps=25, seed=0, ground_truth_pairs=[])
    )
    assert len(list(read_frames(tmp_path / "A.mp4"))) == n_frames
    assert np.load(tmp_path / "A.landmarks.npy").shape == (n_frames, 68, 2)


# `faceoff synth` of each dataset (argv: params, output root, datasets) on the given CPUs only:
# libx264 counts them, not OMP_NUM_THREADS, to choose its threads.
_SYNTH_ON_CPUS = """
import os, sys
from faceoff.cli import main
os.sched_setaffinity(0, {})
config, out, *datasets = sys.argv[1:]
for dataset in datasets:
    if main(["-c", config, "synth", "--dataset", dataset, "--out", os.path.join(out, dataset)]):
        sys.exit(f"faceoff synth --dataset {{dataset}} failed")
"""


def test_synth_renders_the_same_bytes_in_two_processes(tmp_path: Path, repo: Path) -> None:
    """Every dataset kind renders byte-identical files under other hash seeds, thread counts and CPUs.

    The smoke datasets, shortened, at 128 px: from that height on, libx264's default threading
    cut each frame into one slice per CPU the process may use, which changed the videos' bytes
    and decoded pixels (the FF++ difference). On a one-CPU machine the CPU sets cannot differ.
    """
    from faceoff.datasets.registry import all_kinds

    params = load_params([repo / "params.yaml", repo / "config/smoke.yaml"])
    synthetic = [name for name, ds in params["datasets"].items() if ds.get("synthetic")]
    builtin = {name for name, kind in all_kinds().items() if kind.synth.__module__.startswith("faceoff.")}
    assert {params["datasets"][name]["kind"] for name in synthetic} == builtin
    for name in synthetic:
        params["datasets"][name]["synthetic"].update(frames=3, size=128)
    config = tmp_path / "params.yaml"
    config.write_text(yaml.safe_dump(params, sort_keys=False))
    cpus = sorted(os.sched_getaffinity(0))
    sides = {"one": ("0", "1", cpus[:1]), "all": ("4321", str(len(cpus) + 1), cpus)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SYNTH_ON_CPUS.format(set(on)),
                str(config),
                str(tmp_path / side),
                *synthetic,
            ],
            env={**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": threads},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for side, (hash_seed, threads, on) in sides.items()
    ]
    for proc in procs:
        log = proc.communicate(timeout=900)[0]
        assert proc.returncode == 0, log
    files = {side: _files(tmp_path / side) for side in sides}
    assert files["one"].keys() == files["all"].keys()
    assert {Path(f).suffix for f in files["one"]} >= {".mp4", ".avi", ".tiff", ".png", ".jpg", ".npy"}
    differ = [f for f in files["one"] if files["one"][f] != files["all"][f]]
    assert not differ, f"rendered differently in two processes: {differ}"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
