"""Where every step writes: one place defines the output tree for Snakemake, DVC and the CLI.

<output_dir>/raw/<dataset>/                 synthetic raw data (when the dataset is synthetic)
<output_dir>/prepared/<dataset>/<item>/     prepared arrays + report.json
<output_dir>/train/<family>/<run>/          model.pt, losses.csv, train.json, samples.png
<output_dir>/train/<family>/classifier/     the family's expression classifier (same files)
<output_dir>/evaluate/<family>/<run>/       metrics.json, faceoff.mp4, samples.png
<output_dir>/evaluate/<family>/<pair>-copy/ the "copy input" baseline
<output_dir>/tables/<family>.{csv,md,tex}   the family table (one row per run)
<output_dir>/tables/<family>/               its summary and the family's extra tables (sweeps)
<output_dir>/figures/<family>/              loss curves, one comparison grid per pair
<output_dir>/tables/claims.{csv,md,tex}     the claims ledger (every family's claims, tested)
<output_dir>/figures/claims.png             its forest plot
<output_dir>/report.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAIN_OUTPUTS = ("model.pt", "losses.csv", "train.json", "samples.png")
EVAL_OUTPUTS = ("metrics.json", "faceoff.mp4", "samples.png")
TABLE_FORMATS = ("csv", "md", "tex")


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Layout:
        return cls(Path(params["output_dir"]))

    def raw(self, dataset: str) -> Path:
        return self.root / "raw" / dataset

    def prepared(self, dataset: str, item: str) -> Path:
        return self.root / "prepared" / dataset / item

    def train(self, family: str, run_id: str) -> Path:
        return self.root / "train" / family / run_id

    def classifier(self, family: str) -> Path:
        """The family's expression classifier, trained like a run (it scores the translations)."""
        return self.root / "train" / family / "classifier"

    def evaluate(self, family: str, run_id: str) -> Path:
        return self.root / "evaluate" / family / run_id

    def copy_baseline(self, family: str, pair: str) -> Path:
        return self.evaluate(family, f"{pair}-copy")

    def tables(self, family: str) -> list[Path]:
        return [self.root / "tables" / f"{family}.{ext}" for ext in TABLE_FORMATS]

    def table_folder(self, family: str) -> Path:
        """The family's summary and extra tables, ``<name>.{csv,md,tex}`` each."""
        return self.root / "tables" / family

    def figures(self, family: str) -> Path:
        """The family's figures: ``losses.png`` and ``comparison-<pair>.png``."""
        return self.root / "figures" / family

    def claims_tables(self) -> list[Path]:
        """The claims ledger: every family's claims, each with its paired difference and verdict."""
        return [self.root / "tables" / f"claims.{ext}" for ext in TABLE_FORMATS]

    @property
    def claims_figure(self) -> Path:
        """The ledger's forest plot: one row per claim, its difference and interval."""
        return self.root / "figures" / "claims.png"

    @property
    def report(self) -> Path:
        return self.root / "report.html"
