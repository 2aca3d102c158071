"""Head pose (yaw, pitch, roll) from 68 iBUG landmarks, for the face-swap protocol's ``pose_err``.

A generic 3-D face is fitted to the 2-D landmarks with OpenCV's PnP solver (the approach of the
FaceShifter / SimSwap evaluations, which use a 3-D face model fit to landmarks), with a pinhole
camera whose focal length is the image width and whose centre is the image centre. The absolute
angles carry the model's error; the difference between two faces in the same frame geometry, which
is all ``pose_err`` uses, largely cancels it.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

# A generic adult face in millimetres, in the camera's axes for a frontal face (x towards the image's
# right, y down, z into the scene), origin at the nose tip. Written from average anthropometric
# proportions (Farkas' norms, rounded): outer eye corners ~90 mm apart and inner ones ~32 mm, mouth
# ~50 mm wide, eyes ~38 mm above the nose tip and the nasion ~45 mm, the mouth corners ~32 mm and
# the chin ~72 mm below it; the nose tip is the most forward point, the outer eye corners ~42 mm
# behind it. iBUG index -> point.
MODEL_POINTS = {
    30: (0.0, 0.0, 0.0),  # nose tip (pronasale)
    27: (0.0, -45.0, 22.0),  # top of the nose bridge (nasion)
    33: (0.0, 12.0, 17.0),  # base of the nose (subnasale)
    8: (0.0, 72.0, 25.0),  # chin (menton)
    36: (-45.0, -38.0, 42.0),  # right eye, outer corner (image left)
    39: (-16.0, -38.0, 30.0),  # right eye, inner corner
    42: (16.0, -38.0, 30.0),  # left eye, inner corner
    45: (45.0, -38.0, 42.0),  # left eye, outer corner (image right)
    48: (-25.0, 32.0, 30.0),  # right mouth corner
    54: (25.0, 32.0, 30.0),  # left mouth corner
}
_INDEX = list(MODEL_POINTS)
_MODEL = np.array(list(MODEL_POINTS.values()), dtype=np.float64)


def camera_matrix(size: int | tuple[int, int]) -> np.ndarray:
    """The pinhole camera assumed for an image of ``size`` (height, width), or a square side."""
    height, width = (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))
    return np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], dtype=np.float64)


def _frontal_guess(image_points: np.ndarray, camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frontal face at the landmarks' position and scale: the start of the PnP refinement. Started
    cold (from a DLT estimate), the solver can land on the mirror solution behind the camera."""
    index = {k: i for i, k in enumerate(_INDEX)}
    model_iod = np.linalg.norm(_MODEL[index[36]] - _MODEL[index[45]])
    image_iod = max(float(np.linalg.norm(image_points[index[36]] - image_points[index[45]])), 1e-6)
    depth = camera[0, 0] * model_iod / image_iod
    nose = image_points[index[30]]
    offset = (nose - camera[:2, 2]) * depth / camera[0, 0]
    return np.zeros((3, 1)), np.array([[offset[0]], [offset[1]], [depth]])


def head_pose(landmarks: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees of (N, 68, 2) landmarks in images of ``size`` (height,
    width): the intrinsic y-x-z Euler angles of the fitted rotation, all 0 for a frontal face.
    Rows with missing (non-finite) landmarks, or where the fit fails, are NaN."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise ValueError(f"expected (N, 68, 2) landmarks, got shape {points.shape}")
    camera = camera_matrix(size)
    angles = np.full((len(points), 3), np.nan)
    for i, row in enumerate(points):
        image_points = np.ascontiguousarray(row[_INDEX])  # OpenCV reads a packed (K, 2) array
        if not np.isfinite(image_points).all():
            continue
        ok, rvec, tvec = cv2.solvePnP(
            _MODEL, image_points, camera, None, *_frontal_guess(image_points, camera), useExtrinsicGuess=True
        )
        if ok and tvec[2, 0] > 0:
            angles[i] = Rotation.from_rotvec(rvec.ravel()).as_euler("YXZ", degrees=True)
    return angles


def pose_error(out_lm: np.ndarray, src_lm: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """(N,) L2 norm of the yaw, pitch and roll differences (degrees, wrapped to +-180) between
    each output's head pose and its source's; NaN where either has no landmarks."""
    diff = head_pose(out_lm, size) - head_pose(src_lm, size)
    diff = (diff + 180.0) % 360.0 - 180.0
    return np.linalg.norm(diff, axis=1)
