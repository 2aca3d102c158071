"""Face detection, landmarks, crops, masks and identity embeddings on real photos (skimage.data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from faceoff.faces.crop import (
    FILL,
    apply_affine,
    crop_and_resize,
    inside_frame,
    landmark_box,
    smooth_boxes,
    square_box,
)
from faceoff.faces.detect import Detection, make_detector, pick_face
from faceoff.faces.identity import DlibFaceEmbedder, cosine_similarity
from faceoff.faces.landmarks import FANLandmarker, make_landmarker
from faceoff.faces.mask import face_mask

# The astronaut's face in skimage.data.astronaut() (512x512), measured with both detectors.
FACE_CENTRE = np.array([222.0, 118.0])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut: np.ndarray) -> np.ndarray:
    box = pick_face(make_detector("dlib").detect(astronaut), astronaut.shape).detection.box
    return make_landmarker("dlib").predict(astronaut, box)


def _centre(box: tuple[float, float, float, float]) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def test_mtcnn_finds_the_astronaut(astronaut: np.ndarray) -> None:
    detector = make_detector("mtcnn")
    found = detector.detect(astronaut)
    pick = pick_face(found, astronaut.shape)
    assert not pick.several and pick.detection.score > 0.99
    x0, y0, x1, y1 = pick.detection.box
    assert np.abs(_centre(pick.detection.box) - FACE_CENTRE).max() < 15
    assert 70 < x1 - x0 < 120 and 80 < y1 - y0 < 130
    batch = detector.detect_batch([astronaut, astronaut[:, ::-1].copy()])
    assert batch[0] == found and len(batch[1]) == 1
    assert abs(_centre(batch[1][0].box)[0] - (512 - FACE_CENTRE[0])) < 15


def test_dlib_detector_and_pick_face_keep_the_real_face(astronaut: np.ndarray) -> None:
    found = make_detector("dlib").detect(astronaut)
    assert len(found) >= 2  # HOG also fires on the suit: pick_face must keep the face
    pick = pick_face(found, astronaut.shape)
    assert pick.several and all(0 <= d.score <= 1 for d in found)
    assert np.abs(_centre(pick.detection.box) - FACE_CENTRE).max() < 15


def test_pick_face_ranks_score_times_visible_area() -> None:
    small_sure = Detection((0, 0, 10, 10), 0.99)
    large = Detection((20, 20, 80, 80), 0.9)
    outside = Detection((200, 200, 400, 400), 1.0)
    assert pick_face([small_sure, large, outside], (100, 100, 3)) == (large, 3)
    assert pick_face([], (100, 100, 3)) == (None, 0)
    assert pick_face([outside], (100, 100, 3)).detection is None
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("yolo")


def test_dlib_landmarks_lie_on_the_face(astronaut_landmarks: np.ndarray) -> None:
    lm = astronaut_landmarks
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    assert np.abs(lm.mean(axis=0) - FACE_CENTRE).max() < 20
    eyes, nose_tip, mouth, chin = lm[36:48, 1].mean(), lm[30], lm[48:68, 1].mean(), lm[8, 1]
    assert eyes < nose_tip[1] < mouth < chin
    assert lm[36:42, 0].mean() < nose_tip[0] < lm[42:48, 0].mean()  # image-left eye, nose, image-right eye


def test_fan_without_weights_names_the_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"2DFAN4-.*\.pth\.tar") as info:
        FANLandmarker()
    assert str(tmp_path / "hub" / "checkpoints") in str(info.value)
    assert not any(tmp_path.rglob("*.pth.tar"))  # nothing was downloaded


def test_crop_fills_outside_the_frame_with_black_not_replicated_edges() -> None:
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    image[:, 0] = (255, 0, 0)  # left column red
    image[:, 1:] = (0, 0, 255)
    box = (-20.0, 0.0, 20.0, 40.0)  # half of it left of the frame
    crop, affine = crop_and_resize(image, box, 40)
    assert crop.shape == (40, 40, 3) and crop.dtype == np.uint8
    assert (crop[:, :20] == FILL).all()  # no streak of the red edge column
    assert (crop[:, 24:] == (0, 0, 255)).all()
    assert (inside_frame(image.shape, box, 40) == (np.arange(40)[None, :] >= 20)).all()
    corners = apply_affine(np.array([[-20.0, 0.0], [20.0, 40.0], [0.0, 20.0]]), affine)
    np.testing.assert_allclose(corners, [[0, 0], [40, 40], [20, 20]], atol=1e-5)


def test_crop_affine_carries_landmarks(astronaut: np.ndarray, astronaut_landmarks: np.ndarray) -> None:
    box = square_box(landmark_box(astronaut_landmarks), 0.4)
    assert box[2] - box[0] == pytest.approx(box[3] - box[1])
    crop, affine = crop_and_resize(astronaut, box, 128)
    inside = apply_affine(astronaut_landmarks, affine)
    assert inside.min() > 128 * 0.4 / 1.8 - 1 and inside.max() < 128 * 1.4 / 1.8 + 1
    # The nose tip in the crop is the same pixel as in the frame.
    nx, ny = astronaut_landmarks[30].astype(int)
    cx, cy = inside[30].astype(int)
    assert np.abs(crop[cy, cx].astype(int) - astronaut[ny, nx].astype(int)).max() < 40


def test_smoothing_reduces_box_jitter() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(120)
    centre = np.stack([200 + 30 * np.sin(t / 20), 150 + 10 * np.cos(t / 15)], axis=1)
    centre += rng.normal(0, 3, centre.shape)
    side = 100 + rng.normal(0, 4, len(t))
    boxes = np.concatenate([centre - side[:, None] / 2, centre + side[:, None] / 2], axis=1)
    valid = np.ones(len(t), dtype=bool)
    valid[50:53] = False
    boxes[50:53] = np.nan

    smooth = smooth_boxes(boxes, 9, valid)

    def jitter(b: np.ndarray) -> float:
        c = (b[valid, :2] + b[valid, 2:]) / 2
        return float(np.diff(c, axis=0).std())

    assert jitter(smooth) < jitter(boxes) / 3
    assert np.isnan(smooth[50:53]).all() and np.isfinite(smooth[valid]).all()
    np.testing.assert_allclose(smooth[valid, 2] - smooth[valid, 0], smooth[valid, 3] - smooth[valid, 1])
    assert (
        np.abs((smooth[valid, :2] + smooth[valid, 2:]) / 2 - (boxes[valid, :2] + boxes[valid, 2:]) / 2).max()
        < 10
    )
    np.testing.assert_array_equal(smooth_boxes(boxes, 1, valid), boxes)
    short = smooth_boxes(boxes[:3], 9)  # window longer than the video: the mean of all frames
    np.testing.assert_allclose(short[:, 0] - short[0, 0], 0, atol=1e-9)


def test_face_mask_covers_face_and_forehead(astronaut: np.ndarray, astronaut_landmarks: np.ndarray) -> None:
    _, affine = crop_and_resize(astronaut, square_box(landmark_box(astronaut_landmarks), 0.4), 96)
    lm = apply_affine(astronaut_landmarks, affine)
    mask = face_mask(lm, 96)
    assert mask.shape == (96, 96) and mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert 0.15 < mask.mean() < 0.6
    for point in (lm[30], lm[8] - (0, 2), lm[27] - (0, 12)):  # nose, chin, forehead above the brows
        assert mask[int(point[1]), int(point[0])] == 1
    assert mask[0, 0] == mask[-1, -1] == 0


def test_identity_same_face_is_closer_than_another_face(
    astronaut: np.ndarray, astronaut_landmarks: np.ndarray
) -> None:
    box = np.array(square_box(landmark_box(astronaut_landmarks), 0.4))
    same = [
        crop_and_resize(astronaut, tuple(box + np.array([dx, dy, dx, dy])), 128)[0]
        for dx, dy in ((0, 0), (6, -4), (-5, 5))
    ]
    camera = np.repeat(data.camera()[..., None], 3, axis=2)  # the cameraman: a different real face
    other_box = pick_face(make_detector("mtcnn").detect(camera), camera.shape).detection.box
    other = crop_and_resize(camera, square_box(other_box, 0.3), 128)[0]
    small = crop_and_resize(astronaut, tuple(box), 64)[0]  # below dlib's 150 px chip: upsampled

    embedder = DlibFaceEmbedder()
    emb = embedder.embed(np.stack([*same, other]))
    assert emb.shape == (4, 128) and emb.dtype == np.float32
    same_sim = cosine_similarity(emb[0], emb[1:3])
    assert (same_sim > 0.9).all()
    assert cosine_similarity(emb[0], emb[3]) < same_sim.min() - 0.05
    assert cosine_similarity(emb[0], embedder.embed(small[None])[0]) > 0.9
    crop_lm = apply_affine(astronaut_landmarks, crop_and_resize(astronaut, tuple(box), 128)[1])
    assert cosine_similarity(emb[0], embedder.embed(same[0][None], crop_lm[None])[0]) > 0.95


@pytest.mark.slow
def test_fan_landmarker_runs_with_cached_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray
) -> None:
    """Random weights stand in for the real (downloaded) ones: checks the wrapper, not accuracy."""
    import torch
    from face_alignment.models import FAN

    from faceoff.faces.landmarks import fan_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    fan_weights_path().parent.mkdir(parents=True)
    torch.save(FAN(4).state_dict(), fan_weights_path())
    landmarks = make_landmarker("fan").predict(astronaut, (181.0, 62.0, 268.0, 172.0))
    assert landmarks.shape == (68, 2) and landmarks.dtype == np.float32 and np.isfinite(landmarks).all()
