"""Talking-head motion: smooth head movement, expressions that come and go, speech and blinks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from faceoff.synth.params import EXPRESSION_PRESETS, Expression, Lighting, Pose, sample_lighting

_EXPRESSION_FIELDS = ("mouth_open", "smile", "brow_raise", "brow_inner", "eye_open")


@dataclass(frozen=True)
class FrameParams:
    """Everything but the identity that one frame needs."""

    expression: Expression
    pose: Pose
    lighting: Lighting


def talking_head_sequence(rng: np.random.Generator, n_frames: int, fps: float = 25.0) -> list[FrameParams]:
    """A random, smooth, speech-like sequence of ``n_frames`` frame parameters."""
    t = np.arange(n_frames) / fps
    pose = _pose_track(rng, t)
    expression = _expression_track(rng, t)
    expression["mouth_open"] = np.maximum(expression["mouth_open"], _speech(rng, t))
    expression["eye_open"] = expression["eye_open"] * _blinks(rng, t)
    light = sample_lighting(rng)
    azimuth = light.azimuth + _wander(rng, t, 0.25)
    return [
        FrameParams(
            expression=Expression(**{k: float(v[i]) for k, v in expression.items()}),
            pose=Pose(**{k: float(v[i]) for k, v in pose.items()}),
            lighting=replace(light, azimuth=float(azimuth[i])),
        )
        for i in range(n_frames)
    ]


def recorded_like(source: list[FrameParams], target: list[FrameParams]) -> list[FrameParams]:
    """``source``'s frames as ``target``'s recording would show them: the ground truth of a
    translation from the source's video into the target's.

    What changes from frame to frame comes from the source (expression, pose, the light's turning
    about its mean direction); what a recording keeps throughout comes from the target (its light's
    strength, ambient level, height and mean direction), as do the identity, background and shirt.
    A translator learns the target's recording from its frames; the source's light it never sees
    apart from the source's own colours.
    """
    source_turn = float(np.mean([f.lighting.azimuth for f in source]))
    target_turn = float(np.mean([f.lighting.azimuth for f in target]))
    setup = target[0].lighting
    return [
        replace(f, lighting=replace(setup, azimuth=target_turn + f.lighting.azimuth - source_turn))
        for f in source
    ]


def _wander(rng: np.random.Generator, t: np.ndarray, amplitude: float, fmax: float = 0.4) -> np.ndarray:
    """Sum of a few low-frequency sinusoids, peak-normalised to about ``amplitude``."""
    freqs = rng.uniform(0.04, fmax, 3)
    weights = rng.uniform(0.5, 1.0, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    wave = (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None] + phases[:, None])).sum(0)
    return amplitude * wave / weights.sum()


def _pose_track(rng: np.random.Generator, t: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "tx": _wander(rng, t, 0.1),
        "ty": _wander(rng, t, 0.06),
        "scale": rng.uniform(0.4, 0.46) + _wander(rng, t, 0.04),
        "roll": _wander(rng, t, 0.22),
        "yaw": _wander(rng, t, 0.5),
    }


def _expression_track(rng: np.random.Generator, t: np.ndarray) -> dict[str, np.ndarray]:
    """Hold a random preset (at a random strength) for 1.5-4 s, blending over half a second."""
    codes = sorted(EXPRESSION_PRESETS)
    neutral = EXPRESSION_PRESETS["NE"]
    starts, targets = [], []
    start = -rng.uniform(0, 2)
    while start < (t[-1] if len(t) else 0) + 1:
        preset = EXPRESSION_PRESETS[codes[int(rng.integers(len(codes)))]]
        strength = rng.uniform(0.4, 1.0)
        targets.append(
            [
                getattr(neutral, f) + strength * (getattr(preset, f) - getattr(neutral, f))
                for f in _EXPRESSION_FIELDS
            ]
        )
        starts.append(start)
        start += rng.uniform(1.5, 4.0)
    starts_a, targets_a = np.array(starts), np.array(targets)
    seg = np.clip(np.searchsorted(starts_a, t, side="right") - 1, 0, len(starts_a) - 1)
    blend = np.clip((t - starts_a[seg]) / 0.5, 0, 1)
    blend = blend * blend * (3 - 2 * blend)
    previous = targets_a[np.maximum(seg - 1, 0)]
    values = previous + (targets_a[seg] - previous) * blend[:, None]
    return {f: values[:, i] for i, f in enumerate(_EXPRESSION_FIELDS)}


def _speech(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Syllable-rate (3-5 Hz) mouth opening during random speaking turns."""
    rate = rng.uniform(3.0, 5.0)
    phase = 2 * np.pi * rate * t + _wander(rng, t, 2.0, fmax=1.0)
    syllables = 0.5 * (1 - np.cos(phase)) * (0.6 + 0.4 * np.abs(_wander(rng, t, 1.0, fmax=1.5)))
    talking = _wander(rng, t, 1.0, fmax=0.25) + rng.uniform(-0.2, 0.4) > 0
    width = max(1, min(5, len(t)))  # "same" would return the kernel's length for shorter clips
    gate = np.convolve(talking.astype(float), np.ones(width) / width, mode="same")
    return rng.uniform(0.35, 0.6) * syllables * gate


def _blinks(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Multiplier on eye opening: 0.25 s closures every ~3 s on average."""
    factor = np.ones_like(t)
    when = rng.uniform(0, 1)
    while len(t) and when < t[-1] + 1:
        factor = np.minimum(factor, np.clip(np.abs(t - when) / 0.12, 0, 1))
        when += rng.exponential(3.0) + 0.5
    return factor
