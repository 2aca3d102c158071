"""Parameters of a synthetic face and their seeded samplers.

Identity is what stays fixed for a person; expression, pose and lighting change per frame. All are
plain dataclasses of floats so that a person's JSON is enough to re-render every frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

import numpy as np

RGB = tuple[float, float, float]
T = TypeVar("T")

# Skin tones from light to dark; distinct persons mostly differ here, as real ones do.
SKIN_TONES: tuple[RGB, ...] = (
    (236, 200, 176),
    (224, 178, 150),
    (198, 150, 112),
    (170, 118, 84),
    (128, 84, 58),
    (92, 60, 42),
)
HAIR_COLOURS: tuple[RGB, ...] = (
    (24, 20, 18),
    (62, 40, 26),
    (112, 74, 40),
    (196, 160, 100),
    (150, 62, 30),
    (150, 148, 146),
)
IRIS_COLOURS: tuple[RGB, ...] = ((70, 44, 26), (40, 28, 20), (70, 100, 130), (80, 100, 60))
HAIR_STYLES = ("short", "long", "bob", "buzz")


@dataclass(frozen=True)
class Identity:
    """Fixed traits of one person; lengths are in face half-widths unless stated."""

    face_width: float = 1.0  # scale of the whole face relative to pose.scale
    face_length: float = 1.63  # eye line to chin
    jaw_shape: float = 0.2  # fullness of the lower jaw: 0 = round, 0.4 = square
    forehead: float = 0.9  # eye line to hairline
    eye_spacing: float = 0.44  # eye centre distance from the midline
    eye_width: float = 0.34
    eye_height: float = 0.11
    brow_height: float = 0.27  # above the eye line
    brow_thickness: float = 0.07
    brow_arch: float = 0.06
    nose_length: float = 0.49  # eye line to nose tip
    nose_width: float = 0.2  # half-width at the nostrils
    mouth_y: float = 0.98
    mouth_width: float = 0.39  # half-width
    lip_thickness: float = 1.0
    skin: RGB = SKIN_TONES[1]
    lip_colour: RGB = (180, 96, 90)
    hair_colour: RGB = HAIR_COLOURS[0]
    hair_style: str = "short"
    hair_volume: float = 0.12
    iris_colour: RGB = IRIS_COLOURS[0]
    shirt_colour: RGB = (60, 80, 120)
    background_top: RGB = (180, 190, 200)
    background_bottom: RGB = (120, 130, 140)
    texture_seed: int = 0


@dataclass(frozen=True)
class Expression:
    """Facial action in [-1, 1] (mouth_open and eye_open in [0, ~1.3]); zero is neutral."""

    mouth_open: float = 0.0
    smile: float = 0.0
    brow_raise: float = 0.0
    brow_inner: float = 0.0  # inner brow ends up (sadness, fear) or down (anger)
    eye_open: float = 1.0


@dataclass(frozen=True)
class Pose:
    """Head placement: translation as a fraction of the image, scale as face width / image width."""

    tx: float = 0.0
    ty: float = 0.0
    scale: float = 0.45
    roll: float = 0.0  # radians, clockwise in the image
    yaw: float = 0.0  # radians; positive turns the face towards image-right


@dataclass(frozen=True)
class Lighting:
    """A directional light on an ellipsoidal head plus ambient light."""

    azimuth: float = 0.0  # radians; 0 = from image-right, pi/2 = from above
    elevation: float = 0.8  # radians from the viewing axis
    intensity: float = 0.35
    ambient: float = 0.85


EXPRESSION_PRESETS: dict[str, Expression] = {
    "NE": Expression(),
    "HA": Expression(mouth_open=0.25, smile=0.85, eye_open=0.8, brow_raise=0.1),
    "SA": Expression(smile=-0.55, brow_inner=0.7, brow_raise=-0.1, eye_open=0.75),
    "SU": Expression(mouth_open=0.85, brow_raise=0.9, eye_open=1.3),
    "AN": Expression(smile=-0.35, brow_raise=-0.6, brow_inner=-0.8, eye_open=0.9),
    "DI": Expression(mouth_open=0.12, smile=-0.45, brow_raise=-0.45, brow_inner=-0.3, eye_open=0.65),
    "FE": Expression(mouth_open=0.4, smile=-0.3, brow_raise=0.6, brow_inner=0.7, eye_open=1.25),
}


def to_dict(obj: Any) -> dict[str, Any]:
    """JSON-ready fields (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(obj).items()}


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Inverse of :func:`to_dict`; unknown keys are an error so stale JSON is noticed."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _jitter(rng: np.random.Generator, colour: RGB, amount: float) -> RGB:
    return tuple(float(np.clip(c + rng.normal(0, amount), 0, 255)) for c in colour)  # type: ignore[return-value]


def _pick(rng: np.random.Generator, options: tuple[T, ...]) -> T:
    return options[int(rng.integers(len(options)))]


def sample_identity(rng: np.random.Generator) -> Identity:
    """A random person; colours come from discrete palettes so two persons usually differ clearly."""
    skin = _jitter(rng, _pick(rng, SKIN_TONES), 6)
    hue = rng.uniform(0, 1)
    top = np.array(_hsv(hue, rng.uniform(0.15, 0.45), rng.uniform(0.6, 0.9)))
    bottom = top * rng.uniform(0.55, 0.85)
    return Identity(
        face_width=rng.uniform(0.92, 1.08),
        face_length=rng.uniform(1.5, 1.78),
        jaw_shape=rng.uniform(0.05, 0.4),
        forehead=rng.uniform(0.8, 1.0),
        eye_spacing=rng.uniform(0.41, 0.47),
        eye_width=rng.uniform(0.3, 0.37),
        eye_height=rng.uniform(0.1, 0.13),
        brow_height=rng.uniform(0.24, 0.3),
        brow_thickness=rng.uniform(0.05, 0.09),
        brow_arch=rng.uniform(0.02, 0.09),
        nose_length=rng.uniform(0.45, 0.53),
        nose_width=rng.uniform(0.17, 0.24),
        mouth_y=rng.uniform(0.93, 1.03),
        mouth_width=rng.uniform(0.34, 0.44),
        lip_thickness=rng.uniform(0.8, 1.25),
        skin=skin,
        lip_colour=_jitter(rng, (skin[0] * 0.78 + 22, skin[1] * 0.58 + 6, skin[2] * 0.62 + 10), 6),
        hair_colour=_jitter(rng, _pick(rng, HAIR_COLOURS), 6),
        hair_style=_pick(rng, HAIR_STYLES),
        hair_volume=rng.uniform(0.06, 0.22),
        iris_colour=_pick(rng, IRIS_COLOURS),
        shirt_colour=_hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8)),
        background_top=tuple(float(c) for c in top),  # type: ignore[arg-type]
        background_bottom=tuple(float(c) for c in bottom),  # type: ignore[arg-type]
        texture_seed=int(rng.integers(2**31)),
    )


def sample_expression(rng: np.random.Generator) -> Expression:
    return Expression(
        mouth_open=float(rng.uniform(0, 0.8)),
        smile=float(rng.uniform(-0.6, 0.9)),
        brow_raise=float(rng.uniform(-0.6, 0.9)),
        brow_inner=float(rng.uniform(-0.7, 0.7)),
        eye_open=float(rng.uniform(0.5, 1.25)),
    )


def sample_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        tx=float(rng.uniform(-0.06, 0.06)),
        ty=float(rng.uniform(-0.05, 0.05)),
        scale=float(rng.uniform(0.38, 0.5)),
        roll=float(rng.uniform(-0.15, 0.15)),
        yaw=float(rng.uniform(-0.3, 0.3)),
    )


def sample_lighting(rng: np.random.Generator) -> Lighting:
    return Lighting(
        azimuth=float(rng.uniform(0, 2 * np.pi)),
        elevation=float(rng.uniform(0.4, 1.0)),
        intensity=float(rng.uniform(0.2, 0.45)),
        ambient=float(rng.uniform(0.75, 0.95)),
    )


def _hsv(h: float, s: float, v: float) -> RGB:
    """HSV in [0, 1] to RGB in [0, 255]."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (float(r * 255), float(g * 255), float(b * 255))
