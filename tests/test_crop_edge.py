"""Crops whose box leaves the frame: black outside, marked invalid, left out of every pixel metric.

Real photographs (Grace Hopper, the astronaut) are pasted into larger frames with the face near
the top-left corner, so the margin around the face found by the real detector leaves the frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image
from skimage import data

from faceoff.datasets.prepared import PreparedSplit, load_split, save_split
from faceoff.evaluate import metrics as m
from faceoff.evaluate.run import score_pair
from faceoff.faces.crop import FILL, crop_and_resize, inside_frame, landmark_box, square_box
from faceoff.faces.detect import make_detector, pick_face
from faceoff.faces.landmarks import make_landmarker
from faceoff.io.video import write_video
from faceoff.prepare import prepare_person

FRAME = (480, 640)  # height, width of the talking-head frames
DX, DY = 150, 60  # where the astronaut's frame starts in the photo
N_FRAMES = 8


def _grace() -> np.ndarray:
    with cbook.get_sample_data("grace_hopper.jpg") as file:
        return np.asarray(Image.open(file).convert("RGB"))


def _corner_frame(photo: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``photo`` shifted up-left by (dx, dy) onto a grey frame: its face sits near the corner."""
    frame = np.full((*FRAME, 3), 90, np.uint8)
    part = photo[dy : dy + FRAME[0], dx : dx + FRAME[1]]
    frame[: part.shape[0], : part.shape[1]] = part
    return frame


def _face_box(image: np.ndarray, margin: float) -> tuple[float, float, float, float]:
    found = pick_face(make_detector("mtcnn").detect(image), image.shape).detection
    assert found is not None
    return square_box(landmark_box(make_landmarker("dlib").predict(image, found.box)), margin)


@pytest.fixture(scope="module")
def astronaut_at_edge() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    frame = _corner_frame(data.astronaut(), DX, DY)
    return frame, _face_box(frame, 0.5)


def test_outside_of_the_frame_is_black_not_replicated_edges(astronaut_at_edge) -> None:
    frame, box = astronaut_at_edge
    assert box[0] < -10 and box[1] < -10  # the real face box leaves the frame left and top
    crop, affine = crop_and_resize(frame, box, 128)
    valid = inside_frame(frame.shape, box, 128)
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    top, left = rows[0], cols[0]
    # The outside is a band of whole rows above and whole columns left of the frame's edges ...
    assert top > 3 and left > 3
    assert valid[top:, left:].all() and not valid[:top].any() and not valid[:, :left].any()
    # ... where the frame's edges map to in the crop.
    edge_in_crop = affine @ np.array([0.0, 0.0, 1.0])
    assert abs(left - edge_in_crop[0]) <= 1 and abs(top - edge_in_crop[1]) <= 1
    # Exactly the fill, not copies of the frame's edge row / column (the old streaks).
    assert (crop[~valid] == FILL).all()
    edge_row, edge_col = crop[top, left:].astype(int), crop[top:, left].astype(int)
    assert edge_row.std() > 10 and edge_col.std() > 10  # the photo's edges are not black already
    for r in range(top):
        assert np.abs(crop[r, left:].astype(int) - edge_row).mean() > 20
    for c in range(left):
        assert np.abs(crop[top:, c].astype(int) - edge_col).mean() > 20
    # Inside, the crop is what a frame reaching further would give; the pixels along the edge
    # too (the resampling filter reads a reflection there, not the black).
    pad = 200
    wider = np.full((FRAME[0] + 2 * pad, FRAME[1] + 2 * pad, 3), 90, np.uint8)
    wider[pad - DY : pad - DY + 512, pad - DX : pad - DX + 512] = data.astronaut()
    truth = crop_and_resize(wider, tuple(np.add(box, pad)), 128)[0].astype(int)
    assert np.abs(crop.astype(int) - truth)[valid].mean() < 1
    assert np.abs(crop[top, left:].astype(int) - truth[top, left:]).mean() < 10
    assert np.abs(crop[top:, left].astype(int) - truth[top:, left]).mean() < 10


def test_the_mask_is_exactly_what_came_from_outside(astronaut_at_edge) -> None:
    """A white frame cut with the same box is white exactly where the mask says inside."""
    frame, box = astronaut_at_edge
    for size in (64, 97, 128):
        white = crop_and_resize(np.full_like(frame, 255), box, size)[0]
        valid = inside_frame(frame.shape, box, size)
        np.testing.assert_array_equal(white.min(axis=2) == 255, valid)
        np.testing.assert_array_equal(white.max(axis=2) == FILL, ~valid)
    inside = (10.0, 20.0, 300.0, 310.0)
    assert inside_frame(frame.shape, inside, 64).all()
    assert (crop_and_resize(np.full_like(frame, 255), inside, 64)[0] == 255).all()


@pytest.fixture(scope="module")
def prepared_at_edge(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A talking head swaying near the top-left corner, prepared with the real detector; a white
    ground truth cut with the same boxes shows where the frame was."""
    folder = tmp_path_factory.mktemp("edge")
    grace = _grace()
    offsets = [(140 + 6 * k % 18, 100 + 4 * k % 12) for k in range(N_FRAMES)]
    write_video(folder / "G.mp4", [_corner_frame(grace, dx, dy) for dx, dy in offsets], fps=25)
    write_video(folder / "G_as_W.mp4", [np.full((*FRAME, 3), 255, np.uint8)] * N_FRAMES, fps=25)
    settings = {
        "size": 64,
        "margin": 0.5,
        "detector": "mtcnn",
        "landmarks": "dlib",
        "smooth": 3,
        "split": {"train": 5, "test": 3},
    }
    out = folder / "prepared" / "G"
    report = prepare_person(folder / "G.mp4", "G", out, settings, {"W": folder / "G_as_W.mp4"}, False)
    return out, report


def test_prepare_marks_the_outside_pixels(prepared_at_edge) -> None:
    out, report = prepared_at_edge
    assert report["faces_found"] == N_FRAMES
    for name in ("train", "test"):
        assert (out / name / "valid.npy").is_file()
        split = load_split(out, name)
        valid = np.asarray(split.valid) > 0
        assert valid.shape == split.frames.shape[:3]
        assert (~valid).reshape(len(split), -1).mean(axis=1).min() > 0.05  # every crop leaves the frame
        assert (split.frames[~valid] == FILL).all()
        # The white ground truth survived the codec as white inside the frame, fill outside.
        np.testing.assert_array_equal(split.gt["W"].min(axis=3) > 128, valid)
        for k in range(len(split)):  # outside = whole rows at the top and whole columns at the left
            top, left = np.argmax(valid[k].any(axis=1)), np.argmax(valid[k].any(axis=0))
            assert top > 0 and left > 0 and valid[k, top:, left:].all()


def _noisy(frames: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-25, 26, frames.shape)
    return np.clip(frames.astype(int) + noise, 0, 255).astype(np.uint8)


def _corrupt_outside(images: np.ndarray, valid: np.ndarray, seed: int) -> np.ndarray:
    out = images.copy()
    outside = ~(valid > 0)
    out[outside] = np.random.default_rng(seed).integers(0, 256, (int(outside.sum()), 3))
    return out


def test_metrics_ignore_a_corrupted_outside(prepared_at_edge) -> None:
    split = load_split(prepared_at_edge[0], "train", mmap=False)
    frames, valid, masks = split.frames, np.asarray(split.valid), split.masks
    output = _noisy(frames, 0)
    corrupted = _corrupt_outside(output, valid, 1)
    for fn in (m.l1, m.psnr, m.ssim):
        clean = fn(output, frames, valid)
        np.testing.assert_allclose(fn(corrupted, frames, valid), clean, rtol=1e-6)
        assert np.isfinite(clean).all()
        assert not np.allclose(fn(corrupted, frames), fn(output, frames), rtol=1e-3)  # unmasked: moved
    pairs = [
        (m.background_l1(output, frames, masks, valid), m.background_l1(corrupted, frames, masks, valid)),
        (m.flicker(output, frames, valid), m.flicker(corrupted, frames, valid)),
        (m.collapse(output, frames, valid=valid), m.collapse(corrupted, frames, valid=valid)),
    ]
    for clean, dirty in pairs:
        np.testing.assert_allclose(dirty, clean, rtol=1e-9)
    assert m.collapse(corrupted, frames) != pytest.approx(m.collapse(output, frames), rel=1e-3)


def test_masked_metrics_are_the_metrics_of_the_inside(prepared_at_edge) -> None:
    """The valid region is a rectangle: masked scores equal the library's on that rectangle alone."""
    split = load_split(prepared_at_edge[0], "train", mmap=False)
    frames, valid = split.frames, np.asarray(split.valid)
    output = _noisy(frames, 2)
    for k in range(len(split)):
        top, left = np.argmax(valid[k].any(axis=1)), np.argmax(valid[k].any(axis=0))
        a, b, v = output[k : k + 1], frames[k : k + 1], valid[k : k + 1]
        a_in, b_in = a[:, top:, left:], b[:, top:, left:]
        for fn in (m.l1, m.psnr, m.ssim):
            np.testing.assert_allclose(fn(a, b, v), fn(a_in, b_in), rtol=1e-5, atol=1e-6)
    # An all-valid mask gives the unmasked numbers, through either SSIM path.
    ones = np.ones(frames.shape[:3], np.uint8)
    for fn in (m.l1, m.psnr, m.ssim):
        np.testing.assert_array_equal(fn(output, frames, ones), fn(output, frames))
    a, b = m.to_tensor(output), m.to_tensor(frames)
    np.testing.assert_allclose(
        m._masked_ssim(a, b, a.new_ones(a[:, :1].shape)).numpy(),
        m.ssim(output, frames).astype(np.float32),
        rtol=1e-5,
    )


def test_evaluation_scores_do_not_see_the_outside(prepared_at_edge) -> None:
    """score_pair on prepared crops: a translator that scribbles outside the frame scores the same."""
    train, test = (load_split(prepared_at_edge[0], s, mmap=False) for s in ("train", "test"))
    valid_of = {s.masks.tobytes(): s.valid for s in (train, test)}  # both passes get the source's masks

    def clean(direction: str, frames: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        return _noisy(frames, 3)

    def scribble(direction: str, frames: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        return _corrupt_outside(clean(direction, frames, masks), valid_of[masks.tobytes()], 4)

    def embed(images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return landmarks.reshape(len(landmarks), -1)[:, :128]

    options = {"embed": embed, "landmarks": lambda image: None, "names": ("G", "W")}
    scores = [score_pair(t, train, test, **options)[0] for t in (clean, scribble)]
    keys = ("l1_gt", "psnr_gt", "ssim_gt", "ssim_input", "cycle_l1", "background_l1", "flicker", "collapse")
    for key in keys:
        assert scores[0][key] is not None
        assert scores[1][key] == pytest.approx(scores[0][key], rel=1e-6), key


def test_prepared_folders_without_a_mask_still_load(prepared_at_edge, tmp_path: Path) -> None:
    split = load_split(prepared_at_edge[0], "test")
    save_split(tmp_path, "test", split)
    back = load_split(tmp_path, "test")
    np.testing.assert_array_equal(back.valid, split.valid)
    (tmp_path / "test" / "valid.npy").unlink()  # as written before valid.npy existed
    old = load_split(tmp_path, "test")
    assert old.valid.shape == old.frames.shape[:3] and (old.valid == 1).all()
    assert "valid" not in old.extra and old.take(slice(1, 3)).valid.shape == (2, 64, 64)
    assert (PreparedSplit(old.frames, old.landmarks, old.masks, old.index).valid == 1).all()
