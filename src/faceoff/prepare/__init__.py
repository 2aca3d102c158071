"""Turn raw person videos into prepared face-crop arrays (see faceoff.datasets.prepared)."""

from faceoff.prepare.job import PrepareError
from faceoff.prepare.persons import prepare_person

__all__ = ["PrepareError", "prepare_person"]
