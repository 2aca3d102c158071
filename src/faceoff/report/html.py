"""A self-contained HTML report: tables inline, figures and videos linked by relative paths.

Relative links keep the page working when the results folder is copied or served elsewhere;
inline CSS and no scripts mean it opens from the file system in any browser. Every table, figure
and video carries the caption Snakemake's report gives it (:mod:`faceoff.report.captions`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from faceoff.evaluate.glossary import Glossary, get_glossary
from faceoff.evaluate.table import summary_table, with_intervals
from faceoff.io.atomic import write_text
from faceoff.report.captions import Caption, caption, claims_caption, figure_output, run_fields
from faceoff.report.studies import study

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
.scroll{overflow-x:auto;max-width:100%;margin:0 0 1.5em}
figcaption,.caption{font-size:.85em;color:#444;max-width:60em;margin:.3em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
img,video{max-width:100%;border:1px solid #ddd}figure{margin:1em 0;max-width:100%}.missing{color:#b00}
details{border:1px solid #ddd;border-radius:4px;padding:.5em 1em;margin:.5em 0}summary{font-weight:600}
.media{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
td.quote{text-align:left;font-style:italic;max-width:28em}.supported{color:#1a7f37}
.contradicted{color:#b00}.inconclusive{color:#8a6d00}.provisional{font-weight:400;color:#666}
"""


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "section"


def _link(path: str | os.PathLike[str], base: Path) -> str:
    return quote(Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix())


def _missing(path: str | os.PathLike[str]) -> str:
    return f'<p class="missing">missing: {escape(str(path))}</p>'


def _frame_html(df: pd.DataFrame) -> str:
    """The table in a box that scrolls sideways: wide tables stay inside the page."""
    table = df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0, escape=True)
    return f'<div class="scroll">{table}</div>'


def _caption(cap: Caption) -> str:
    return f'<p class="caption">{cap.html()}</p>'


def _glossary_html(glossary: Glossary, columns: Sequence[str]) -> str:
    """The definitions of ``columns`` in the family's own glossary (what its evaluation computed)."""
    definitions = glossary.columns()
    entries = "".join(
        f"<dt>{escape(c)}</dt><dd>{escape(definitions[c])}</dd>" for c in columns if c in definitions
    )
    return (
        f"<details><summary>What the columns measure ({escape(glossary.kind)} evaluation)</summary>"
        f"<p>{escape(glossary.intro)}</p><dl>{entries}</dl></details>"
    )


def _table_html(table: pd.DataFrame | str | os.PathLike[str], glossary: Glossary, family: str) -> str:
    """The family table, its per-variant summary, their captions and the glossary of its columns; a
    .md/.tex path is read from its sibling .csv."""
    summary = None
    if isinstance(table, pd.DataFrame):
        df = table
    else:
        path = Path(table)
        csv = path.with_suffix(".csv")
        if csv.is_file():
            df = pd.read_csv(csv)
            saved = path.with_suffix("") / "summary.csv"  # the table step's, with 95% intervals
            summary = with_intervals(pd.read_csv(saved)) if saved.is_file() else None
        elif path.is_file():
            return f"<pre>{escape(path.read_text())}</pre>"
        else:
            return _missing(path)
    parts = ["<h3>Results</h3>", _caption(caption("table", family, glossary.kind)), _frame_html(df)]
    columns = list(df.columns)
    if {"variant", "pair"} <= set(df.columns):
        summary = summary_table(df) if summary is None else summary
        parts += [
            "<h3>Mean over pairs per variant</h3>",
            _caption(caption("summary", family, glossary.kind)),
            _frame_html(summary),
        ]
        columns += [c for c in summary.columns if c not in columns]
    parts.append(_glossary_html(glossary, columns))
    return "\n".join(parts)


def _image(path: str | os.PathLike[str], base: Path, cap: Caption) -> str:
    if not Path(path).is_file():
        return _missing(path)
    return (
        f'<figure><img src="{_link(path, base)}" alt="{escape(Path(path).name)}">'
        f"<figcaption>{cap.html()}</figcaption></figure>"
    )


def _video(path: str | os.PathLike[str], base: Path, cap: Caption) -> str:
    if not Path(path).is_file():
        return _missing(path)
    return (
        f'<figure><video controls loop muted preload="metadata" src="{_link(path, base)}"></video>'
        f"<figcaption>{cap.html()}</figcaption></figure>"
    )


def _params_html(params: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(str(k))}</td><td>{escape(json.dumps(v, default=str))}</td></tr>"
        for k, v in sorted(params.items())
    )
    return f'<div class="scroll"><table><tr><th>parameter</th><th>value</th></tr>{rows}</table></div>'


# The caption of each file a run's entry may show, by file name.
_RUN_MEDIA = {
    "faceoff.mp4": "video",
    "samples.png": "run_samples",
    "apply.mp4": "apply",
    "apply_side_by_side.mp4": "apply_side_by_side",
}
_COPY_MEDIA = {"faceoff.mp4": "copy_video", "samples.png": "copy_samples"}


def _run_html(run: Mapping[str, Any], base: Path, family: str, kind: str) -> str:
    """A run's media with their captions; a ``<pair>-copy`` id is the copy-input baseline."""
    run_id = str(run["id"])
    if run_id.endswith("-copy"):
        outputs, fields = _COPY_MEDIA, {"pair": run_id.removesuffix("-copy")}
    else:
        outputs, fields = _RUN_MEDIA, run_fields(run_id)
    media = []
    for key in ("video", "samples", "apply_video", "apply_side_by_side"):
        if run.get(key):
            path = Path(run[key])
            cap = caption(outputs.get(path.name, "video"), family, kind, **fields)
            media.append((_image if path.suffix == ".png" else _video)(path, base, cap))
    parts = [
        f"<details open><summary>{escape(str(run['id']))}</summary>",
        f'<div class="media">{"".join(media)}</div>',
    ]
    if run.get("params"):
        parts.append(_params_html(run["params"]))
    parts.append("</details>")
    return "\n".join(parts)


def _number(value: Any) -> str:
    return "–" if pd.isna(value) else f"{float(value):.4g}"


def _claim_row(row: Mapping[str, Any]) -> str:
    """One claim of the ledger: what it says, what was compared and how, the difference with its
    interval and the verdict, and links to the figures and runs it rests on."""
    family, verdict = str(row["family"]), str(row["verdict"])
    compared = [str(v) for v in (row["variant"], row["baseline"]) if str(v) != "copy"]
    links = [f'<a href="#{_anchor(family)}-figures">figures</a>']
    links += [f'<a href="#{_anchor(f"{family}-{v}")}">{escape(v)}</a>' for v in dict.fromkeys(compared)]
    direction = str(row["direction"])
    if direction == "equivalent" and not pd.isna(row["margin"]):
        direction += f" (±{_number(row['margin'])})"
    mark = ' <span class="provisional">(provisional)</span>' if row["provisional"] == "True" else ""
    if not pd.isna(row.get("note")):  # why a claim has no interval, and the like
        mark += f'<br><span class="provisional">{escape(str(row["note"]))}</span>'
    quote = escape(str(row["quote"]))
    low, high = _number(row["difference_lo"]), _number(row["difference_hi"])
    cells = [
        ("", escape(str(row["claim"]))),
        ("quote", f"“{quote}”"),
        ("", escape(f"{row['variant']} vs {row['baseline']}")),
        ("", escape("failure rate" if row["form"] == "rate" else str(row["metric"]))),
        ("", escape(direction)),
        ("", f"{_number(row['difference'])} [{low}, {high}]"),
        (_anchor(verdict), escape(verdict) + mark),
        ("", str(int(row["n_seeds"])) if not pd.isna(row["n_seeds"]) else "0"),
        ("", str(int(row["n_samples"])) if not pd.isna(row["n_samples"]) else "0"),
        ("", " ".join(links)),
    ]
    return "<tr>" + "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>" for c, v in cells) + "</tr>"


_CLAIM_HEADER = ("claim", "quote", "compared", "metric", "direction", "difference [95% interval]")
_CLAIM_HEADER += ("verdict", "seeds", "samples", "see")


def _claims_html(claims: Mapping[str, Any], base: Path) -> str:
    """The claims ledger, grouped by study, then its forest plot: the report's first section."""
    parts = ['<section id="claims"><h2>Claims: what the studies conclude, tested</h2>']
    parts.append(_caption(claims_caption("claims")))
    table = Path(claims["table"])
    if not table.is_file():
        return "\n".join([*parts, _missing(table), "</section>"])
    df = pd.read_csv(table, dtype={"provisional": str})
    if df.empty:
        parts.append("<p>No claim compares variants that this configuration runs.</p>")
    elif (df["provisional"] == "True").any():
        parts.append(
            '<p class="provisional">Verdicts marked provisional rest on fewer than 3 seeds: their '
            "intervals hold the test samples' spread only, not the training's (<code>make claims</code> "
            "runs 3).</p>"
        )
    header = "".join(f"<th>{escape(h)}</th>" for h in _CLAIM_HEADER)
    for family, rows in df.groupby("family", sort=False):
        label = f"{family}: {study(str(family)).label}"
        parts.append(f'<h3><a href="#{_anchor(str(family))}">{escape(label)}</a></h3>')
        body = "".join(_claim_row(row) for row in rows.to_dict("records"))
        parts.append(f'<div class="scroll"><table><tr>{header}</tr>{body}</table></div>')
    parts.append(_image(claims["forest"], base, claims_caption("forest")))
    parts.append("</section>")
    return "\n".join(parts)


def write_report(
    out_html: str | os.PathLike[str],
    title: str,
    sections: Sequence[Mapping[str, Any]],
    claims: Mapping[str, Any] | None = None,
) -> None:
    """Write the report, one section per family.

    Each section is a mapping with ``family``, ``evaluation`` (the family's evaluation kind, whose
    glossary explains the table) and optionally ``table`` (DataFrame or path of the
    CSV/Markdown/LaTeX table), ``extra_tables`` (CSV paths: sweeps and other views), ``figures``
    (image paths), ``variants`` (name -> overrides) and ``runs``: mappings with ``id`` and
    optionally ``variant``, ``video``, ``samples``, ``apply_video``, ``apply_side_by_side`` (paths:
    the crops side by side, samples, the run pasted back into whole frames, beside the original) and
    ``params`` (its settings);
    runs are grouped by variant. Files that do not exist are named in the page instead of
    leaving broken links.

    ``claims`` (``table``: the ledger's CSV, ``forest``: its forest plot) comes first, grouped by
    study, each claim linked to its family's figures and to the runs of the variants it compares.
    """
    out_html = Path(out_html)
    base = out_html.parent
    toc = "".join(f'<li><a href="#{_anchor(s["family"])}">{escape(s["family"])}</a></li>' for s in sections)
    if claims is not None:
        toc = f'<li><a href="#claims">claims</a></li>{toc}'
    body = [f"<h1>{escape(title)}</h1>", f"<ul>{toc}</ul>"]
    if claims is not None:
        body.append(_claims_html(claims, base))
    for section in sections:
        family = section["family"]
        kind = section["evaluation"]
        body.append(
            f'<section id="{_anchor(family)}"><h2>{escape(family)}: {escape(study(family).label)}</h2>'
        )
        if section.get("table") is not None:
            body.append(_table_html(section["table"], get_glossary(kind), family))
        for extra in section.get("extra_tables", ()):
            name = Path(extra).stem
            if name != "summary":  # the summary is already under the family table
                view = _caption(caption("view", family, kind, name=name))
                body.append(f"<h3>{escape(name)}</h3>{view}" + _frame_html(pd.read_csv(extra)))
        if section.get("figures"):
            body.append(f'<a id="{_anchor(family)}-figures"></a><h3>Figures</h3>')  # the claims link here
            for path in section["figures"]:
                output, fields = figure_output(Path(path).stem)
                body.append(_image(path, base, caption(output, family, kind, name=Path(path).stem, **fields)))
        if section.get("runs"):
            body.append("<h3>Runs</h3>")
            by_variant: dict[Any, list[Mapping[str, Any]]] = {}
            for run in section["runs"]:
                by_variant.setdefault(run.get("variant"), []).append(run)
            for variant, runs in by_variant.items():
                if variant is not None:
                    overrides = (section.get("variants") or {}).get(variant) or {}
                    body.append(
                        f'<a id="{_anchor(f"{family}-{variant}")}"></a><h4>{escape(str(variant))}</h4>'
                        f"<p><code>{escape(json.dumps(overrides))}</code></p>"
                    )
                body += [_run_html(run, base, family, kind) for run in runs]
        body.append("</section>")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    write_text(out_html, page)
