"""The 68 iBUG landmarks and the head outline, built from the parameters.

Points live in a canonical face frame first: x to image-right, y down, origin on the eye line
between the eyes, one unit = half the face width, z towards the camera. A yaw rotates that frame
about the vertical axis (orthographic), so features with depth shift sideways and the far side is
compressed; then roll, scale and translation place it in the image. Everything the renderer draws
is derived from these points, which is what makes the landmarks exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceoff.synth.params import Expression, Identity, Pose

# Head depth at the midline and the half-width over which it falls off.
_DEPTH = 0.7
_DEPTH_RADIUS = 1.15
EYE_LINE = 0.42  # vertical position of the eye line in the image, as a fraction of its height


@dataclass(frozen=True)
class Placement:
    """Maps canonical (x, y[, z]) points to image pixels; 2-D points lie on the face surface."""

    centre: tuple[float, float]
    unit: float  # pixels per canonical unit
    roll: float
    yaw: float

    def project(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, dtype=np.float64)
        z = pts[:, 2] if pts.shape[1] == 3 else surface_depth(pts[:, 0])
        x = pts[:, 0] * np.cos(self.yaw) + z * np.sin(self.yaw)
        y = pts[:, 1]
        c, s = np.cos(self.roll), np.sin(self.roll)
        return np.stack(
            [self.centre[0] + self.unit * (c * x - s * y), self.centre[1] + self.unit * (s * x + c * y)],
            axis=1,
        )


@dataclass(frozen=True)
class FaceGeometry:
    landmarks: np.ndarray  # (68, 2) image pixels
    placement: Placement
    hairline: np.ndarray  # (K, 2) image pixels, from the right temple (pt 16 side) over to the left
    skull: np.ndarray  # (K, 2) image pixels, top of the head, same direction


def surface_depth(x: np.ndarray) -> np.ndarray:
    """Depth of the face surface across the face: a cylinder-like front."""
    return _DEPTH * np.sqrt(np.clip(1 - (np.asarray(x) / _DEPTH_RADIUS) ** 2, 0, None))


def placement(identity: Identity, pose: Pose, size: int) -> Placement:
    unit = 0.5 * pose.scale * identity.face_width * size
    centre = ((0.5 + pose.tx) * size, (EYE_LINE + pose.ty) * size)
    return Placement(centre=centre, unit=unit, roll=pose.roll, yaw=pose.yaw)


def build_geometry(identity: Identity, expression: Expression, pose: Pose, size: int) -> FaceGeometry:
    """Landmarks plus the outlines the renderer needs, all in image pixels."""
    place = placement(identity, pose, size)
    phi = np.linspace(0, np.pi, 25)
    hair_x, hair_y = 0.96 * np.cos(phi), -identity.forehead * np.sin(phi) ** 0.6
    skull_x, skull_y = 1.02 * np.cos(phi), -(identity.forehead + 0.62) * np.sin(phi) ** 0.8 - 0.05
    return FaceGeometry(
        landmarks=place.project(canonical_landmarks(identity, expression)).astype(np.float32),
        placement=place,
        hairline=place.project(np.stack([hair_x, hair_y], 1)),
        skull=place.project(np.stack([skull_x, skull_y, 0.25 * surface_depth(skull_x)], 1)),
    )


def canonical_landmarks(identity: Identity, expression: Expression) -> np.ndarray:
    """The 68 points as (x, y, z) in the canonical frame, iBUG order."""
    e = expression
    gap = 0.01 + 0.34 * e.mouth_open  # lip separation
    pts = np.zeros((68, 3))
    pts[0:17] = _jaw(identity, 0.8 * (gap - 0.01))
    right_brow = _right_brow(identity, e)
    right_eye = _right_eye(identity, e)
    pts[17:22] = right_brow
    pts[22:27] = _mirror(right_brow)[::-1]
    pts[27:36] = _nose(identity)
    pts[36:42] = right_eye
    pts[42:48] = _mirror(right_eye)[[3, 2, 1, 0, 5, 4]]
    pts[48:68] = _mouth(identity, e, gap)
    return pts


def _mirror(pts: np.ndarray) -> np.ndarray:
    return pts * np.array([-1.0, 1.0, 1.0])


def _with_depth(x: np.ndarray, y: np.ndarray, extra: np.ndarray | float = 0.0) -> np.ndarray:
    return np.stack([x, y, surface_depth(x) + extra], axis=1)


def _jaw(idn: Identity, drop: float) -> np.ndarray:
    theta = np.linspace(0, np.pi, 17)
    c, s = np.cos(theta), np.sin(theta)
    x = -c * (1 + idn.jaw_shape * (1 - c**2))
    y = (idn.face_length + drop) * s**1.25 + 0.01
    z = 0.15 + 0.4 * s**2
    return np.stack([x, y, z], axis=1)


def _right_brow(idn: Identity, e: Expression) -> np.ndarray:
    t = np.linspace(0, 1, 5)  # outer -> inner
    outer, inner = -(idn.eye_spacing + 0.37), -(idn.eye_spacing - 0.25)
    x = outer + (inner - outer) * t - 0.04 * min(e.brow_inner, 0) * t
    y = (
        -idn.brow_height
        + 0.08 * (1 - t)
        + 0.04 * t
        - (idn.brow_arch + 0.05) * 4 * t * (1 - t)
        - 0.09 * e.brow_raise
        - 0.08 * e.brow_inner * t**2
    )
    return _with_depth(x, y, 0.02)


def _right_eye(idn: Identity, e: Expression) -> np.ndarray:
    cx, half = -idn.eye_spacing, idn.eye_width / 2
    frac = np.array([0.0, 0.3, 0.68, 1.0, 0.67, 0.29])  # along the eye, outer -> inner
    x = cx - half + 2 * half * frac
    upper = -0.62 * idn.eye_height * e.eye_open
    lower = 0.38 * idn.eye_height * np.sqrt(min(e.eye_open, 1.0)) * (1 - 0.3 * max(e.smile, 0))
    y = np.array([0.005, upper, upper * 0.96, 0.012, lower, lower * 0.95])
    return _with_depth(x, y, -0.03)


def _nose(idn: Identity) -> np.ndarray:
    nl, nw = idn.nose_length, idn.nose_width
    bridge = np.array([[0, -0.03, 0.12], [0, 0.29 * nl, 0.22], [0, 0.63 * nl, 0.33], [0, nl, 0.45]])
    x = np.array([-1.0, -0.55, 0.0, 0.55, 1.0]) * nw
    y = nl + np.array([0.11, 0.15, 0.17, 0.15, 0.11])
    nostrils = _with_depth(x, y, np.array([0.12, 0.22, 0.28, 0.22, 0.12]))
    bridge[:, 2] += _DEPTH
    return np.concatenate([bridge, nostrils])


def _mouth(idn: Identity, e: Expression, gap: float) -> np.ndarray:
    mw, my, lt = (
        idn.mouth_width * (1 - 0.08 * e.mouth_open + 0.1 * max(e.smile, 0)),
        idn.mouth_y,
        idn.lip_thickness,
    )
    # (fraction of half-width, offset from the mouth line) per point; lower points also get the gap.
    outer_upper = [(-1, 0), (-0.64, -0.06), (-0.28, -0.09), (0, -0.065), (0.28, -0.09), (0.64, -0.06), (1, 0)]
    outer_lower = [(0.66, 0.13), (0.3, 0.19), (0, 0.2), (-0.3, 0.19), (-0.66, 0.13)]
    inner_upper = [(-0.84, 0.005), (-0.28, 0.0), (0, 0.005), (0.28, 0.0), (0.84, 0.005)]
    inner_lower = [(0.28, 0.01), (0, 0.012), (-0.28, 0.01)]
    rows = []
    for pts, lower, thick in (
        (outer_upper, False, lt),
        (outer_lower, True, lt),
        (inner_upper, False, 1.0),
        (inner_lower, True, 1.0),
    ):
        t, off = np.array(pts, dtype=np.float64).T
        y = my + off * thick - 0.1 * e.smile * t**2 + (gap * (1 - 0.35 * t**2) if lower else 0.0)
        rows.append(_with_depth(t * mw, y, 0.08 * (1 - t**2)))
    return np.concatenate(rows)
