"""Image, identity, expression and stability metrics of translated frames.

Image metrics take RGB ``uint8`` batches (N, H, W, 3), work on [0, 1] floats and return one
value per image, so callers can average, plot or test them per frame. They run in chunks so a
200-frame 256-px test split never sits in memory as float tensors at once.

PSNR of identical images is capped at :data:`PSNR_CAP` dB instead of +inf: means over frames
stay finite and ``metrics.json`` stays valid JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from pytorch_msssim import ssim as _ssim

PSNR_CAP = 100.0
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45
_CHUNK = 32


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) images, got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255.0)


def _per_image(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    if x.shape != y.shape:
        raise ValueError(f"image batches differ in shape: {x.shape} vs {y.shape}")
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], _CHUNK):
            out.append(fn(to_tensor(x[start : start + _CHUNK]), to_tensor(y[start : start + _CHUNK])))
    return torch.cat(out).double().numpy() if out else np.empty(0)


def l1(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean absolute difference per image on [0, 1]."""
    return _per_image(lambda a, b: (a - b).abs().flatten(1).mean(1), x, y)


def psnr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio per image in dB (peak 1), capped at :data:`PSNR_CAP`."""
    floor = 10.0 ** (-PSNR_CAP / 10.0)
    return _per_image(
        lambda a, b: -10.0 * torch.log10((a - b).square().flatten(1).mean(1).clamp_min(floor)), x, y
    )


def ssim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Structural similarity per image (11-px Gaussian window, data range 1)."""
    return _per_image(lambda a, b: _ssim(a, b, data_range=1.0, size_average=False), x, y)


def cosine_to_reference(
    descriptors: np.ndarray, reference: np.ndarray, center: np.ndarray | None = None
) -> np.ndarray:
    """Cosine similarity of each (N, D) descriptor to one (D,) reference; NaN rows stay NaN.

    With ``center``, both sides are taken relative to it first. Faces of one dataset share a
    large common descriptor component (dlib puts any two synthetic persons above 0.93), which
    drowns the identity signal; centring on the pair's mean keeps only what tells them apart.
    """
    d = np.asarray(descriptors, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if center is not None:
        d, r = d - center, r - center
    return (d @ r) / np.maximum(np.linalg.norm(d, axis=1) * np.linalg.norm(r), 1e-12)


def reference_descriptor(descriptors: np.ndarray) -> np.ndarray:
    """Mean descriptor of a person's frames, ignoring frames without a face (NaN rows)."""
    d = np.asarray(descriptors, dtype=np.float64)
    valid = np.isfinite(d).all(axis=1)
    if not valid.any():
        return np.full(d.shape[1], np.nan)
    return d[valid].mean(axis=0)


def landmark_nme(found: Sequence[np.ndarray | None], reference: np.ndarray) -> np.ndarray:
    """Per-frame mean point error over the inter-ocular distance (outer eye corners 36, 45).

    ``found[i]`` are the landmarks detected on output ``i`` (None when no face was found, which
    gives NaN); ``reference`` (N, 68, 2) are the source frames' landmarks.
    """
    ref = np.asarray(reference, dtype=np.float64)
    out = np.full(len(found), np.nan)
    for i, points in enumerate(found):
        if points is None:
            continue
        iod = np.linalg.norm(ref[i, RIGHT_EYE_OUTER] - ref[i, LEFT_EYE_OUTER])
        if iod > 0:
            out[i] = np.linalg.norm(np.asarray(points, dtype=np.float64) - ref[i], axis=1).mean() / iod
    return out


def _mean_step(frames: np.ndarray) -> float:
    """Mean absolute difference between consecutive frames, on [0, 1]."""
    total, count = 0.0, 0
    for start in range(0, frames.shape[0] - 1, _CHUNK):
        chunk = np.asarray(frames[start : start + _CHUNK + 1], dtype=np.int16)
        steps = np.abs(np.diff(chunk, axis=0))
        total += float(steps.sum(dtype=np.int64))
        count += steps.size
    return total / count / 255.0 if count else float("nan")


def flicker(outputs: np.ndarray, inputs: np.ndarray) -> float:
    """Frame-to-frame change of the outputs relative to the inputs' (1 = as steady as the input).

    A static input with a static output counts as 1; a static input with a changing output as inf.
    """
    out_step, in_step = _mean_step(outputs), _mean_step(inputs)
    if in_step == 0:
        return 1.0 if out_step == 0 else float("inf")
    return out_step / in_step


def _mean_pairwise_l1(images: np.ndarray) -> float:
    flat = to_tensor(images).flatten(1).double()
    n = flat.shape[0]
    if n < 2:
        return float("nan")
    distances = torch.cdist(flat, flat, p=1) / flat.shape[1]
    return float(distances.sum() / (n * (n - 1)))


def collapse(outputs: np.ndarray, inputs: np.ndarray, max_items: int = 32) -> float:
    """Diversity of the outputs relative to the inputs' (0 = every input maps to one image).

    Compares up to ``max_items`` evenly spaced frames: neighbouring video frames are near
    duplicates, and all pairs of 200 frames would cost 20,000 image comparisons.
    """
    if outputs.shape != inputs.shape:
        raise ValueError(f"outputs {outputs.shape} and inputs {inputs.shape} differ in shape")
    picks = np.unique(np.linspace(0, outputs.shape[0] - 1, num=min(max_items, outputs.shape[0])).astype(int))
    spread_in = _mean_pairwise_l1(inputs[picks])
    spread_out = _mean_pairwise_l1(outputs[picks])
    return spread_out / spread_in if spread_in > 0 else float("nan")


def background_l1(outputs: np.ndarray, inputs: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Mean absolute change outside the face mask per image, on [0, 1] (NaN where the mask is full).

    A face translation should leave the background alone; the swap study saw it leak.
    """
    if outputs.shape != inputs.shape or masks.shape != outputs.shape[:3]:
        raise ValueError(
            f"shapes differ: outputs {outputs.shape}, inputs {inputs.shape}, masks {masks.shape}"
        )
    outside = (np.asarray(masks) == 0)[..., None]
    diff = np.abs(np.asarray(outputs, np.int16) - np.asarray(inputs, np.int16)) * outside
    area = outside.reshape(len(outside), -1).sum(1) * 3
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(area > 0, diff.reshape(len(diff), -1).sum(1) / np.maximum(area, 1) / 255.0, np.nan)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) descriptor arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def finite_mean(values: np.ndarray) -> float | None:
    """Mean over frames where the metric exists; None (JSON null) where it exists for none."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def apply_in_batches(
    fn: Callable[..., np.ndarray],
    frames: np.ndarray,
    *extra: np.ndarray | None,
    batch: int = 16,
    name: str = "",
) -> np.ndarray:
    """``fn(frames[k], *extra[k])`` over batches of ``batch`` frames, each output checked to be uint8
    frames of the input's shape (a model returning anything else is named, not averaged)."""
    out = []
    for start in range(0, len(frames), batch):
        window = slice(start, start + batch)
        result = np.asarray(fn(frames[window], *(None if e is None else e[window] for e in extra)))
        if result.shape != frames[window].shape or result.dtype != np.uint8:
            raise ValueError(f"{name}: {result.dtype} {result.shape} out for uint8 {frames[window].shape} in")
        out.append(result)
    return np.concatenate(out)
