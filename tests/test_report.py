"""The HTML report links existing files relatively and embeds tables and parameters."""

from __future__ import annotations

import re
import subprocess
import sys
from html import escape
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import jinja2
import numpy as np
import pytest
import yaml

from faceoff.config import load_params
from faceoff.evaluate.glossary import get_glossary
from faceoff.evaluate.table import build_table, write_table
from faceoff.io.atomic import write_json
from faceoff.plots import sample_grid, side_by_side_video
from faceoff.report.captions import caption, figure_output, run_fields, snakemake_report_files
from faceoff.report.html import write_report

from .conftest import REPO


def _metrics(l1: float, copy: bool) -> dict:
    return {
        "names": {"A": "A", "B": "B"},
        "copy_input": copy,
        "l1_gt": l1,
        "identity_sim": 0.9,
        "collapse": 0.8,
        "n_frames": 8,
    }


def test_report_links_existing_files(tmp_path: Path) -> None:
    root = tmp_path / "results"
    frames = np.stack([np.full((32, 32, 3), 40 * i, np.uint8) for i in range(4)])
    run_dir, copy_dir = (
        root / "evaluate" / "faceoff" / "A2B-base s0",
        root / "evaluate" / "faceoff" / "A2B-copy",
    )
    write_json(run_dir / "metrics.json", _metrics(0.05, False))
    write_json(copy_dir / "metrics.json", _metrics(0.2, True))
    side_by_side_video(run_dir / "faceoff.mp4", [frames, frames], fps=5)
    sample_grid([[frames[0], frames[1]]], ["input", "output"], run_dir / "samples.png")
    sample_grid([[frames[2]]], ["x"], root / "figures" / "faceoff" / "losses.png")
    df = build_table({"A2B-base s0": run_dir / "metrics.json", "A2B-copy": copy_dir / "metrics.json"})
    tables = [root / "tables" / f"faceoff.{ext}" for ext in ("csv", "md", "tex")]
    write_table(df, *tables)

    sweep = root / "tables" / "faceoff" / "ssim_w.csv"
    write_table(df.assign(lambda_ssim=[0.001, None]), sweep)

    out = root / "report.html"
    sections = [
        {
            "family": "faceoff",
            "evaluation": "translate",
            "table": tables[1],
            "extra_tables": [sweep],
            "variants": {"base": {"lambda_ssim": 0.001}},
            "figures": [
                root / "figures" / "faceoff" / "losses.png",
                root / "figures" / "faceoff" / "gone.png",
            ],
            "runs": [
                {
                    "id": "A2B-base s0",
                    "variant": "base",
                    "video": run_dir / "faceoff.mp4",
                    "samples": run_dir / "samples.png",
                    "params": {"lr": 0.0002, "n_layers_D": [3]},
                }
            ],
        }
    ]
    write_report(out, title="faceoff <test>", sections=sections)
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "faceoff &lt;test&gt;" in page
    links = re.findall(r'src="([^"]+)"', page)
    assert len(links) == 3 and all(not link.startswith("/") for link in links)
    assert all((out.parent / unquote(link)).is_file() for link in links)
    assert "<video" in page and "copy input" in page and "Mean over pairs per variant" in page
    assert "n_layers_D" in page and "[3]" in page and "<dt>l1_gt</dt>" in page
    assert "missing: " in page and "gone.png" in page
    assert "<h3>ssim_w</h3>" in page and "<th>lambda_ssim</th>" in page  # the sweep table, inline
    assert "<h4>base</h4><p><code>{&quot;lambda_ssim&quot;: 0.001}</code></p>" in page  # runs by variant
    # Wide tables scroll inside their box; every figure and video has the caption Snakemake's gives it.
    assert page.count("<table") == page.count('<div class="scroll"><table')
    figures = re.findall(r"<figure>.*?</figure>", page, flags=re.S)
    assert len(figures) == 3 and all(
        "<figcaption><strong>000 CycleGAN Face-off</strong>" in f for f in figures
    )
    assert (
        caption("losses", "faceoff").html() in page
        and caption("view", "faceoff", name="ssim_w").html() in page
    )
    assert (
        "<h2>faceoff: 000 CycleGAN Face-off</h2>" in page
        and "{" not in page.split("<body>")[1].split("<table")[0]
    )


def test_each_family_shows_its_own_glossary(tmp_path: Path) -> None:
    """A translation and a reenactment family: each table is explained by its own kind's glossary,
    so "collapse" (translation: near 0 = mode collapse) is never read as reenactment's copy excess."""
    translate, reenact = get_glossary("translate"), get_glossary("reenact")
    write_json(tmp_path / "t.json", _metrics(0.1, False))
    reenact_metrics = {"pair": ["114", "124"], "copy_input": True, "l1_gt": 0.2, "n_frames": 8}
    write_json(tmp_path / "r.json", reenact_metrics | {"ssim_input_excess": 0.3, "identity_sim_source": 0.5})
    sections = [
        {"family": "swap", "evaluation": "translate", "table": build_table({"run": tmp_path / "t.json"})},
        {"family": "reenact", "evaluation": "reenact", "table": build_table({"run": tmp_path / "r.json"})},
    ]
    write_report(tmp_path / "report.html", title="t", sections=sections)
    swap, reenacted = (tmp_path / "report.html").read_text().split('<section id="')[1:]
    assert "(translate evaluation)" in swap and "(reenact evaluation)" in reenacted
    for html, own, other in ((swap, translate, reenact), (reenacted, reenact, translate)):
        defined = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))
        columns = re.findall(r"<th>([^<]+)</th>", html.split("<details>")[0])
        assert set(columns) <= set(defined), set(columns) - set(defined)  # every column explained
        assert all(escape(own.columns()[name]) == text for name, text in defined.items())
        assert escape(own.intro) in html and escape(other.intro) not in html
    assert "<dt>collapse</dt>" in swap and "ssim_input_excess" not in swap
    assert "<dt>ssim_input_excess</dt>" in reenacted and "<dt>collapse</dt>" not in reenacted


def _snakemake_caption(files: dict[str, str], file: str, params: dict, **wildcards: str) -> str:
    """Caption file ``file`` as Snakemake's report renders it (with its Jinja settings)."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    context = SimpleNamespace(wildcards=SimpleNamespace(**wildcards), config=params)
    return env.from_string(files[f"captions/{file}"]).render(snakemake=context)


def _plain_rst(text: str) -> str:
    text = "\n".join(line for line in text.splitlines() if not line.startswith(".. "))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def test_snakemake_report_files_are_generated_and_committed(tmp_path: Path) -> None:
    """workflow/report/ is what faceoff.report.captions writes: rerun it after editing a caption.
    Written by a fresh process, as a maintainer runs it: models that other tests' plugins
    registered in this one must not count."""
    folder = Path(__file__).resolve().parents[1] / "workflow" / "report"
    subprocess.run([sys.executable, "-m", "faceoff.report.captions", str(tmp_path)], check=True)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written, "faceoff.report.captions wrote nothing"
    for name in written:
        assert (folder / name).is_file() and (folder / name).read_text() == (tmp_path / name).read_text(), (
            f"workflow/report/{name} is stale: run `python -m faceoff.report.captions workflow/report`"
        )


def test_snakemake_captions_say_what_the_html_report_says() -> None:
    """Each Jinja caption file, rendered for a case of every study and both evaluation kinds, is the
    caption the HTML report shows for it, and is valid reStructuredText."""
    from docutils.core import publish_parts

    files = snakemake_report_files()
    params = load_params([Path("params.yaml"), Path("config/smoke.yaml")])
    families = {"faceoff": "translate", "portrait": "translate", "reenact": "reenact", "swap": "translate"}
    run = "0712054-cyclegan_idt_plateau-s0"
    for family, kind in families.items():
        cases = [
            ("table.rst", {}, caption("table", family, kind)),
            ("run_video.rst", {"run": run}, caption("video", family, kind, **run_fields(run))),
            ("run_samples.rst", {"run": run}, caption("run_samples", family, kind, **run_fields(run))),
            ("train_samples.rst", {"run": run}, caption("train_samples", family, kind, **run_fields(run))),
            ("copy_video.rst", {"pair": "A2B"}, caption("copy_video", family, kind, pair="A2B")),
            ("apply.rst", {"run": run}, caption("apply", family, kind, **run_fields(run))),
        ]
        for name in ("summary", "lambda_p", "ssim_w", "other"):
            output = "summary" if name == "summary" else "view"
            cases.append(("table_views.rst", {"name": name}, caption(output, family, kind, name=name)))
        for name in ("losses", "comparison-A2B", "samples-1142124-no_pixel", "errors-A2B", "loss-terms", "x"):
            output, fields = figure_output(name)
            cases.append(("figures.rst", {"name": name}, caption(output, family, kind, name=name, **fields)))
        for file, wildcards, expected in cases:
            rendered = _snakemake_caption(files, file, params, family=family, **wildcards)
            assert _plain_rst(rendered) == _plain_rst(expected.rst()), (file, family, wildcards)
            publish_parts(rendered, writer="html", settings_overrides={"halt_level": 2, "report_level": 2})
    assert "section 5.7 (Training Loss Comparison), figure 7" in caption("losses", "faceoff").rst()
    assert "``driving_nme``" in caption("table", "reenact", "reenact").rst()
    assert "``collapse``" not in caption("table", "reenact", "reenact").rst()


def test_a_study_is_its_parameters(tmp_path: Path) -> None:
    """A family under a name no module knows (a copy of the face-off and reenactment families): the
    report gives it a section, a table caption with its own kind's columns, and Snakemake's caption
    files render for it what the HTML report says."""
    from faceoff import cli

    base = load_params([REPO / "params.yaml", REPO / "config/smoke.yaml"])
    families = {"novel": base["families"]["faceoff"], "mimic": base["families"]["reenact"]}
    override = tmp_path / "study.yaml"
    override.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "families": families}))
    config = [REPO / "params.yaml", REPO / "config/smoke.yaml", override]
    assert cli.main([*(a for c in config for a in ("-c", str(c))), "report"]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    for family, kind in (("novel", "translate"), ("mimic", "reenact")):
        section = page.split(f'<section id="{family}">')[1].split("</section>")[0]
        assert section.startswith(f"<h2>{family}: {family}</h2>")
        assert f"({kind} evaluation)" not in section  # no table yet: named missing, no glossary
        assert (
            "missing: " in section
            and caption("video", family, kind, **run_fields("A2B-x-s0")).study == family
        )
    files = snakemake_report_files()
    params = load_params(config)
    run = "1142124-full-s0"
    for family, kind in (("novel", "translate"), ("mimic", "reenact")):
        cases = [
            ("table.rst", {}, caption("table", family, kind)),
            ("run_video.rst", {"run": run}, caption("video", family, kind, **run_fields(run))),
            ("table_views.rst", {"name": "ssim_w"}, caption("view", family, kind, name="ssim_w")),
            ("figures.rst", {"name": "errors-A2B"}, caption("errors", family, kind, pair="A2B")),
        ]
        for file, wildcards, expected in cases:
            rendered = _snakemake_caption(files, file, params, family=family, **wildcards)
            assert _plain_rst(rendered) == _plain_rst(expected.rst()), (file, family)
        assert "a family without a registered study" in caption("table", family, kind).rst()


def test_a_kind_without_caption_texts_gets_generic_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind a plug-in registers has no caption text of its own: its videos and samples get the
    generic one, its table the columns of its own glossary."""
    from faceoff.evaluate import kinds
    from faceoff.evaluate.glossary import Glossary
    from faceoff.evaluate.kinds import EvaluationKind

    monkeypatch.setattr(kinds, "KINDS", dict(kinds.all_evaluations()))
    glossary = Glossary("toy", "toy", {"toy_frames": "frames the toy kind saw"})
    kinds.register_evaluation(EvaluationKind("toy", glossary, lambda job: {}))
    video = caption("video", "faceoff", "toy", **run_fields("A2B-x-s0"))
    assert "as its evaluation kind renders it" in video.shows and "`A2B-x-s0`" in video.shows
    assert caption("table", "faceoff", "toy").definitions["toy_frames"] == "frames the toy kind saw"


def test_a_registered_study_names_its_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    from faceoff.report import studies

    monkeypatch.setattr(studies, "STUDIES", dict(studies.STUDIES))
    s = studies.register_study(studies.Study("novel", "009", "A new study", sections={"table": "table 2"}))
    assert (
        caption("table", "novel").study == "009 A new study"
        and caption("table", "novel").section == "table 2"
    )
    assert caption("losses", "novel").section == "no counterpart in the study (added by faceoff)"
    with pytest.raises(ValueError, match="two studies"):
        studies.register_study(studies.Study("novel", "010", "Another"))
    assert studies.register_study(s) is s
