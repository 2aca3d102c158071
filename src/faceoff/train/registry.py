"""Model registry: the ``model`` training setting names a :class:`ModelSpec`.

A model module registers one spec on import: its settings dataclass, its
:class:`~faceoff.train.loop.Stepper`, what data it trains on, and how its model.pt is applied.
The modules of this package are found by scanning it on first use, so adding a model is adding
its module (or a plugin the params name, see :mod:`faceoff.config.plugins`).

- ``data="pair"``: the stepper is built as ``Stepper(settings, data_a, data_b, seed, device)``
  from the train splits of the run's two items (CycleGAN, autoencoder swap, style transfer);
- ``data="dataset"``: ``Stepper(settings, splits, seed, device)`` with ``splits`` mapping every
  item of the dataset that has a train split to it (a classifier, a class-conditional GAN,
  reenactment trained across videos).

``translator(model, device)`` turns a loaded model.pt into an object whose
``translate(direction, frames, masks)`` maps uint8 (N, S, S, 3) frames "AB" or "BA";
``evaluation`` names the evaluation kind the model's runs get: a kind registered in
:mod:`faceoff.evaluate.kinds` (``translate``, ``reenact``, or one a plugin registers).
A ``run_items`` model trains on the whole dataset yet
translates between two of its items: its translator is built as ``translator(model, device,
items)`` with the run's (source, target) items, so the run's pair decides what it renders (SA-GAN).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from faceoff.config.plugins import import_submodules
from faceoff.datasets.prepared import PreparedSplit
from faceoff.train.loop import Stepper, fit
from faceoff.train.settings import BaseSettings, SettingsError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    settings: type[BaseSettings]
    stepper: type[Stepper]
    translator: Callable[..., Any] | None = None  # (model, device[, items]) -> translator
    data: Literal["pair", "dataset"] = "pair"
    evaluation: str = "translate"
    run_items: bool = False


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in MODELS and MODELS[spec.name] is not spec:
        raise ValueError(f"model {spec.name!r} registered twice")
    MODELS[spec.name] = spec
    return spec


def all_models() -> dict[str, ModelSpec]:
    """Every model: this package's modules are imported on first use, plugins when they load."""
    import_submodules("faceoff.train")
    return dict(MODELS)


def model_names() -> list[str]:
    return sorted(all_models())


def model_facts() -> dict[str, dict[str, Any]]:
    """What planning a DAG reads of each model, as JSON: the data it trains on and its evaluation
    kind. The Snakefile reads it through :func:`faceoff.config.registry_cache.registry_facts`, so
    its parse does not import torch."""
    return {
        name: {"data": spec.data, "evaluation": spec.evaluation}
        for name, spec in sorted(all_models().items())
    }


def resolved_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` validated and completed with its model's defaults, as JSON: what the run trains
    with, and what the Snakefile asks a cluster for (through the same cache as :func:`model_facts`)."""
    return settings_from_dict(values).to_dict()


def get_model(name: str) -> ModelSpec:
    models = all_models()
    if name not in models:
        raise SettingsError(f"unknown model {name!r} (registered: {', '.join(sorted(models))})")
    return models[name]


def settings_from_dict(values: Mapping[str, Any]) -> BaseSettings:
    """The settings of the model ``values["model"]`` names (default ``cyclegan``), validated."""
    spec = get_model(str(values.get("model", "cyclegan")))
    return spec.settings.from_dict({"model": spec.name, **values})


def build_stepper(
    settings: BaseSettings,
    data: Mapping[str, PreparedSplit],
    pair: tuple[str, str] | None,
    seed: int,
    device: str = "cpu",
) -> Stepper:
    """The model's stepper on ``data`` (item -> train split); ``pair`` picks a pair model's two items."""
    spec = get_model(settings.model)
    if spec.data == "dataset":
        return spec.stepper(settings, dict(data), seed, device)
    if pair is None:
        raise ValueError(f"model {spec.name!r} trains on a pair of items: pass the pair")
    return spec.stepper(settings, data[pair[0]], data[pair[1]], seed, device)


def train_model(
    settings: BaseSettings,
    data: Mapping[str, PreparedSplit],
    pair: tuple[str, str] | None,
    out_dir: str | Path,
    seed: int,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train one run (resuming when its checkpoint exists); returns train.json's content."""
    return fit(build_stepper(settings, data, pair, seed, device), out_dir, progress, stop_after)


def load_translator(model_path: str | Path, device: str = "cpu", items: tuple[str, str] | None = None) -> Any:
    """The translator of a trained model.pt, whatever model wrote it; ``items`` are the run's
    (source, target) items, which a ``run_items`` model needs (the others were trained on them)."""
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: trained model not found (run `faceoff train` first)")
    model = torch.load(path, map_location="cpu", weights_only=True)
    spec = get_model(model["settings"]["model"])
    if spec.translator is None:
        raise ValueError(f"{path}: model {spec.name!r} does not translate images")
    if spec.run_items:
        if items is None:
            raise ValueError(f"{path}: model {spec.name!r} translates between a run's items: pass them")
        return spec.translator(model, device, items)
    return spec.translator(model, device)
