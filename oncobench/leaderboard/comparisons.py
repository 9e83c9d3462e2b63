"""What the leaderboard says beyond a ranking: paired tests per task and mean ranks across tasks.

Entries are re-scored per fold, so the same tests as ``oncobench results`` apply: per-fold differences
(seeds averaged within each fold) against the clinical reference and the best entry, with the corrected
resampled t-test and Wilcoxon (:mod:`oncobench.benchmark.compare`), on the folds both entries have.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from oncobench.benchmark import compare
from oncobench.benchmark.evaluator import LOWER_IS_BETTER
from oncobench.benchmark.results import SplitSizes
from oncobench.benchmark.tasks import Task
from oncobench.leaderboard.entries import Entry
from oncobench.leaderboard.ranking import RankedRow
from oncobench.leaderboard.site import esc

CD_PNG = "critical_difference.png"


def label(entry: Entry) -> str:
    return f"{entry.method} v{entry.version}" + ("" if entry.status == "baseline" else f" ({entry.status})")


def entry_fold_scores(rows: list[RankedRow], primary: str) -> pl.DataFrame:
    """Per (entry, repeat, fold): the primary score averaged over the entry's seeds."""
    records = [{"model": label(r.entry), "repeat": f.repeat, "fold": f.fold, "seed": f.seed,
                primary: f.test.get(primary, math.nan)} for r in rows for f in r.entry.folds]
    if not records:
        return pl.DataFrame(schema={"model": pl.String, "repeat": pl.Int64, "fold": pl.Int64, "score": pl.Float64})
    return compare.fold_scores(pl.DataFrame(records), primary)


def paired_cells(task: Task, rows: list[RankedRow]) -> dict[str, tuple[str, str]]:
    """Per entry label: the ("vs clinical", "vs best") cells, ``Δ (p_t, p_W)`` on common folds ('—' for itself).

    The clinical reference is the best clinical-reference entry, the best entry the best non-control one.
    """
    primary = task.spec.primary
    sign = -1.0 if primary in LOWER_IS_BETTER else 1.0
    scored = [r for r in rows if not math.isnan(r.entry.score(primary)["mean"])]

    def best(role_ok) -> str | None:
        cand = [r.entry for r in scored if role_ok(r.entry.role)]
        return label(max(cand, key=lambda e: sign * e.score(primary)["mean"])) if cand else None

    refs = (best(lambda role: role == "clinical reference"), best(lambda role: role != "control"))
    scores = entry_fold_scores(rows, primary)
    ratio = SplitSizes(task)
    out = {}
    for r in rows:
        me = label(r.entry)
        cells = []
        for ref in refs:
            if ref is None or ref == me:
                cells.append("—")
                continue
            t = compare.paired_test(scores, me, ref, ratio)
            if t.n_folds == 0:
                cells.append("no common fold")
            elif t.n_folds == 1:
                cells.append(f"{t.mean_diff:+.3f} (one split: no fold test)")
            else:
                cells.append(f"{t.mean_diff:+.3f} (p_t {_p(t.p_t)}, p_W {_p(t.p_wilcoxon)}, {t.n_folds} folds)")
        out[me] = (cells[0], cells[1])
    return out


def entry_class(task: Task, entry: Entry) -> str:
    """``single`` / ``fusion`` / ``model`` (:func:`compare.modality_class`): a submission's declared
    ``modalities`` decide; a baseline entry's method is its model spec (e.g. ``coxnet/rna``)."""
    declared = entry.meta.get("modalities")
    if entry.status != "baseline" and isinstance(declared, list) and declared:
        return "single" if len(declared) == 1 else "fusion"
    return compare.modality_class(entry.method, task.inputs)


def verdict_text(task: Task, rows: list[RankedRow]) -> str:
    """The task's header line, as ``oncobench results`` prints it: best single modality, clinical reference and
    whether a fusion beats both (corrected resampled t-test on common folds, :func:`compare.verdict`)."""
    primary = task.spec.primary
    higher = primary not in LOWER_IS_BETTER
    scores = entry_fold_scores(rows, primary)
    done = compare.completion(scores)
    expected = scores.select(compare.UNIT).unique().height
    table = [{"model": label(r.entry), "role": r.entry.role, "class": entry_class(task, r.entry),
              "mean": r.entry.score(primary)["mean"], "folds_done": done.get(label(r.entry), (0, expected))[0],
              "folds_expected": expected} for r in rows]
    table = compare.comparison_columns(table, scores, higher, SplitSizes(task))
    return compare.verdict(table, higher).text(primary)


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else (f"{value:.2g}" if value >= 0.001 else "<0.001")


def cross_task_table(ranked: dict[Task, list[RankedRow]]) -> tuple[pl.DataFrame, dict[str, bool], list[str]]:
    """Tasks x entry labels (mean primary score); only labels with an entry on every task are kept."""
    per_task = {f"{t.name} ({t.dataset.id})": {label(r.entry): r.entry.score(t.spec.primary)["mean"] for r in rows
                                               if not math.isnan(r.entry.score(t.spec.primary)["mean"])}
                for t, rows in ranked.items() if rows}
    higher = {f"{t.name} ({t.dataset.id})": t.spec.primary not in LOWER_IS_BETTER for t in ranked}
    table, left_out = compare.complete_block(per_task)
    return table, higher, left_out


def cross_task_section(ranked: dict[Task, list[RankedRow]], out_dir: Path) -> str:
    """HTML for the index page: mean ranks across tasks and, with 5+ tasks and 3+ entries, the CD diagram."""
    table, higher, left_out = cross_task_table(ranked)
    if table.is_empty() or table.width < 3:
        return ("<h2>Across tasks</h2><p class=\"note\">Mean ranks need at least two entries present on every task; "
                "not yet.</p>")
    ranks = compare.mean_ranks(table, higher)
    items = "".join(f"<tr><td class=\"num\">{r:.2f}</td><td>{esc(m)}</td></tr>" for m, r in ranks.items())
    html = (f"<h2>Across tasks</h2><p class=\"note\">Mean rank (1 = best) over {table.height} tasks of the entries "
            "present on every one" + (f"; left out: {esc(', '.join(left_out))}" if left_out else "") + ".</p>"
            f"<table id=\"ranks\"><thead><tr><th>mean rank</th><th>entry</th></tr></thead><tbody>{items}</tbody></table>")
    try:
        _, cd = compare.critical_difference(table, out_dir / CD_PNG, higher)
    except ValueError as exc:
        return html + f"<p class=\"note\">No critical-difference diagram: {esc(exc)}.</p>"
    return (html + f"<h2>Critical-difference diagram</h2><p class=\"note\">Friedman test with the Nemenyi post-hoc "
            f"test (Demsar 2006; autorank): entries joined by a bar are not significantly different (CD = {cd:.2f}).</p>"
            f"<img alt=\"critical-difference diagram\" src=\"{CD_PNG}\">")
