"""Image, identity, expression and stability metrics of translated frames.

Image metrics take RGB ``uint8`` batches (N, H, W, 3), work on [0, 1] floats and return one
value per image, so callers can average, plot or test them per frame. They run in chunks so a
200-frame 256-px test split never sits in memory as float tensors at once.

PSNR of identical images is capped at :data:`PSNR_CAP` dB instead of +inf: means over frames
stay finite and ``metrics.json`` stays valid JSON.

Pixel metrics take an optional ``valid`` (N, H, W) mask, the prepared data's ``valid`` array:
crop pixels from outside the source frame (black fill) are left out, so neither the fill nor
whatever a model paints there moves a score. An image with no valid pixel scores NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim as _ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, gaussian_filter

PSNR_CAP = 100.0
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45
_CHUNK = 32
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # pytorch_msssim's defaults


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) images, got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255.0)


def _per_image(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor],
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """``fn(a, b, v)`` over chunks; ``v`` is the chunk's (B, 1, H, W) valid mask, None where all valid."""
    if x.shape != y.shape:
        raise ValueError(f"image batches differ in shape: {x.shape} vs {y.shape}")
    if valid is not None and np.shape(valid) != x.shape[:3]:
        raise ValueError(f"valid mask shape {np.shape(valid)} does not match images {x.shape}")
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], _CHUNK):
            window = slice(start, start + _CHUNK)
            v = None if valid is None else np.asarray(valid[window])
            mask = None if v is None or v.all() else torch.from_numpy(v > 0).unsqueeze(1).float()
            out.append(fn(to_tensor(x[window]), to_tensor(y[window]), mask))
    return torch.cat(out).double().numpy() if out else np.empty(0)


def _mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-image mean of (B, C, H, W) values over the pixels ``mask`` (B, 1, H, W) keeps (all: None)."""
    if mask is None:
        return values.flatten(1).mean(1)
    return (values * mask).flatten(1).sum(1) / (mask.flatten(1).sum(1) * values.shape[1])


def l1(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Mean absolute difference per image on [0, 1] over the ``valid`` pixels."""
    return _per_image(lambda a, b, v: _mean((a - b).abs(), v), x, y, valid)


def psnr(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Peak signal-to-noise ratio per image in dB (peak 1) over the ``valid`` pixels, capped at
    :data:`PSNR_CAP`."""
    floor = 10.0 ** (-PSNR_CAP / 10.0)
    return _per_image(
        lambda a, b, v: -10.0 * torch.log10(_mean((a - b).square(), v).clamp_min(floor)), x, y, valid
    )


def ssim(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Structural similarity per image (11-px Gaussian window, data range 1).

    With invalid pixels, the mean of the SSIM map over the windows that hold no invalid pixel:
    a window touching the fill would score the fill's structure.
    """
    return _per_image(
        lambda a, b, v: (
            _ssim(a, b, data_range=1.0, size_average=False) if v is None else _masked_ssim(a, b, v)
        ),
        x,
        y,
        valid,
    )


def _masked_ssim(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """pytorch_msssim's SSIM map (valid convolution, K = 0.01, 0.03), averaged over fully valid windows."""
    win = _fspecial_gauss_1d(SSIM_WINDOW, SSIM_SIGMA).repeat(a.shape[1], 1, 1, 1)
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = gaussian_filter(a, win), gaussian_filter(b, win)
    var_a = gaussian_filter(a * a, win) - mu_a.square()
    var_b = gaussian_filter(b * b, win) - mu_b.square()
    cov = gaussian_filter(a * b, win) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) / (mu_a.square() + mu_b.square() + c1)) * (
        (2 * cov + c2) / (var_a + var_b + c2)
    )
    # gaussian_filter skips a side shorter than the window; the erosion does the same.
    kernel = tuple(SSIM_WINDOW if side >= SSIM_WINDOW else 1 for side in a.shape[2:])
    whole = -F.max_pool2d(-mask, kernel, stride=1)  # 1 where the window holds only valid pixels
    return _mean(ssim_map, whole)


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


def _mean_step(frames: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean absolute difference between consecutive frames, on [0, 1], over pixels valid in both."""
    total, count = 0.0, 0
    for start in range(0, frames.shape[0] - 1, _CHUNK):
        window = slice(start, start + _CHUNK + 1)
        steps = np.abs(np.diff(np.asarray(frames[window], dtype=np.int16), axis=0))
        if valid is None:
            total += float(steps.sum(dtype=np.int64))
            count += steps.size
        else:
            v = np.asarray(valid[window]) > 0
            both = (v[:-1] & v[1:])[..., None]
            total += float((steps * both).sum(dtype=np.int64))
            count += int(both.sum()) * steps.shape[-1]
    return total / count / 255.0 if count else float("nan")


def flicker(outputs: np.ndarray, inputs: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Frame-to-frame change of the outputs relative to the inputs' (1 = as steady as the input),
    over the pixels ``valid`` in both frames of a step.

    A static input with a static output counts as 1; a static input with a changing output as inf.
    """
    out_step, in_step = _mean_step(outputs, valid), _mean_step(inputs, valid)
    if in_step == 0:
        return 1.0 if out_step == 0 else float("inf")
    return out_step / in_step


def _mean_pairwise_l1(images: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean L1 over all pairs of images; with ``valid``, each pair over the pixels valid in both."""
    n = len(images)
    if n < 2:
        return float("nan")
    if valid is None or np.all(valid):
        flat = to_tensor(images).flatten(1).double()
        return float((torch.cdist(flat, flat, p=1) / flat.shape[1]).sum() / (n * (n - 1)))
    x = to_tensor(images).double()
    v = torch.from_numpy(np.asarray(valid) > 0).unsqueeze(1).double()
    pairs = [_mean((x[i] - x[i + 1 :]).abs(), v[i] * v[i + 1 :]) for i in range(n - 1)]
    distances = torch.cat(pairs)
    return float(distances[distances.isfinite()].mean())


def collapse(
    outputs: np.ndarray, inputs: np.ndarray, max_items: int = 32, valid: np.ndarray | None = None
) -> float:
    """Diversity of the outputs relative to the inputs' (0 = every input maps to one image).

    Compares up to ``max_items`` evenly spaced frames: neighbouring video frames are near
    duplicates, and all pairs of 200 frames would cost 20,000 image comparisons.
    """
    if outputs.shape != inputs.shape:
        raise ValueError(f"outputs {outputs.shape} and inputs {inputs.shape} differ in shape")
    picks = np.unique(np.linspace(0, outputs.shape[0] - 1, num=min(max_items, outputs.shape[0])).astype(int))
    kept = None if valid is None else np.asarray(valid[picks])
    spread_in = _mean_pairwise_l1(inputs[picks], kept)
    spread_out = _mean_pairwise_l1(outputs[picks], kept)
    return spread_out / spread_in if spread_in > 0 else float("nan")


def background_l1(
    outputs: np.ndarray, inputs: np.ndarray, masks: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Mean absolute change outside the face mask per image, on [0, 1], over the ``valid`` pixels
    (NaN where none is left).

    A face translation should leave the background alone; the swap study saw it leak.
    """
    if outputs.shape != inputs.shape or masks.shape != outputs.shape[:3]:
        raise ValueError(
            f"shapes differ: outputs {outputs.shape}, inputs {inputs.shape}, masks {masks.shape}"
        )
    outside = np.asarray(masks) == 0
    if valid is not None:
        outside &= np.asarray(valid) > 0
    outside = outside[..., None]
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
