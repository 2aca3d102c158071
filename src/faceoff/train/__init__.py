"""Model training: models by ``model`` name (settings, stepper, translator) and the shared loop."""

from faceoff.train.registry import (
    MODELS,
    ModelSpec,
    get_model,
    load_translator,
    register_model,
    settings_from_dict,
    train_model,
)
from faceoff.train.settings import BaseSettings, SettingsError, TrainSettings

__all__ = [
    "MODELS",
    "BaseSettings",
    "ModelSpec",
    "SettingsError",
    "TrainSettings",
    "get_model",
    "load_translator",
    "register_model",
    "settings_from_dict",
    "train_model",
]
