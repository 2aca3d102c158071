"""faceoff: a reproducible pipeline for GAN face-translation research.

Layers, lowest first (a module imports only from its own layer and those below it;
tests/test_layers.py checks it): io -> config -> synth -> datasets -> faces -> prepare -> nets
-> losses -> train -> apply -> plots -> evaluate -> report -> bench -> steps -> warmstart -> cli.
"""

__version__ = "0.1.0"
