"""faceoff: a reproducible pipeline for GAN face-translation research.

Layers, lowest first (a module imports only from layers below it):
io -> config -> synth -> datasets -> faces -> prepare -> nets -> losses -> train
-> evaluate -> plots -> report -> cli.
"""

__version__ = "0.1.0"
