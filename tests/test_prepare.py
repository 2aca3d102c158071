"""Person-video preparation end to end on a short video cut from a real photo, and its failure modes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from faceoff.datasets.person_videos import SourceError, find_person_sources, iter_frames
from faceoff.datasets.prepared import load_split
from faceoff.faces.crop import landmark_box
from faceoff.faces.detect import make_detector, pick_face
from faceoff.faces.landmarks import make_landmarker
from faceoff.faces.track import BoxFollower, box_iou
from faceoff.io.video import write_video
from faceoff.prepare import PrepareError, prepare_person
from faceoff.prepare.persons import DEFAULTS, boxes_from_landmarks, crop_boxes, track_faces
from faceoff.prepare.report import StepTimer
from faceoff.synth import SynthSpec, write_person_videos

N_FRAMES = 36
SIZE = 256


def _offsets(n: int) -> np.ndarray:
    """A slow sway plus per-frame jitter, like a hand-held talking-head shot."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return np.stack([100 + 20 * np.sin(t / 6), 10 + 0 * t], axis=1).round().astype(int) + rng.integers(
        -3, 4, (n, 2)
    )


def _astronaut_frames(n: int) -> list[np.ndarray]:
    image = data.astronaut()
    return [image[dy : dy + SIZE, dx : dx + SIZE] for dx, dy in _offsets(n)]


def _settings(**overrides: object) -> dict:
    base = {
        "fps": None,
        "size": 96,
        "margin": 0.4,
        "detector": "mtcnn",
        "landmarks": "dlib",
        "smooth": 5,
        "detect_every": 3,
        "split": {"train": 20, "test": 8},
    }
    return {**base, **overrides}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``A.mp4``, its annotations, and a ground-truth rendering (colour-inverted frames)."""
    folder = tmp_path_factory.mktemp("persons")
    frames = _astronaut_frames(N_FRAMES)
    write_video(folder / "A.mp4", frames, fps=25)
    write_video(folder / "groundtruth" / "A_as_B.mp4", [255 - f for f in frames], fps=25)
    image = data.astronaut()
    box = pick_face(make_detector("dlib").detect(image), image.shape).detection.box
    landmarks = make_landmarker("dlib").predict(image, box)
    np.save(folder / "A.landmarks.npy", np.stack([landmarks - off for off in _offsets(N_FRAMES)]))
    return folder


@pytest.fixture(scope="module")
def prepared(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("prepared") / "A"
    gt = {"B": sources / "groundtruth" / "A_as_B.mp4"}
    return out, prepare_person(sources / "A.mp4", "A", out, _settings(), groundtruth=gt, progress=False)


def test_prepare_end_to_end(prepared: tuple[Path, dict]) -> None:
    out, report = prepared
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "test", "train"]
    assert json.loads((out / "report.json").read_text()) == report
    assert report["frames_decoded"] == report["faces_found"] == N_FRAMES
    assert report["frames_dropped"] == {"no_face": 0, "outside_split": N_FRAMES - 28, "unreadable": 0}
    assert report["detector_runs"] == N_FRAMES // 3  # tracked in between
    assert report["split"]["train"] == 20 and report["split"]["test"] == 8 and not report["split"]["shrunk"]
    assert {"decode", "detect", "landmarks", "crop", "mask", "write", "total"} <= set(report["timing_s"])

    train, test = load_split(out, "train"), load_split(out, "test")
    assert (len(train), len(test)) == (20, 8)
    np.testing.assert_array_equal(test.index, np.arange(N_FRAMES - 8, N_FRAMES))  # the last frames
    np.testing.assert_array_equal(train.index, np.arange(N_FRAMES - 28, N_FRAMES - 8))  # just before
    for split in (train, test):
        assert split.frames.shape == (len(split), 96, 96, 3) and split.frames.dtype == np.uint8
        assert split.landmarks.shape == (len(split), 68, 2) and split.landmarks.dtype == np.float32
        assert split.masks.shape == (len(split), 96, 96) and split.masks.dtype == np.uint8
        assert split.valid.shape == (len(split), 96, 96) and (split.valid == 1).all()  # box inside the frame
        assert (split.landmarks > 5).all() and (split.landmarks < 91).all()
        assert (split.masks.reshape(len(split), -1).mean(axis=1) > 0.15).all()
        # The ground truth is cut with the same boxes: inverted colours of the same crop.
        diff = np.abs(split.gt["B"].astype(int) - (255 - split.frames.astype(int)))
        assert diff.mean() < 8


def test_prepared_crops_hold_the_face_steady(prepared: tuple[Path, dict]) -> None:
    """The face sways 20 px and jitters 3 px in the frame; in the crops it stays put."""
    train = load_split(prepared[0], "train")
    centres = train.landmarks.mean(axis=1)
    assert np.abs(centres - 48).max() < 8
    frame_offsets = _offsets(N_FRAMES)[train.index]
    assert np.diff(centres, axis=0).std() < np.diff(frame_offsets, axis=0).std() / 2


def test_downscaled_detection_finds_the_same_faces(
    sources: Path, prepared: tuple[Path, dict], tmp_path: Path
) -> None:
    """``detect_size``: the detector sees a 96 px frame; boxes scale back, crops match full-size ones."""
    report = prepare_person(sources / "A.mp4", "A", tmp_path / "A", _settings(detect_size=96), progress=False)
    assert report["faces_found"] == N_FRAMES and report["detector_runs"] == N_FRAMES // 3
    small, full = load_split(tmp_path / "A", "train"), load_split(prepared[0], "train")
    np.testing.assert_array_equal(small.index, full.index)
    assert np.abs(small.landmarks.mean(axis=1) - full.landmarks.mean(axis=1)).max() < 3


def _astronaut_frames_folder(tmp_path: Path, sources: Path, n: int = 12) -> Path:
    """A person as a folder of ``frame_<i>.png`` files, with the video A's annotations beside it."""
    folder = tmp_path / "A"
    folder.mkdir()
    for index, frame in enumerate(_astronaut_frames(n)):
        Image.fromarray(frame).save(folder / f"frame_{index}.png")
    (tmp_path / "A.landmarks.npy").write_bytes((sources / "A.landmarks.npy").read_bytes())
    return folder


def test_annotations_frames_folder_and_fps(sources: Path, tmp_path: Path) -> None:
    """A frames folder with annotations needs no model; fps resampling keeps source indices."""
    folder = _astronaut_frames_folder(tmp_path, sources)
    settings = _settings(detector="annotations", landmarks="annotations", split={"train": 15, "test": 5})
    report = prepare_person(folder, "A", tmp_path / "out", settings, progress=False)
    assert report["split"]["shrunk"] and "shrunk" in report["split"]["note"]
    assert report["split"]["train"] + report["split"]["test"] == 12 and report["split"]["test"] == 3
    test = load_split(tmp_path / "out", "test")
    np.testing.assert_array_equal(test.index, [9, 10, 11])  # frame_10 sorts after frame_9
    expected = np.load(sources / "A.landmarks.npy")[9:12]
    got = test.landmarks - test.landmarks.mean(axis=1, keepdims=True)
    want = expected - expected.mean(axis=1, keepdims=True)
    scale = (got * want).sum() / (want * want).sum()  # annotations carried over up to the crop's scale
    np.testing.assert_allclose(got, scale * want, atol=0.5)

    half = [index for index, _ in iter_frames(sources / "A.mp4", fps=12.5)]
    assert half == list(range(0, N_FRAMES, 2))
    report = prepare_person(
        sources / "A.mp4", "A", tmp_path / "half", {**settings, "fps": 12.5}, progress=False
    )
    assert report["frames_decoded"] == N_FRAMES // 2
    assert load_split(tmp_path / "half", "test").index[-1] == N_FRAMES - 2


def test_unreadable_images_in_a_frames_folder_are_skipped_and_counted(sources: Path, tmp_path: Path) -> None:
    folder = _astronaut_frames_folder(tmp_path, sources)
    (folder / "frame_4.png").write_bytes(b"")  # zero bytes
    (folder / "frame_7.png").write_bytes((folder / "frame_7.png").read_bytes()[:200])  # truncated
    settings = _settings(detector="annotations", landmarks="annotations", split={"train": 6, "test": 4})
    report = prepare_person(folder, "A", tmp_path / "out", settings, progress=False)
    assert report["frames_decoded"] == 10 and report["frames_dropped"]["unreadable"] == 2
    kept = np.concatenate([load_split(tmp_path / "out", name).index for name in ("train", "test")])
    assert 4 not in kept and 7 not in kept and len(kept) == 10

    broken = tmp_path / "B"
    broken.mkdir()
    (broken / "frame_0.png").write_bytes(b"not an image")
    (tmp_path / "B.landmarks.npy").write_bytes((sources / "A.landmarks.npy").read_bytes())
    with pytest.raises(PrepareError, match="not a single frame could be decoded"):
        prepare_person(broken, "B", tmp_path / "outB", settings, progress=False)
    assert not (tmp_path / "outB").exists()


def test_find_person_sources(tmp_path: Path) -> None:
    (tmp_path / "A.MKV").write_bytes(b"x")
    (tmp_path / "A.landmarks.npy").write_bytes(b"x")
    (tmp_path / "B").mkdir()
    (tmp_path / "C.avi").write_bytes(b"x")
    (tmp_path / "C").mkdir()
    assert find_person_sources(tmp_path, ["A", "B"]) == {"A": tmp_path / "A.MKV", "B": tmp_path / "B"}
    with pytest.raises(SourceError, match=rf"'D'.*{tmp_path}"):
        find_person_sources(tmp_path, ["A", "D"])
    with pytest.raises(SourceError, match="several sources"):
        find_person_sources(tmp_path, ["C"])
    with pytest.raises(SourceError, match="not found"):
        find_person_sources(tmp_path / "nowhere", ["A"])


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _no_face_video(path: Path) -> Path:
    coffee = data.coffee()[:128, :128]
    write_video(path, [np.roll(coffee, k, axis=1) for k in range(6)], fps=25)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "not found"),
        (lambda d: _file(d / "empty.mp4", b""), "empty"),
        (
            lambda d: _file(d / "garbage.mp4", b"\x00junk" * 500),
            "not a readable video",
        ),
        (lambda d: _no_face_video(d / "coffee.mp4"), "no face found"),
        (lambda d: (d / "frames").mkdir() or d / "frames", "holds no"),
    ],
    ids=["missing", "zero-byte", "garbage", "no-face", "empty-folder"],
)
def test_bad_inputs_fail_clearly_and_leave_nothing(tmp_path: Path, make, message: str) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = make(inputs)
    out = tmp_path / "out" / "A"
    with pytest.raises(PrepareError, match=message) as info:
        prepare_person(source, "A", out, _settings(detector="mtcnn"), progress=False)
    assert str(source) in str(info.value)
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_annotations_and_settings(sources: Path, tmp_path: Path) -> None:
    with pytest.raises(PrepareError, match=r"B\.landmarks\.npy"):
        prepare_person(
            sources / "A.mp4", "B", tmp_path / "B", _settings(detector="annotations"), progress=False
        )
    with pytest.raises(PrepareError, match="'size'"):
        prepare_person(
            sources / "A.mp4", "A", tmp_path / "A", {"split": {"train": 1, "test": 1}}, progress=False
        )
    assert not any(tmp_path.iterdir())


def test_several_faces_are_reported(tmp_path: Path) -> None:
    """dlib's HOG also fires on the astronaut's suit: the face is kept and the frames counted."""
    image = data.astronaut()
    write_video(tmp_path / "A.mp4", [np.roll(image, k, axis=1) for k in range(3)], fps=25)
    settings = _settings(detector="dlib", detect_every=1, split={"train": 2, "test": 1})
    report = prepare_person(tmp_path / "A.mp4", "A", tmp_path / "out", settings, progress=False)
    assert report["several_faces_kept_one"] == 3 and report["faces_found"] == 3
    centres = load_split(tmp_path / "out", "train").landmarks.mean(axis=1)
    assert np.abs(centres - 48).max() < 8  # the crop is on the face, not the suit


def test_short_groundtruth_fails_clearly(sources: Path, tmp_path: Path) -> None:
    short = tmp_path / "A_as_C.mp4"
    write_video(short, _astronaut_frames(10), fps=25)
    settings = _settings(detector="annotations", landmarks="annotations")
    with pytest.raises(PrepareError, match=rf"{short}.*ends before frame"):
        prepare_person(
            sources / "A.mp4", "A", tmp_path / "A", settings, groundtruth={"C": short}, progress=False
        )
    assert not (tmp_path / "A").exists()


# ---------------------------------------------------------------- tracking between detections

TRACKED = {"size": 96, "margin": 0.5, "smooth": 9, "split": {"train": 1, "test": 1}}  # params.yaml's persons


def _iou(boxes: np.ndarray, reference: np.ndarray) -> np.ndarray:
    assert not np.isnan(boxes).any() and not np.isnan(reference).any()  # a face in every frame
    return box_iou(boxes, reference)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256 px synthetic talking head (the bench's video) with its exact landmarks."""
    folder = tmp_path_factory.mktemp("synthetic")
    write_person_videos(folder, SynthSpec(["A"], n_frames=80, size=256))
    return folder


def test_box_follower_moves_the_box_with_the_face() -> None:
    """Shift, scale and roll the face (frame and landmarks alike): the carried box is the detection's
    moved the same way; landmarks that stop fitting, or a box that no longer shows the face, ask for
    a detector run."""
    image = np.asarray(Image.fromarray(data.astronaut()).resize((SIZE, SIZE), Image.BILINEAR))
    box = pick_face(make_detector("mtcnn").detect(image), image.shape).detection.box
    points = make_landmarker("dlib").predict(image, box)
    follower = BoxFollower()
    follower.detected(box)
    assert follower.follow(points, image)  # the detection's own landmarks: the reference
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    for angle, scale, shift in [(0, 1.0, (9, -4)), (8, 1.15, (-6, 5)), (-10, 0.9, (3, 7))]:
        move = cv2.getRotationMatrix2D(tuple(centre), angle, scale)
        move[:, 2] += shift
        frame = cv2.warpAffine(image, move, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
        assert follower.follow(points @ move[:, :2].T + move[:, 2], frame)
        x0, y0, x1, y1 = follower.box
        np.testing.assert_allclose(
            [(x0 + x1) / 2, (y0 + y1) / 2], move[:, :2] @ centre + move[:, 2], atol=0.5
        )
        np.testing.assert_allclose(
            [x1 - x0, y1 - y0], [scale * (box[2] - box[0]), scale * (box[3] - box[1])], rtol=0.01
        )
    carried = follower.box
    rng = np.random.default_rng(0)
    assert not follower.follow(points + rng.normal(0, 8, points.shape), image)  # no longer a moved face
    assert not follower.follow(points, data.coffee()[:SIZE, :SIZE])  # the same landmarks, another picture
    assert follower.box == carried  # unchanged until the detector runs


def test_tracking_matches_every_frame_detection_on_synthetic_video(synthetic: Path) -> None:
    """The default (MTCNN every 10th frame, dlib landmarks in the carried box) cuts the crops that
    detection on every frame cuts, and is as close as it to the exact crops."""
    assert DEFAULTS["detect_every"] > 1
    video = synthetic / "A.mp4"
    index, tracked = crop_boxes(video, "A", TRACKED)
    _, every = crop_boxes(video, "A", {**TRACKED, "detect_every": 1})
    exact = boxes_from_landmarks(np.load(synthetic / "A.landmarks.npy")[index], {**DEFAULTS, **TRACKED})
    iou = _iou(tracked, every)
    assert iou.mean() >= 0.95 and iou.min() >= 0.9, (iou.mean(), iou.min())
    assert _iou(tracked, exact).mean() >= _iou(every, exact).mean() - 0.02


def _camera_clip(n: int, cut: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """The astronaut photo through a camera that sways and zooms in to 1.3x and out again (and from
    frame ``cut`` on is pointed 40 px further left), with each frame's landmarks: the photo's, mapped."""
    image = data.astronaut()
    detection = pick_face(make_detector("mtcnn").detect(image), image.shape).detection
    photo = make_landmarker("dlib").predict(image, detection.box)
    frames, points = [], []
    for t in range(n):
        zoom = 1.0 + 0.3 * (0.5 - 0.5 * np.cos(2 * np.pi * t / n))
        cx = 228 + 20 * np.sin(2 * np.pi * t / 24) - (40 if cut is not None and t >= cut else 0)
        cy, half = 172 + 10 * np.sin(2 * np.pi * t / 17), 160 / zoom
        window = (cx - half, cy - half, cx + half, cy + half)
        frames.append(np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.BILINEAR, box=window)))
        points.append((photo - window[:2]) * (SIZE / (2 * half)))
    return frames, np.stack(points)


def test_tracking_follows_a_real_face_that_moves_and_zooms(tmp_path: Path) -> None:
    frames, truth = _camera_clip(48)
    write_video(tmp_path / "A.mp4", frames, fps=25)
    _, tracked = crop_boxes(tmp_path / "A.mp4", "A", TRACKED)
    _, every = crop_boxes(tmp_path / "A.mp4", "A", {**TRACKED, "detect_every": 1})
    iou = _iou(tracked, every)
    assert iou.mean() >= 0.95 and iou.min() >= 0.9, (iou.mean(), iou.min())
    exact = boxes_from_landmarks(truth, {**DEFAULTS, **TRACKED})
    assert _iou(tracked, exact).mean() >= _iou(every, exact).mean() - 0.02


def test_tracking_detects_again_at_a_cut() -> None:
    """After a cut the landmarks predicted in the old box still look like a face; the pixels in it
    do not, so the detector runs on that very frame instead of at its next scheduled one."""
    frames, truth = _camera_clip(30, cut=13)
    detector, landmarker = make_detector("mtcnn"), make_landmarker("dlib")
    tracked = list(track_faces(enumerate(frames), detector, landmarker, None, 10, None, StepTimer()))
    assert [t.index for t in tracked if t.detector_runs] == [0, 10, 13, 20]
    found = np.array([landmark_box(t.landmarks) for t in tracked])
    assert _iou(found, np.array([landmark_box(points) for points in truth])).min() >= 0.7
