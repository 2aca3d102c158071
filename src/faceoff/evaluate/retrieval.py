"""Identity retrieval for the face-swap protocol (FaceShifter, SimSwap, HifiFace on FaceForensics++):
the share of outputs whose nearest identity in a gallery is the target person.

The gallery holds every identity of the test items plus distractors, one mean descriptor each, so
chance is 1 / (gallery size). The descriptors must come from an identity network other than the one
the generator's loss trained with: a generator optimised against a network can fool that network
without looking like the person (:func:`retrieval_net` picks the other one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from faceoff.faces.identity import IDENTITY_NETS


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def gallery_means(descriptors: np.ndarray, ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Identity -> the mean of its (N, D) descriptors (rows with NaN left out)."""
    descriptors, ids = np.asarray(descriptors, dtype=np.float64), np.asarray(ids)
    gallery = {}
    for name in dict.fromkeys(ids.tolist()):
        rows = descriptors[ids == name]
        rows = rows[np.isfinite(rows).all(axis=1)]
        if len(rows):
            gallery[str(name)] = rows.mean(axis=0)
    return gallery


def nearest_identity(descriptors: np.ndarray, gallery: Mapping[str, np.ndarray]) -> list[str | None]:
    """The gallery identity of highest cosine similarity to each descriptor (None for a NaN row)."""
    if not gallery:
        raise ValueError("the retrieval gallery is empty")
    names = list(gallery)
    similarity = _unit(descriptors) @ _unit(np.stack([gallery[n] for n in names])).T
    return [None if not np.isfinite(row).all() else names[int(row.argmax())] for row in similarity]


def retrieval_hits(
    descriptors: np.ndarray, target_ids: Sequence[str], gallery: Mapping[str, np.ndarray]
) -> np.ndarray:
    """(N,) 100.0 where the nearest gallery identity is the target, 0.0 where it is not, NaN where
    the descriptor is missing; their mean is :func:`id_retrieval`."""
    if len(target_ids) != len(descriptors):
        raise ValueError(f"{len(descriptors)} descriptors but {len(target_ids)} target identities")
    unknown = sorted(set(map(str, target_ids)) - set(gallery))
    if unknown:
        raise ValueError(f"target identities missing from the gallery: {', '.join(unknown)}")
    found = nearest_identity(descriptors, gallery)
    return np.array(
        [np.nan if f is None else 100.0 * (f == str(t)) for f, t in zip(found, target_ids, strict=True)]
    )


def id_retrieval(
    descriptors: np.ndarray, target_ids: Sequence[str], gallery: Mapping[str, np.ndarray]
) -> float:
    """Top-1 identity retrieval in percent over the outputs with a descriptor (NaN if none has)."""
    hits = retrieval_hits(descriptors, target_ids, gallery)
    return float(np.nanmean(hits)) if np.isfinite(hits).any() else float("nan")


@dataclass(frozen=True)
class RetrievalNet:
    """The identity network to retrieve with (None: none usable here), and why."""

    name: str | None
    independent: bool
    reason: str


def retrieval_net(trained_with: str | Sequence[str] | None) -> RetrievalNet:
    """The identity network for retrieval given the one(s) the loss trained with (None or empty: no
    identity loss): one whose weights are on this machine and that differs from all of them, FaceNet
    preferred (the network the published protocols use)."""
    from faceoff.faces.weights import locate

    used = [trained_with] if isinstance(trained_with, str) else list(trained_with or [])
    unknown = [n for n in used if n not in IDENTITY_NETS]
    if unknown:
        raise ValueError(f"unknown identity nets {unknown} (choose from {', '.join(IDENTITY_NETS)})")
    candidates = [n for n in sorted(IDENTITY_NETS, key=lambda n: n != "facenet") if n not in used]
    why = f"the loss trained with {', '.join(used)}" if used else "no identity loss"
    for name in candidates:
        if locate(name).present:
            return RetrievalNet(name, True, f"{name} ({why})")
    problems = "; ".join(locate(n).problem() or n for n in candidates) or "there is no other"
    return RetrievalNet(
        None, False, f"no identity network other than the loss's is available ({why}): {problems}"
    )
