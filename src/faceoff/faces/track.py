"""Carry a face's detector box from frame to frame with the landmarks found in it.

The detector is the slow part of preprocessing (MTCNN: about ten times dlib's landmarks), so it
runs only every few frames. In between, the box must be the one the detector would have given:
the landmark predictor's result depends on the box it starts from, and the crop follows the
landmarks. The box is therefore carried by the similarity (shift, scale, rotation) that maps the
landmarks found at the detection onto the latest ones, so it keeps the detector's offset and size
relative to the face. When the latest landmarks no longer fit such a map (the head turned, the
shot cut, the predictor lost the face) or the face leaves the frame, the detector runs again.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceoff.faces.detect import Box

# Nose and eyes (iBUG 36-47 eyes, 27-35 nose): rigid with the head, hardly moved by speech or
# expressions (the mouth, jaw and brows are), so their map is the head's motion.
RIGID = slice(27, 48)
# Re-detect when the rigid points stray from the similarity map by more than this share of the
# box side (RMS). A moving, zooming photo stays near 0.01 and the synthetic talking heads (speech,
# blinks, head turns) under the limit; points that are no longer a face are far above.
MAX_MISFIT = 0.05
# Re-detect when the face in the box stops looking like the one detected: the correlation of
# small grey thumbnails falls below this. Landmarks predicted where the face is not (after a cut
# or a jump) still look like a face, so only the pixels tell: a cut drops it to about 0, while
# head motion, speech and blinks keep it above 0.65 (synthetic talking heads; 0.98 for a moving
# photo).
MIN_LIKENESS = 0.5
THUMB = 24  # thumbnail side in pixels


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """Least-squares ``a, b`` with ``dst ~ a * src + b`` for (N, 2) points read as complex numbers.

    ``a`` holds the scale (``abs(a)``) and rotation (``angle(a)``), ``b`` the shift: the closed
    form of the 2-D similarity fit.
    """
    z0, z1 = src[:, 0] + 1j * src[:, 1], dst[:, 0] + 1j * dst[:, 1]
    c0, c1 = z0 - z0.mean(), z1 - z1.mean()
    a = complex(np.vdot(c0, c1) / max(np.vdot(c0, c0).real, 1e-12))
    return a, complex(z1.mean() - a * z0.mean())


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of (N, 4) ``(x0, y0, x1, y1)`` boxes, row by row."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    width = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = width * height
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area - inter, 1e-12)


class BoxFollower:
    """The box to find a face's landmarks in: the last detection's, carried by the landmarks since.

    Per frame: :meth:`detected` after a detector run, then predict the landmarks in :attr:`box`,
    then :meth:`follow` with them; a False from :meth:`follow` asks for a detector run.
    """

    def __init__(self, max_misfit: float = MAX_MISFIT, min_likeness: float = MIN_LIKENESS) -> None:
        self.max_misfit, self.min_likeness = max_misfit, min_likeness
        self.box: Box | None = None
        self._detection: Box | None = None
        self._reference: np.ndarray | None = None  # the rigid landmarks found in the detection's box
        self._template: np.ndarray | None = None  # the detected face's thumbnail

    def detected(self, box: Box | None) -> None:
        """Start again from a detector box (None: no face found)."""
        self.box = self._detection = box
        self._reference = None

    def follow(self, landmarks: np.ndarray | None, frame: np.ndarray) -> bool:
        """Move :attr:`box` with this frame's landmarks; False: they no longer fit, detect again."""
        if landmarks is None or self._detection is None:
            self.box = None
            return False
        rigid = np.asarray(landmarks, dtype=np.float64)[RIGID]
        if self._reference is None:  # the detection's own landmarks: what later frames are mapped from
            self._reference, self._template = rigid, _thumbnail(frame, self._detection)
            return True
        a, b = similarity(self._reference, rigid)
        x0, y0, x1, y1 = self._detection
        side = abs(a) * np.sqrt((x1 - x0) * (y1 - y0))
        mapped = a * (self._reference[:, 0] + 1j * self._reference[:, 1]) + b
        misfit = np.sqrt(np.mean(np.abs(mapped - (rigid[:, 0] + 1j * rigid[:, 1])) ** 2)) / side
        centre = a * complex((x0 + x1) / 2, (y0 + y1) / 2) + b
        half_w, half_h = abs(a) * (x1 - x0) / 2, abs(a) * (y1 - y0) / 2
        box = (centre.real - half_w, centre.imag - half_h, centre.real + half_w, centre.imag + half_h)
        height, width = frame.shape[:2]
        if misfit > self.max_misfit or not (0 <= centre.real < width and 0 <= centre.imag < height):
            return False
        assert self._template is not None
        if float(np.mean(self._template * _thumbnail(frame, box))) < self.min_likeness:
            return False
        self.box = box
        return True


def _thumbnail(frame: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels (clipped to the frame) as a small grey image of zero mean and unit variance."""
    height, width = frame.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, max(x0 + 1, int(np.ceil(box[2])))), min(height, max(y0 + 1, int(np.ceil(box[3]))))
    patch = frame[y0:y1, x0:x1]
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY) if patch.ndim == 3 else patch
    thumb = cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float64)
    return (thumb - thumb.mean()) / max(thumb.std(), 1e-6)
