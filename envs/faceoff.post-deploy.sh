#!/usr/bin/env bash
# Run by Snakemake after it creates the conda environment: facenet-pytorch's own pins (old
# torch and numpy) would break the environment, so it goes in without its dependencies.
set -euo pipefail
pip install --no-deps facenet-pytorch==2.6.0
