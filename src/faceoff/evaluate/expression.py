"""Expression residual for the face-swap protocol's ``expr_err``: how far an output's landmarks are
from its source's once pose, position and size are factored out."""

from __future__ import annotations

import numpy as np
from scipy.linalg import svd

from faceoff.evaluate.metrics import LEFT_EYE_OUTER, RIGHT_EYE_OUTER


def _align(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``points`` mapped onto ``reference`` by the similarity (translation, scale, rotation without
    reflection) that minimises the squared distance: orthogonal Procrustes with Umeyama's sign fix."""
    p, r = points - points.mean(axis=0), reference - reference.mean(axis=0)
    u, s, vt = svd(p.T @ r)
    sign = np.ones(len(s))
    sign[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rotation = (u * sign) @ vt
    norm = (p**2).sum()
    scale = (s * sign).sum() / norm if norm > 0 else 0.0
    return scale * p @ rotation + reference.mean(axis=0)


def expression_error(out_lm: np.ndarray, src_lm: np.ndarray) -> np.ndarray:
    """(N,) mean landmark distance after Procrustes alignment of each output's (68, 2) landmarks
    onto its source's, over the source's inter-ocular distance (outer eye corners): 0 when the
    output's face is the source's up to a similarity; NaN where either has no landmarks."""
    out, src = np.asarray(out_lm, dtype=np.float64), np.asarray(src_lm, dtype=np.float64)
    if out.shape != src.shape or out.ndim != 3 or out.shape[1:] != (68, 2):
        raise ValueError(f"expected two (N, 68, 2) landmark arrays, got {out.shape} and {src.shape}")
    errors = np.full(len(out), np.nan)
    for i, (points, reference) in enumerate(zip(out, src, strict=True)):
        iod = np.linalg.norm(reference[RIGHT_EYE_OUTER] - reference[LEFT_EYE_OUTER])
        if np.isfinite(points).all() and np.isfinite(reference).all() and iod > 0:
            residual = _align(points, reference) - reference
            errors[i] = np.linalg.norm(residual, axis=1).mean() / iod
    return errors
