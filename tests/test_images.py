"""The shared image plumbing: central crops of prepared frames and frames <-> network images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from faceoff.datasets.crops import center_crop, center_offset, center_window
from faceoff.datasets.prepared import PreparedSplit
from faceoff.nets.images import from_uint8, map_chunks, to_uint8


def coded_split(n: int = 3, size: int = 10) -> PreparedSplit:
    """Frames whose pixels say where they are: R = frame, G = row, B = column."""
    frames = np.zeros((n, size, size, 3), np.uint8)
    frames[..., 0] = np.arange(n)[:, None, None]
    frames[..., 1] = np.arange(size)[None, :, None]
    frames[..., 2] = np.arange(size)[None, None, :]
    landmarks = np.full((n, 68, 2), 5.0, np.float32)
    masks = (frames[..., 1] > frames[..., 2]).astype(np.uint8)
    return PreparedSplit(frames, landmarks, masks, np.arange(n), gt={"B": frames[..., ::-1].copy()})


def test_center_offset_rounds_down_and_rejects_larger_crops() -> None:
    assert center_offset(10, 6) == 2 and center_offset(10, 5) == 2 and center_offset(8, 8) == 0
    with pytest.raises(ValueError, match="crop_size 12 is larger than the prepared frames \\(10 px\\)"):
        center_offset(10, 12)


def test_center_window_cuts_the_same_window_of_any_array_and_rows() -> None:
    split = coded_split()
    window = center_window(split.frames, 6)
    assert window.shape == (3, 6, 6, 3)
    assert window[0, 0, 0].tolist() == [0, 2, 2] and window[2, 5, 5].tolist() == [2, 7, 7]
    picked = center_window(split.frames, 6, np.array([2, 0]))
    assert np.array_equal(picked, window[[2, 0]])
    assert np.array_equal(center_window(split.masks, 6, slice(1, 2)), split.masks[1:2, 2:8, 2:8])


def test_center_window_reads_a_memory_map(tmp_path: Path) -> None:
    frames = coded_split().frames
    np.save(tmp_path / "frames.npy", frames)
    mapped = np.load(tmp_path / "frames.npy", mmap_mode="r")
    window = center_window(mapped, 4, [1])
    assert type(window) is np.ndarray and np.array_equal(window, frames[1:2, 3:7, 3:7])


def test_center_crop_moves_every_array_and_the_landmarks() -> None:
    split = coded_split()
    crop = center_crop(split, 6)
    assert crop.size == 6 and len(crop) == 3
    assert np.array_equal(crop.frames, split.frames[:, 2:8, 2:8])
    assert np.array_equal(crop.masks, split.masks[:, 2:8, 2:8])
    assert np.array_equal(crop.gt["B"], split.gt["B"][:, 2:8, 2:8])
    assert crop.valid.shape == (3, 6, 6) and crop.valid.all()
    np.testing.assert_array_equal(crop.landmarks, np.full((3, 68, 2), 3.0, np.float32))
    assert np.array_equal(crop.index, split.index)


def test_uint8_round_trip_is_exact_for_every_value() -> None:
    frames = np.arange(256, dtype=np.uint8).repeat(3).reshape(1, 16, 16, 3)
    images = from_uint8(frames)
    assert images.shape == (1, 3, 16, 16) and images.dtype == torch.float32
    assert float(images.min()) == -1.0 and float(images.max()) == 1.0
    assert np.array_equal(to_uint8(images), frames)


def test_conversions_keep_the_stored_arithmetic_bit_for_bit() -> None:
    """Results were stored with these formulas; an equivalent one would change low bits."""
    frames = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    hwc = torch.from_numpy(frames)
    reference = hwc.permute(0, 3, 1, 2).float().contiguous() / 127.5 - 1
    images = from_uint8(frames)
    assert torch.equal(images, reference) and images.is_contiguous()
    strided = from_uint8(hwc, contiguous=False)
    assert torch.equal(strided, reference) and strided.is_contiguous(memory_format=torch.channels_last)
    noisy = torch.randn(2, 3, 5, 7) * 1.5
    expected = ((noisy.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    assert np.array_equal(to_uint8(noisy), expected)
    assert np.array_equal(to_uint8(noisy[0]), expected[0])  # one (3, H, W) image


def test_to_uint8_clamps_and_rounds_half_to_even() -> None:
    images = torch.tensor([-3.0, -1.0, 2 / 255 - 1, 0.0, 1.0, 7.0]).reshape(1, 3, 1, 2)
    # Channels (R: -3, -1; G: 2/255 - 1, 0; B: 1, 7) of two pixels; 0 -> 127.5 -> 128 (half to even);
    # out-of-range values clamp instead of wrapping around.
    assert to_uint8(images).ravel().tolist() == [0, 1, 255, 0, 128, 255]


def test_map_chunks_gives_one_batch_result_in_any_chunking() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
    weight = torch.nn.Parameter(torch.tensor(0.5))
    seen = []

    def halve(chunk: slice) -> torch.Tensor:
        seen.append(chunk)
        out = from_uint8(frames[chunk]) * weight
        assert not out.requires_grad  # no graph kept while applying a model
        return out

    whole = map_chunks(halve, frames, batch_size=16)
    assert seen == [slice(0, 16)]
    chunked = map_chunks(halve, frames, batch_size=3)
    assert seen[1:] == [slice(0, 3), slice(3, 6), slice(6, 9)]
    assert chunked.dtype == np.uint8 and chunked.shape == frames.shape
    assert np.array_equal(whole, chunked)
    assert np.array_equal(whole, to_uint8(from_uint8(frames) * 0.5))
