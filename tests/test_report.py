"""The HTML report links existing files relatively and embeds tables and parameters."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from faceoff.evaluate import build_table, write_table
from faceoff.evaluate.glossary import get_glossary
from faceoff.io.atomic import write_json
from faceoff.plots import sample_grid, side_by_side_video
from faceoff.report import write_report


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
