"""Scores of a translation pasted back into whole frames (`faceoff apply`), against full-frame truth.

The crop metrics (:mod:`faceoff.evaluate.run`) judge the translator; these judge what a user
gets: the output frame, with its paste-back seam, the colour of the blended face and its
steadiness over time. The truth is the synthetic source video rendered in the target's
recording (its identity, background and light), so every number has an ideal: the truth itself
scores ``apply_l1_gt`` 0, ``apply_ssim_gt`` 1, ``apply_flicker`` 0 and ``apply_seam`` 1.

Every function takes RGB ``uint8`` frames (N, H, W, 3) and per-frame masks (N, H, W): ``face``
(the landmark hull, {0, 1}) and ``blend`` (the paste-back weight in [0, 1]:
output = blend * pasted + (1 - blend) * input). The exact definitions are the APPLY entries of
:mod:`faceoff.evaluate.glossary`.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from faceoff.evaluate import metrics as m

BLEND_EPS = 0.5 / 255.0  # a blend weight below this cannot change an 8-bit pixel (rounded)
_SEAM_KERNEL = np.ones((3, 3), np.uint8)


def outside_blend(blend: np.ndarray) -> np.ndarray:
    """(N, H, W) bool: the pixels the paste-back must leave alone (weight below :data:`BLEND_EPS`)."""
    return np.asarray(blend) < BLEND_EPS


def background_l1(outputs: np.ndarray, inputs: np.ndarray, blend: np.ndarray) -> np.ndarray:
    """Per frame: mean |output - input| on [0, 1] outside the blend region (NaN: no such pixel)."""
    return m.background_l1(outputs, inputs, (~outside_blend(blend)).astype(np.uint8))


def flicker_steps(outputs: np.ndarray, truth: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Per step t -> t+1: mean |(o[t+1] - o[t]) - (g[t+1] - g[t])| on [0, 1] over the face in either
    frame (NaN where neither has a face): how much more (or less) the output changes than the truth."""
    if outputs.shape != truth.shape or np.shape(face) != outputs.shape[:3]:
        raise ValueError(
            f"shapes differ: outputs {outputs.shape}, truth {truth.shape}, face {np.shape(face)}"
        )
    out = np.full(max(len(outputs) - 1, 0), np.nan)
    for t in range(len(out)):
        region = (np.asarray(face[t]) > 0) | (np.asarray(face[t + 1]) > 0)
        if region.any():
            step_o = outputs[t + 1].astype(np.int16) - outputs[t].astype(np.int16)
            step_g = truth[t + 1].astype(np.int16) - truth[t].astype(np.int16)
            out[t] = np.abs(step_o - step_g)[region].mean() / 255.0
    return out


def seam_band(blend: np.ndarray) -> np.ndarray:
    """(H, W) bool for one frame: the feather (weights strictly between :data:`BLEND_EPS` and
    1 - :data:`BLEND_EPS`) and the one-pixel ring on either side of the 0.5 contour, where a hard
    paste-back edge would be."""
    blend = np.asarray(blend, dtype=np.float32)
    feather = (blend >= BLEND_EPS) & (blend <= 1.0 - BLEND_EPS)
    inside = (blend >= 0.5).astype(np.uint8)
    edge = cv2.morphologyEx(inside, cv2.MORPH_GRADIENT, _SEAM_KERNEL) > 0
    return feather | edge


def gradient_energy(frames: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Per frame: sum over ``bands`` of the squared Sobel gradient (3x3) of the luminance on [0, 1]."""
    out = np.zeros(len(frames))
    for i, (frame, band) in enumerate(zip(frames, bands, strict=True)):
        if band.any():
            gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
            gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
            gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
            out[i] = float((gx * gx + gy * gy)[band].sum(dtype=np.float64))
    return out


def seam_ratio(outputs: np.ndarray, truth: np.ndarray, blend: np.ndarray) -> float:
    """Gradient energy of the outputs in the seam bands over that of the truth in the same bands
    (1 = no more edge than the truth has there; NaN when the truth has none, or there is no band)."""
    bands = np.stack([seam_band(b) for b in blend]) if len(blend) else np.zeros(np.shape(blend), bool)
    energy_truth = gradient_energy(truth, bands).sum()
    return float(gradient_energy(outputs, bands).sum() / energy_truth) if energy_truth > 0 else float("nan")


def apply_scores(
    outputs: np.ndarray,
    truth: np.ndarray | None,
    inputs: np.ndarray,
    face: np.ndarray,
    blend: np.ndarray,
    face_found: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every APPLY metric of one applied segment (None where undefined; without ``truth`` only
    those that need none). ``face_found`` (N,) bool: frames in which the paste-back found a face."""
    outputs, inputs = np.asarray(outputs), np.asarray(inputs)
    face, blend = np.asarray(face), np.asarray(blend, dtype=np.float32)
    if inputs.shape != outputs.shape or face.shape != outputs.shape[:3] or blend.shape != face.shape:
        raise ValueError(
            f"shapes differ: outputs {outputs.shape}, inputs {inputs.shape}, face {face.shape}, "
            f"blend {blend.shape}"
        )
    scores: dict[str, Any] = {
        "apply_frames": len(outputs),
        "apply_face_found": None if face_found is None else float(np.mean(face_found)),
        "apply_background_l1": m.finite_mean(background_l1(outputs, inputs, blend)),
    }
    if truth is None:
        return scores
    truth = np.asarray(truth)
    if truth.shape != outputs.shape:
        raise ValueError(f"truth {truth.shape} and outputs {outputs.shape} differ in shape")
    return scores | {
        "apply_l1_gt": m.finite_mean(m.l1(outputs, truth)),
        "apply_ssim_gt": m.finite_mean(m.ssim(outputs, truth)),
        "apply_l1_gt_face": m.finite_mean(m.l1(outputs, truth, face)),
        "apply_ssim_gt_face": m.finite_mean(m.ssim(outputs, truth, face)),
        "apply_flicker": m.finite_mean(flicker_steps(outputs, truth, face)),
        "apply_seam": _finite(seam_ratio(outputs, truth, blend)),
    }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
