"""HTML pages of the leaderboard (static export and the served pages are the same HTML) and their plots.

All submitter text goes through :func:`html.escape`; CSV exports neutralise spreadsheet formulas. Plots are
matplotlib PNGs: per-fold scores (points) with mean and 95 % CI per entry, and for survival tasks Kaplan-Meier
curves of the top entry's risk groups (above vs at-or-below the median risk within each test fold).
"""

from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path
from typing import Any, BinaryIO

from oncobench.benchmark.aggregate import format_summary
from oncobench.leaderboard.ranking import RankedRow

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
th{cursor:pointer;background:#f4f4f4;user-select:none}th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
tr.control td{color:#777;font-style:italic}td.num{text-align:right;font-variant-numeric:tabular-nums}
.tie{color:#b60}.note{color:#555;font-size:.9rem}img{max-width:100%}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      rows.sort(function(a, b){
        var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP: prefix with a single quote); spreadsheets skip
    leading blanks before they look for ``=``, so those count too."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) or text.lstrip(" \n").startswith(FORMULA_START) else text


# Submitter text in a plot is shown as it is: no mathtext ('$' would start it, and it can raise) and no TeX.
LITERAL = {"parse_math": False, "usetex": False}


def page(title: str, body: str) -> str:
    """A whole HTML page with the leaderboard's style and table-sorting script (no external reference)."""
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}<script>{SORT_JS}</script></body></html>")


def _num(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.6g}"


def index_page(tasks: list[dict[str, Any]], link: str = "{page}.html", extra: str = "") -> str:
    """The index of tasks: name, dataset, kind, primary metric, entries, best method; ``link`` formats ``page``.

    ``extra``: an HTML section appended below the table, already escaped (the cross-task ranks of
    :mod:`oncobench.leaderboard.comparisons`)."""
    rows = "".join(
        f"<tr><td data-sort=\"{esc(t['task'])}\"><a href=\"{esc(link.format(page=t['page']))}\">{esc(t['task'])}</a></td>"
        f"<td data-sort=\"{esc(t['dataset'])}\">{esc(t['dataset'])}</td><td data-sort=\"{esc(t['kind'])}\">{esc(t['kind'])}</td>"
        f"<td data-sort=\"{esc(t['primary'])}\">{esc(t['primary'])}</td><td class=\"num\" data-sort=\"{t['entries']}\">{t['entries']}</td>"
        f"<td data-sort=\"{esc(t['best'])}\">{esc(t['best'])}</td></tr>" for t in tasks)
    body = ("<h1>OncoBench leaderboard</h1><p class=\"note\">Every score is re-computed by the OncoBench evaluator from "
            "submitted predictions; entries compare only within the same task, dataset version, split and evaluator version.</p>"
            "<table class=\"sortable\" id=\"tasks\"><thead><tr><th>task</th><th>dataset</th><th>kind</th><th>primary metric</th>"
            f"<th>entries</th><th>best</th></tr></thead><tbody>{rows}</tbody></table>{extra}")
    return page("OncoBench leaderboard", body)


def federated_section(entries: list[dict[str, Any]]) -> str:
    """The federated track: centralised vs federated vs local-only (mean over hospitals) per task and model."""
    if not entries:
        return ""
    rows = "".join(
        f"<tr><td>{esc(e['task'])}</td><td>{esc(e['dataset'])}</td><td>{esc(e['model'])}</td><td>{esc(e['strategy'])}</td>"
        f"<td class=\"num\">{e['clients']}</td><td class=\"num\">{e['rounds']}</td><td class=\"num\">{e['bytes']:,}</td>"
        f"<td>{esc(e['metric'])}</td><td class=\"num\">{_num(e['centralised'])}</td><td class=\"num\">{_num(e['federated'])}</td>"
        f"<td class=\"num\">{_num(e['local_mean'])}</td></tr>" for e in entries)
    return ("<h2 id=\"federated\">Federated track</h2><p class=\"note\">Hospitals as Flower clients; the same held-out "
            "test patients score the model trained on all hospitals pooled (centralised), through Flower (federated) "
            "and by each hospital alone (local, mean over hospitals). <code>oncobench federated</code> makes these runs.</p>"
            "<table class=\"sortable\" id=\"federated-table\"><thead><tr><th>task</th><th>dataset</th><th>model</th>"
            "<th>strategy</th><th>clients</th><th>rounds</th><th>bytes</th><th>metric</th><th>centralised</th>"
            f"<th>federated</th><th>local (mean)</th></tr></thead><tbody>{rows}</tbody></table>")


def task_page(task: dict[str, Any], rows: list[RankedRow], *, plots: dict[str, str], others: int = 0,
              paired: dict[str, tuple[str, str]] | None = None, fairness: dict[str, dict[str, Any]] | None = None,
              verdict: str | None = None) -> str:
    """One task: the sortable ranked table, the per-fold plot, Kaplan-Meier curves for survival tasks.

    ``paired``: per entry label (``method vVERSION``) the paired-test cells against the clinical reference
    and the best entry (:func:`oncobench.leaderboard.comparisons.paired_cells`); ``fairness``: per entry label and
    subgroup attribute the primary metric's worst group and largest gap (:func:`oncobench.benchmark.fairness.entry_gaps`);
    ``verdict``: the header line (best single modality, clinical reference, does a fusion beat both:
    :func:`oncobench.leaderboard.comparisons.verdict_text`)."""
    from oncobench.leaderboard.comparisons import label

    paired = paired or {}
    fairness = fairness or {}
    primary = task["primary"]
    secondary = [m for m in task["secondary"] if any(m in r.entry.summary for r in rows)]
    head = ("<tr><th>rank</th><th>method</th><th>version</th><th>status</th><th>authors</th>"
            f"<th>{esc(primary)} mean</th><th>{esc(primary)} (mean ± sd [95% CI])</th>"
            + "".join(f"<th>{esc(m)}</th>" for m in secondary)
            + ("<th title=\"mean per-fold difference; corrected resampled t-test (Nadeau &amp; Bengio 2003), Wilcoxon\">"
               "vs clinical reference Δ</th><th>vs best Δ</th>" if paired else "")
            + ("<th title=\"per subgroup attribute (ancestry, sex, age band, hospital region): the group with the worst "
               "score, mean over folds\">worst group</th><th title=\"best minus worst scoreable group\">largest gap</th>"
               if fairness else "")
            + "<th>folds × seeds</th><th>submitted</th><th>links</th></tr>")
    body_rows = []
    for r in rows:
        e = r.entry
        s = e.score(primary)
        links = " ".join(f"<a href=\"{esc(e.meta[k])}\" rel=\"nofollow noopener\">{label}</a>"
                         for k, label in (("code_url", "code"), ("paper_url", "paper"))
                         if str(e.meta.get(k, "")).startswith(("https://", "http://")))
        cls = "control" if e.role != "model" else ""
        tie = " <span class=\"tie\" title=\"95% CI overlaps the row above\">=</span>" if r.tied_with_previous else ""
        cells = [
            f"<td class=\"num\" data-sort=\"{r.rank}\">{r.rank}{tie}</td>",
            f"<td data-sort=\"{esc(e.method)}\" title=\"{esc(e.meta.get('description', ''))}\">{esc(e.method)}"
            + (f" <span class=\"note\">({esc(e.role)})</span>" if e.role != "model" else "") + "</td>",
            f"<td class=\"num\" data-sort=\"{e.version}\">{e.version}</td>",
            f"<td data-sort=\"{esc(e.status)}\">{esc(e.status)}</td>",
            f"<td data-sort=\"{esc(e.meta.get('authors', ''))}\">{esc(e.meta.get('authors', ''))}</td>",
            f"<td class=\"num\" data-sort=\"{_num(s['mean'])}\">{_num(s['mean'])}</td>",
            f"<td data-sort=\"{_num(s['mean'])}\">{esc(format_summary(s))}</td>",
        ] + [f"<td class=\"num\" data-sort=\"{_num(e.score(m)['mean'])}\">{_num(e.score(m)['mean'])}</td>" for m in secondary] + [
            f"<td class=\"paired\" data-sort=\"{esc(c)}\">{esc(c)}</td>" for c in (paired.get(label(e), ("", "")) if paired else ())
        ] + (_fairness_cells(fairness.get(label(e), {})) if fairness else []) + [
            f"<td data-sort=\"{len(e.folds)}\">{len({f.fold for f in e.folds})} × {len(e.seeds)}</td>",
            f"<td data-sort=\"{esc(e.submitted_at)}\">{esc(e.submitted_at)}</td><td>{links}</td>",
        ]
        body_rows.append(f"<tr class=\"{cls}\" data-method=\"{esc(e.method)}\">{''.join(cells)}</tr>")
    figures = "".join(f"<h2>{esc(title)}</h2><img alt=\"{esc(title)}\" src=\"{esc(src)}\">" for title, src in plots.items())
    note = (f"<p class=\"note\">{others} entries made on another dataset version, split or evaluator version are not "
            "ranked here.</p>" if others else "")
    body = (f"<p><a href=\"index.html\">all tasks</a></p><h1>{esc(task['task'])} <span class=\"note\">on {esc(task['dataset'])}</span></h1>"
            f"<p>{esc(task.get('description', ''))}</p><p class=\"note\">kind {esc(task['kind'])}; primary metric {esc(primary)}; "
            f"scheme {esc(task['scheme'])}; controls and clinical references shown in grey as reference rows.</p>{note}"
            + (f"<p class=\"verdict\" id=\"verdict\">{esc(verdict)}</p>" if verdict else "") +
            f"<table class=\"sortable\" id=\"leaderboard\"><thead>{head}</thead><tbody>{''.join(body_rows)}</tbody></table>{figures}")
    return page(f"{task['task']} — OncoBench leaderboard", body)


def _fairness_cells(gaps: dict[str, dict[str, Any]]) -> list[str]:
    """The worst-group and largest-gap cells: one line per attribute (``ancestry AA 0.61``, ``ancestry 0.08``)."""
    worst = "; ".join(f"{by} {g['worst_group']} {_num(g['worst'])}" for by, g in gaps.items() if g.get("worst_group"))
    gaps_text = "; ".join(f"{by} {_num(g['gap'])}" for by, g in gaps.items() if g.get("gap") is not None)
    largest = max((g["gap"] for g in gaps.values() if g.get("gap") is not None), default=None)
    return [f"<td data-sort=\"{esc(worst)}\">{esc(worst)}</td>",
            f"<td data-sort=\"{_num(largest)}\">{esc(gaps_text)}</td>"]


def leaderboard_csv(rows: list[RankedRow], primary: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["rank", "method", "version", "status", "role", "authors", f"{primary}_mean", f"{primary}_sd",
                     f"{primary}_ci_low", f"{primary}_ci_high", "submitted_at"])
    for r in rows:
        e, s = r.entry, r.entry.score(primary)
        writer.writerow([r.rank, csv_safe(e.method), e.version, e.status, e.role, csv_safe(e.meta.get("authors", "")),
                         _num(s["mean"]), _num(s["sd"]), _num(s["ci_low"]), _num(s["ci_high"]), e.submitted_at])
    return buf.getvalue()


def fold_plot(rows: list[RankedRow], primary: str, path: Path | BinaryIO) -> Path | BinaryIO:
    """Per-fold scores as points, mean and 95 % CI as a bar, one row per entry (best at the top)."""
    from matplotlib.figure import Figure  # not pyplot: its global state is unsafe in the server's threads

    fig = Figure(figsize=(8, 0.45 * max(len(rows), 2) + 1.2))
    ax = fig.subplots()
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        scores = [f.test.get(primary, math.nan) for f in r.entry.folds]
        ax.scatter(scores, [y] * len(scores), s=14, alpha=0.6, color="tab:blue" if r.entry.role == "model" else "grey")
        s = r.entry.score(primary)
        if not math.isnan(s["mean"]):
            low = s["ci_low"] if not math.isnan(s["ci_low"]) else s["mean"]
            high = s["ci_high"] if not math.isnan(s["ci_high"]) else s["mean"]
            ax.errorbar([s["mean"]], [y], xerr=[[s["mean"] - low], [high - s["mean"]]], fmt="D", color="black", capsize=3)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r.entry.method} v{r.entry.version}" for r in reversed(rows)], **LITERAL)
    ax.set_xlabel(f"{primary} per fold (points); mean and 95% CI (diamond)")
    fig.tight_layout()
    fig.savefig(path, dpi=90, format="png")
    return path


def km_plot(time: list[float], event: list[bool], high_risk: list[bool], path: Path | BinaryIO, title: str,
            unit: str = "days") -> Path | BinaryIO:
    """Kaplan-Meier curves of the high- and low-risk groups (scikit-survival's estimator)."""
    from matplotlib.figure import Figure  # not pyplot: its global state is unsafe in the server's threads
    import numpy as np
    from sksurv.nonparametric import kaplan_meier_estimator

    t, e, h = np.asarray(time, float), np.asarray(event, bool), np.asarray(high_risk, bool)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for mask, label, color in ((~h, "low risk (≤ fold median)", "tab:blue"), (h, "high risk (> fold median)", "tab:red")):
        if mask.sum() and e[mask].any():
            x, y = kaplan_meier_estimator(e[mask], t[mask])
            ax.step(np.r_[0, x], np.r_[1, y], where="post", label=f"{label}, n={int(mask.sum())}", color=color)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("survival probability")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9, **LITERAL)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90, format="png")
    return path
