"""Draw a face from its landmarks: flat shapes with PIL at 2x, then shading, texture and noise.

The drawing order is back to front (background, hair behind the head, shoulders, neck, ears,
skin, hair, eyes, brows, nose, lips). Soft shadows (eye sockets, nose sides, under the nose and
chin, smile folds) go to a separate blurred layer that darkens the image; a directional light on
an ellipsoid gives the head its volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from faceoff.synth.geometry import FaceGeometry, build_geometry, surface_depth
from faceoff.synth.params import RGB, Expression, Identity, Lighting, Pose

SUPERSAMPLE = 2
_SCLERA = (232, 226, 220)
_PUPIL = (12, 10, 10)
_LASH = (28, 20, 18)
_MOUTH = (52, 18, 22)
_TEETH = (226, 220, 204)


@dataclass(frozen=True)
class RenderedFace:
    image: np.ndarray  # (size, size, 3) uint8
    landmarks: np.ndarray  # (68, 2) float32 pixel (x, y)
    mask: np.ndarray  # (size, size) uint8 in {0, 1}


def render_face(
    identity: Identity, expression: Expression, pose: Pose, lighting: Lighting, size: int = 256
) -> RenderedFace:
    """Render one frame; the landmarks are the points the face was drawn from."""
    geo = build_geometry(identity, expression, pose, size)
    canvas = _background(identity.background_top, identity.background_bottom, size).copy()
    pen = _Pen(ImageDraw.Draw(canvas), geo)
    _draw_body(pen, identity)
    _draw_head(pen, identity)
    _draw_eyes(pen, identity)
    _draw_brows(pen, identity)
    _draw_nose(pen, identity)
    _draw_mouth(pen, identity)
    image = np.array(canvas.reduce(SUPERSAMPLE), dtype=np.float32)
    gain, sheen = _light_field(geo, lighting, size)
    shade = 1 - _shadows(geo, size)
    low, grain = _texture(identity.texture_seed, size)
    image *= (gain * shade * low)[..., None]
    image += grain
    image += (sheen * shade)[..., None]
    return RenderedFace(
        image=np.clip(image, 0, 255, out=image).astype(np.uint8),
        landmarks=geo.landmarks,
        mask=face_mask(geo, size),
    )


def face_mask(geo: FaceGeometry, size: int) -> np.ndarray:
    """Filled face region: jaw contour closed by the hairline over the forehead."""
    img = Image.new("L", (size, size), 0)
    outline = np.concatenate([spline(geo.landmarks[:17]), geo.hairline])
    ImageDraw.Draw(img).polygon(outline.ravel().tolist(), fill=1)
    return np.asarray(img, dtype=np.uint8)


def spline(pts: np.ndarray, steps: int = 5, closed: bool = False) -> np.ndarray:
    """Catmull-Rom curve through the points, so shapes drawn from landmarks pass through them."""
    p = np.asarray(pts, dtype=np.float64)
    ext = (
        np.concatenate([p[-1:], p, p[:2]])
        if closed
        else np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
    )
    windows = np.stack([ext[i : len(ext) - 3 + i] for i in range(4)], axis=1)  # (segments, 4, 2)
    curve = np.einsum("sk,nkd->nsd", _catmull_rom_basis(steps), windows).reshape(-1, 2)
    return curve if closed else np.concatenate([curve, p[-1:]])


@lru_cache(maxsize=8)
def _catmull_rom_basis(steps: int) -> np.ndarray:
    t = np.linspace(0, 1, steps, endpoint=False)[:, None]
    return 0.5 * np.hstack(
        [-t + 2 * t**2 - t**3, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -(t**2) + t**3]
    )


class _Pen:
    """Draws image-pixel or canonical shapes on the supersampled canvas."""

    def __init__(self, draw: ImageDraw.ImageDraw, geo: FaceGeometry) -> None:
        self.draw, self.geo = draw, geo
        self.lm = geo.landmarks.astype(np.float64)
        self.unit = geo.placement.unit
        roll = geo.placement.roll
        self.up = np.array([np.sin(roll), -np.cos(roll)])
        self.right = np.array([np.cos(roll), np.sin(roll)])

    def poly(self, pts: np.ndarray, colour: RGB) -> None:
        self.draw.polygon((np.asarray(pts) * SUPERSAMPLE).ravel().tolist(), fill=_rgb(colour))

    def line(self, pts: np.ndarray, colour: RGB, width: float) -> None:
        w = max(1, round(width * self.unit * SUPERSAMPLE))
        self.draw.line(
            (np.asarray(pts) * SUPERSAMPLE).ravel().tolist(), fill=_rgb(colour), width=w, joint="curve"
        )

    def ellipse(self, centre: np.ndarray, rx: float, ry: float, colour: RGB) -> None:
        self.poly(_ellipse(centre, rx, ry, self.geo.placement.roll), colour)

    def canon(self, pts: list[tuple[float, ...]] | np.ndarray) -> np.ndarray:
        return self.geo.placement.project(np.asarray(pts, dtype=np.float64))


def _rgb(colour: RGB) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(c))) for c in colour)  # type: ignore[return-value]


def _scale(colour: RGB, k: float) -> RGB:
    return (colour[0] * k, colour[1] * k, colour[2] * k)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _ellipse(centre: np.ndarray, rx: float, ry: float, angle: float, n: int = 24) -> np.ndarray:
    cos_a, sin_a = _circle(n)
    x, y = rx * cos_a, ry * sin_a
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([centre[0] + c * x - s * y, centre[1] + s * x + c * y], 1)


@lru_cache(maxsize=8)
def _circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.cos(a), np.sin(a)


def _arc(rx: float, top: float, bottom: float, power: float, n: int = 25) -> np.ndarray:
    """Upper head contour from image-right (phi=0) over the top to image-left, ending at ``bottom``.

    Its depth matches the skull's so that hair and head turn together.
    """
    phi = np.linspace(0, np.pi, n)
    x = np.concatenate([[rx], rx * np.cos(phi), [-rx]])
    y = np.concatenate([[bottom], -top * np.sin(phi) ** power - 0.05, [bottom]])
    return np.stack([x, y, 0.25 * surface_depth(x)], 1)


def _draw_body(pen: _Pen, idn: Identity) -> None:
    hair, vol = idn.hair_colour, idn.hair_volume
    top = idn.forehead + 0.62 + vol
    if idn.hair_style in ("long", "bob"):
        length, width = (2.4, 1.28 + vol) if idn.hair_style == "long" else (1.25, 1.2 + vol)
        pen.poly(pen.canon(_arc(width, top, length, 0.7)), _scale(hair, 0.8))
    shirt = [
        (-0.62, 2.0),
        (-1.5, 2.2),
        (-2.4, 2.55),
        (-3.0, 3.8),
        (3.0, 3.8),
        (2.4, 2.55),
        (1.5, 2.2),
        (0.62, 2.0),
    ]
    pen.poly(pen.canon([(-0.55, 0.8), (-0.6, 2.6), (0.6, 2.6), (0.55, 0.8)]), _scale(idn.skin, 0.86))
    pen.poly(pen.canon([*shirt, (0.0, 2.45)]), idn.shirt_colour)
    for side in (-1, 1):
        ear = _ellipse(np.array([side * 1.0, 0.28]), 0.15, 0.3, 0.0, 16)
        ear_z = np.concatenate([ear, np.full((16, 1), -0.1)], 1)
        pen.poly(pen.canon(ear_z), _scale(idn.skin, 0.95))
        inner = _ellipse(np.array([side * 1.02, 0.3]), 0.07, 0.18, 0.0, 12)
        pen.poly(pen.canon(np.concatenate([inner, np.full((12, 1), -0.1)], 1)), _scale(idn.skin, 0.75))


def _draw_head(pen: _Pen, idn: Identity) -> None:
    geo = pen.geo
    pen.poly(np.concatenate([spline(pen.lm[:17]), geo.skull]), idn.skin)
    vol = idn.hair_volume if idn.hair_style != "buzz" else 0.03
    hair = idn.hair_colour if idn.hair_style != "buzz" else _mix(idn.hair_colour, idn.skin, 0.45)
    outer = _arc(1.02 + vol, idn.forehead + 0.62 + vol, 0.3, 0.8)
    cap = np.concatenate(
        [pen.canon(outer), pen.canon([(-0.97, 0.3, 0.0)]), geo.hairline[::-1], pen.canon([(0.97, 0.3, 0.0)])]
    )
    pen.poly(cap, hair)


def _draw_eyes(pen: _Pen, idn: Identity) -> None:
    lm, unit = pen.lm, pen.unit
    skin = idn.skin
    for idx in ([36, 37, 38, 39, 40, 41], [45, 44, 43, 42, 47, 46]):  # outer, upper x2, inner, lower x2
        p = lm[idx]
        upper, lower = spline(p[[0, 1, 2, 3]]), spline(p[[3, 4, 5, 0]])
        opening = np.linalg.norm((p[1] + p[2] - p[4] - p[5]) / 2)
        if opening > 0.02 * unit:
            pen.poly(np.concatenate([upper, lower[1:-1]]), _SCLERA)
            centre = (p[0] + p[3]) / 2 + pen.up * 0.015 * unit
            r = 0.22 * idn.eye_width * unit
            pen.ellipse(centre, r * np.linalg.norm(p[3] - p[0]) / (idn.eye_width * unit), r, idn.iris_colour)
            pen.ellipse(centre, 0.42 * r, 0.42 * r, _PUPIL)
            pen.ellipse(centre + (pen.up - 0.5 * pen.right) * 0.35 * r, 0.16 * r, 0.16 * r, (240, 240, 240))
            pen.poly(np.concatenate([upper, upper[::-1] + pen.up * 0.14 * unit]), _scale(skin, 0.96))
            pen.poly(np.concatenate([lower, lower[::-1] - pen.up * 0.1 * unit]), skin)
        pen.line(upper, _LASH, 0.055)
        pen.line(lower, _scale(skin, 0.62), 0.012)


def _draw_brows(pen: _Pen, idn: Identity) -> None:
    colour = _mix(_scale(idn.hair_colour, 0.7), (30, 22, 18), 0.5)
    taper = np.array([0.45, 0.85, 1.0, 1.0, 0.9])[:, None]
    for idx in (slice(17, 22), slice(26, 21, -1)):  # outer -> inner
        p = pen.lm[idx]
        top = spline(p + pen.up * 0.2 * idn.brow_thickness * pen.unit)
        bottom = spline(p - pen.up * taper * idn.brow_thickness * pen.unit)
        pen.poly(np.concatenate([top, bottom[::-1]]), colour)


def _draw_nose(pen: _Pen, idn: Identity) -> None:
    lm, unit, up = pen.lm, pen.unit, pen.up
    skin = idn.skin
    pen.ellipse(lm[30] + up * 0.03 * unit, 0.07 * unit, 0.05 * unit, _scale(skin, 1.06))
    for a, b, out in ((31, 32, -1), (35, 34, 1)):
        side = pen.right * out
        pen.ellipse(
            (lm[a] + 2 * lm[b]) / 3 + up * 0.025 * unit, 0.045 * unit, 0.022 * unit, _scale(skin, 0.35)
        )
        wing = np.array(
            [lm[a] + up * 0.13 * unit, lm[a] + side * 0.03 * unit + up * 0.05 * unit, lm[a], lm[b]]
        )
        pen.line(spline(wing), _scale(skin, 0.7), 0.018)


def _draw_mouth(pen: _Pen, idn: Identity) -> None:
    lm, unit = pen.lm, pen.unit
    pen.poly(spline(lm[48:60], closed=True), idn.lip_colour)
    inner_up = spline(lm[60:65])
    pen.poly(np.concatenate([spline(lm[48:55]), inner_up[::-1]]), _scale(idn.lip_colour, 0.82))
    inner_low = spline(lm[[60, 67, 66, 65, 64]])
    if np.linalg.norm(lm[62] - lm[66]) > 0.04 * unit:
        pen.poly(np.concatenate([inner_up, inner_low[::-1]]), _MOUTH)
        pen.poly(np.concatenate([inner_up, (0.6 * inner_up + 0.4 * inner_low)[::-1]]), _TEETH)
    pen.line(inner_up, _scale(idn.lip_colour, 0.45), 0.02)


@lru_cache(maxsize=32)
def _background(top: RGB, bottom: RGB, size: int) -> Image.Image:
    n = size * SUPERSAMPLE
    t = np.linspace(0, 1, n)[:, None, None]
    x = np.linspace(-1, 1, n)[None, :, None]
    grad = np.array(top) * (1 - t) + np.array(bottom) * t
    grad = grad * (1 - 0.12 * x**2)
    return Image.fromarray(np.broadcast_to(grad, (n, n, 3)).clip(0, 255).astype(np.uint8))


def _light_field(geo: FaceGeometry, light: Lighting, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Gain and additive highlight of a light on an ellipsoidal head, fading to flat away from it.

    The highlight matters for dark skin, whose shape would otherwise show little shading.
    """
    place = geo.placement
    low = max(16, size // 2)  # the field is smooth: compute it at half resolution
    yy, xx = _grid(low, size / low)
    c, s = np.cos(place.roll), np.sin(place.roll)
    dx, dy = (xx - place.centre[0]) / place.unit, (yy - place.centre[1]) / place.unit
    u = c * dx + s * dy - 0.5 * np.sin(place.yaw)
    v = -s * dx + c * dy - 0.3
    u, v = u / 1.1, v / 1.8
    r2 = u * u + v * v
    nz = np.sqrt(np.clip(1 - r2, 0, None))
    lx, ly = np.cos(light.azimuth) * np.sin(light.elevation), -np.sin(light.azimuth) * np.sin(light.elevation)
    lz = np.cos(light.elevation)
    inside = np.clip(u * lx + v * ly + nz * lz, 0, None)
    half = np.array([lx, ly, lz + 1]) / np.linalg.norm([lx, ly, lz + 1])
    spec = np.clip(u * half[0] + v * half[1] + nz * half[2], 0, None) ** 16 * (r2 < 1)
    w = np.exp(-np.clip(r2 - 1, 0, None) * 6)
    gain = light.ambient + light.intensity * (w * inside + (1 - w) * lz * 0.8)
    return _upsample(gain, size), _upsample(70 * light.intensity * spec, size)


@lru_cache(maxsize=8)
def _grid(n: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution pixel-centre coordinates of an n x n grid of ``step``-pixel cells."""
    c = ((np.arange(n) + 0.5) * step).astype(np.float32)
    return c[:, None].repeat(n, 1), c[None, :].repeat(n, 0)


def _upsample(field: np.ndarray, size: int) -> np.ndarray:
    if field.shape[0] == size:
        return field.astype(np.float32)
    img = Image.fromarray(field.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32)


def _shadows(geo: FaceGeometry, size: int) -> np.ndarray:
    """Soft darkening in [0, 1] where real faces have shadows that detectors rely on."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    lm, unit = geo.landmarks.astype(np.float64), geo.placement.unit
    roll = geo.placement.roll
    up = np.array([np.sin(roll), -np.cos(roll)])

    def poly(pts: np.ndarray, value: int) -> None:
        draw.polygon(np.asarray(pts).ravel().tolist(), fill=value)

    def line(pts: np.ndarray, value: int, width: float) -> None:
        draw.line(
            np.asarray(pts).ravel().tolist(), fill=value, width=max(1, round(width * unit)), joint="curve"
        )

    for brow, eye in ((lm[17:22], lm[36:40]), (lm[22:27], lm[42:46])):  # brow, then the eye back
        poly(np.concatenate([brow, eye[::-1] - up * 0.02 * unit]), 70)
        line(spline(eye) + up * 0.06 * unit, 90, 0.025)
    for a, b in ((31, 48), (35, 54)):  # smile folds, bowing outwards from the nostril to the mouth corner
        mid = (lm[a] + lm[b]) / 2 + (lm[a] - lm[30]) * 0.35
        line(spline(np.array([lm[a] + up * 0.05 * unit, mid, lm[b] - up * 0.04 * unit])), 45, 0.04)
    for top, side in ((27, 31), (27, 35)):
        poly(
            np.array(
                [lm[top], lm[28] + (lm[side] - lm[33]) * 0.3, lm[side], lm[29] + (lm[side] - lm[33]) * 0.15]
            ),
            55,
        )
    poly(_ellipse(lm[33] - up * 0.06 * unit, 0.18 * unit, 0.05 * unit, roll, 16), 70)
    poly(_ellipse(lm[57] - up * 0.08 * unit, 0.2 * unit, 0.06 * unit, roll, 16), 55)
    jaw = spline(lm[2:15])
    poly(np.concatenate([jaw, jaw[::-1] - up * 0.4 * unit]), 110)
    blurred = img.filter(ImageFilter.GaussianBlur(max(1.0, 0.05 * unit)))
    return np.asarray(blurred, dtype=np.float32) / 255.0


@lru_cache(maxsize=16)
def _texture(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Static skin/paper texture: low-frequency gain around 1 and per-pixel grain (read-only)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 1, (max(4, size // 16), max(4, size // 16))).astype(np.float32)
    low = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32)
    low = 1 + 0.035 * low
    grain = rng.normal(0.5, 2.5, (size, size, 3)).astype(np.float32)  # +0.5 rounds on the uint8 cast
    low.flags.writeable = False
    grain.flags.writeable = False
    return low, grain
