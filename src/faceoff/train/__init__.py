"""Model training: trainers by ``model`` name, their settings, and the translator for trained models."""

from faceoff.train import cyclegan as _cyclegan  # noqa: F401  registers the "cyclegan" trainer
from faceoff.train.registry import TRAINERS, get_trainer, register_trainer
from faceoff.train.settings import SettingsError, TrainSettings

__all__ = ["TRAINERS", "SettingsError", "TrainSettings", "get_trainer", "register_trainer"]
