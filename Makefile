# faceoff: two commands do everything.
#   make demo   set up, run the whole DAG on the embedded synthetic data, say where results are
#   make test   set up and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export MPLBACKEND := Agg

.PHONY: env demo claims test test-fast lint format dag gpu-check clean-demo help

help:
	@echo "make demo   - set up and run the whole pipeline on synthetic faces (results/demo/)"
	@echo "              make demo FAMILY=portrait: one study only"
	@echo "make claims - the demo with 3 seeds of every variant a claim names: the claims ledger"
	@echo "              with intervals over seeds (results/claims/tables/claims.md)"
	@echo "make test   - set up and run the test suite"
	@echo "make lint   - ruff + snakemake --lint + dvc.yaml up to date"
	@echo "make gpu-check - on a CUDA machine: every model with every fast switch, resume, evaluate,"
	@echo "              apply, bench at 256 px (says so and exits 0 without CUDA)"

env: $(STAMP)

# INSTALLER=uv (default): pip installs uv into the environment, uv installs the rest (torch & co.,
# about 6 GB, in about a minute instead of pip's two). INSTALLER=pip: pip alone, for a site
# whose package mirror is configured for pip only (pip.conf; uv reads UV_DEFAULT_INDEX, uv.toml).
# uv compiles the byte code at install, as pip does: without it, every process where Python may
# not write .pyc files (PYTHONDONTWRITEBYTECODE, a read-only environment) compiles torch & co.
# from source at each start (`import torch, faceoff.cli` 2.3 s -> 4.4 s), every step of every DAG.
INSTALLER ?= uv
INSTALL := $(if $(filter uv,$(INSTALLER)),$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python,$(BIN)/pip install --quiet)

$(STAMP): pyproject.toml envs/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade -c envs/constraints.txt pip $(filter uv,$(INSTALLER))
	$(INSTALL) -c envs/constraints.txt -e '.[dev,fan,inception]'
	$(INSTALL) --no-deps -c envs/constraints.txt facenet-pytorch
	touch $@

# FAMILY=portrait (faceoff, portrait, expression, reenact, swap) builds one study's table and
# figures only; without it, every study and the HTML report.
FAMILY ?=
DEMO_TARGETS := $(if $(FAMILY),results/demo/tables/$(FAMILY).csv results/demo/figures/$(FAMILY),all)

demo: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml --rerun-incomplete --printshellcmds \
	  $(DEMO_TARGETS) && \
	echo "" && echo "Demo finished in $$(( $$(date +%s) - start )) s. Results are in results/demo/:" && \
	echo "  report     results/demo/report.html$(if $(FAMILY), (not built for a single family))" && \
	echo "  claims     results/demo/tables/claims.md (one seed: provisional; make claims runs 3)" && \
	echo "  tables     results/demo/tables/$(FAMILY)" && \
	echo "  figures    results/demo/figures/$(FAMILY)" && \
	echo "  videos     results/demo/evaluate/<family>/<run>/faceoff.mp4"

# The claims ledger at demo scale over 3 seeds (config/claims.yaml on top of the demo's settings).
claims: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml config/claims.yaml --rerun-incomplete \
	  --printshellcmds all && \
	echo "" && echo "Claims finished in $$(( $$(date +%s) - start )) s. Results are in results/claims/:" && \
	echo "  claims     results/claims/tables/claims.md, forest plot results/claims/figures/claims.png" && \
	echo "  report     results/claims/report.html"

# pytest-xdist hands out whole files (loadfile) in the order tests/conftest.py sorts them (xdist
# would otherwise reorder them by their number of tests). One worker more than the 2 cores CI has:
# the SLURM tests spend most of their time waiting for the cluster's status polls, and the third
# worker computes meanwhile.
TEST_WORKERS ?= 3
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: $(STAMP)
	$(PYTEST) --durations=15

test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/faceoff -c params.yaml dvc-yaml --check

gpu-check: $(STAMP)
	$(BIN)/python -m faceoff.bench.gpu_check

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

dag: $(STAMP)
	$(BIN)/snakemake --configfile config/demo.yaml --rulegraph | dot -Tsvg > docs/rulegraph.svg

clean-demo:
	rm -rf results/demo
