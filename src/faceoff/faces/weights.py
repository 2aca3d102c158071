"""Where each pretrained network's weights live, and what to do when they are not there.

Cluster nodes are often offline, so no network here ever downloads its weights: a missing file
must be found before a job starts (``faceoff config check`` lists them, for every run) or, at
the latest, where the network is loaded, with the file to place and where. This module is the
one place that knows, for each named network, the files it reads.

Network names are the values of the parameters that choose them: ``vgg19``, ``dlib_resnet``,
``facenet`` (``feature_net``, ``identity_net``, ``evaluate.identity_net``), ``fan`` and
``dlib`` (``prepare.landmarks``), ``mtcnn`` (``prepare.detector``; dlib's HOG detector has no
weights file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceoff.errors import FaceoffError


class MissingWeightsError(FaceoffError, FileNotFoundError):
    """A network's weights are not on this machine; the message names the file and its folder."""


@dataclass(frozen=True)
class Weights:
    """The files network ``network`` reads, and how to put them in place when they are missing."""

    network: str
    title: str  # what the files are, for messages
    files: tuple[Path, ...]
    where: str  # the folder's role, e.g. "torch hub's cache, $TORCH_HOME/hub/checkpoints"
    fix: str  # how to get the files (or what to choose instead)
    unavailable: str | None = None  # why the location itself is unknown (a package is missing)

    @property
    def missing(self) -> tuple[Path, ...]:
        return tuple(p for p in self.files if not p.is_file())

    @property
    def present(self) -> bool:
        return self.unavailable is None and not self.missing

    def problem(self) -> str | None:
        """What is missing and what to do, or None when every file is there."""
        if self.unavailable is not None:
            return f"{self.title}: {self.unavailable}. {self.fix}"
        if not self.missing:
            return None
        folder = self.missing[0].parent
        names = ", ".join(p.name for p in self.missing)
        return f"{self.title} not found: expected {names} in {folder} ({self.where}). {self.fix}"


def _vgg19() -> Weights:
    from faceoff.faces.features import vgg19_weights_path

    return Weights(
        "vgg19",
        "VGG19 weights",
        (vgg19_weights_path(),),
        "torch hub's checkpoint folder, $TORCH_HOME/hub/checkpoints",
        "Download them on a machine with internet access with "
        "torchvision.models.vgg19(weights='IMAGENET1K_V1') and copy the file there, or use the feature "
        "net 'dlib_resnet', which needs no extra download.",
    )


def _facenet() -> Weights:
    from faceoff.faces.facenet import facenet_weights_path

    return Weights(
        "facenet",
        "FaceNet weights",
        (facenet_weights_path(),),
        "facenet-pytorch's cache, $TORCH_HOME/checkpoints",
        "Download them on a machine with internet access by running "
        "facenet_pytorch.InceptionResnetV1(pretrained='vggface2') once and copy the file there, or use "
        "identity_net: dlib_resnet, which needs no extra download.",
    )


def _fan() -> Weights:
    title, where = "FAN landmark weights", "torch hub's checkpoint folder, $TORCH_HOME/hub/checkpoints"
    fix = (
        "Download them on a machine with internet access by constructing face_alignment.FaceAlignment "
        "once and copy the file there, or use landmarks: dlib."
    )
    try:
        from faceoff.faces.landmarks import fan_weights_path

        return Weights("fan", title, (fan_weights_path(),), where, fix)
    except ImportError:
        return Weights(
            "fan",
            title,
            (),
            where,
            fix,
            unavailable="the package face-alignment is not installed (pip install 'faceoff[fan]')",
        )


def _shipped_dlib(network: str, locator: str, title: str) -> Callable[[], Weights]:
    def locate() -> Weights:
        from faceoff.faces.landmarks import shipped_dlib_model

        fix = "They ship with the package face_recognition_models: reinstall it."
        return Weights(network, title, (Path(shipped_dlib_model(locator)),), "face_recognition_models", fix)

    return locate


def _mtcnn() -> Weights:
    from importlib.util import find_spec

    # Found, not imported: importing facenet_pytorch imports torchvision (~2 s of a config check).
    spec = find_spec("facenet_pytorch")
    title, fix = "MTCNN weights", "They ship with the package facenet-pytorch: reinstall it."
    if spec is None or not spec.submodule_search_locations:
        unavailable = "the package facenet-pytorch is not installed (`make env` installs it)"
        return Weights("mtcnn", title, (), "facenet-pytorch", fix, unavailable=unavailable)
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = tuple(data / f"{stage}.pt" for stage in ("pnet", "rnet", "onet"))
    return Weights("mtcnn", title, files, "facenet-pytorch", fix)


LOCATORS: dict[str, Callable[[], Weights]] = {
    "vgg19": _vgg19,
    "facenet": _facenet,
    "fan": _fan,
    "dlib_resnet": _shipped_dlib("dlib_resnet", "face_recognition_model_location", "dlib's face ResNet"),
    "dlib": _shipped_dlib("dlib", "pose_predictor_model_location", "dlib's 68-point landmark predictor"),
    "mtcnn": _mtcnn,
}


def locate(network: str) -> Weights:
    """The weights of ``network`` (a name of :data:`LOCATORS`)."""
    if network not in LOCATORS:
        raise ValueError(f"no weights are known for network {network!r} (known: {', '.join(LOCATORS)})")
    return LOCATORS[network]()


def require(network: str) -> Path:
    """The first weights file of ``network``, or :class:`MissingWeightsError` saying what to place where."""
    weights = locate(network)
    problem = weights.problem()
    if problem is not None:
        raise MissingWeightsError(problem)
    return weights.files[0]


def missing(networks: Iterable[str]) -> list[Weights]:
    """The weights among those of ``networks`` that are not on this machine, each once."""
    return [w for w in map(locate, dict.fromkeys(networks)) if not w.present]


# The prepare settings that name a network, and the values that load one.
PREPARE_NETWORKS = {"detector": {"mtcnn": "mtcnn"}, "landmarks": {"dlib": "dlib", "fan": "fan"}}


def prepare_networks(prepare: Mapping[str, Any]) -> dict[str, str]:
    """Setting name -> network that preparing with a dataset's ``prepare`` block loads."""
    return {
        key: PREPARE_NETWORKS[key][str(prepare[key])]
        for key in PREPARE_NETWORKS
        if str(prepare.get(key)) in PREPARE_NETWORKS[key]
    }
