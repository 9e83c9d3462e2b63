"""Ranking within one comparability group, by the primary metric, with ties where 95 % intervals overlap."""

from __future__ import annotations

import math
from dataclasses import dataclass

from oncobench.benchmark.aggregate import format_summary
from oncobench.benchmark.evaluator import LOWER_IS_BETTER
from oncobench.leaderboard.entries import Entry


@dataclass(frozen=True)
class RankedRow:
    rank: int
    entry: Entry
    tied_with_previous: bool  # its 95 % CI overlaps the row above's


def latest_versions(entries: list[Entry]) -> list[Entry]:
    """Each method's newest version (older versions stay stored and listed by the API)."""
    latest: dict[tuple[str, str], Entry] = {}
    for e in entries:
        key = (e.method, e.status)
        if key not in latest or e.version > latest[key].version:
            latest[key] = e
    return list(latest.values())


def rank(entries: list[Entry], primary: str) -> list[RankedRow]:
    """Sorted best first; controls and references are ranked too and shown as reference rows."""
    lower = primary in LOWER_IS_BETTER

    def key(e: Entry) -> float:
        m = e.score(primary)["mean"]
        return math.inf if math.isnan(m) else (m if lower else -m)

    ordered = sorted(entries, key=lambda e: (key(e), e.method, e.version))
    rows = []
    for i, e in enumerate(ordered):
        tied = False
        if i:
            prev, cur = ordered[i - 1].score(primary), e.score(primary)
            if not any(math.isnan(v) for v in (prev["ci_low"], prev["ci_high"], cur["ci_low"], cur["ci_high"])):
                tied = prev["ci_low"] <= cur["ci_high"] and cur["ci_low"] <= prev["ci_high"]
        rows.append(RankedRow(i + 1, e, tied))
    return rows


def format_leaderboard(task_name: str, dataset: str, rows: list[RankedRow], primary: str) -> str:
    """The terminal table: rank, method, version, status, primary mean ± sd [CI], folds x seeds; '=' marks ties."""
    if not rows:
        return f"leaderboard {task_name} on {dataset}: no entries yet"
    head = f"{'rank':>4}  {'method':<26}{'ver':>4}  {'status':<9}{'role':<20}{primary + ' (mean ± sd [95% CI])':<40}{'folds x seeds':>14}"
    lines = [f"leaderboard {task_name} on {dataset}  ('=' : 95% CI overlaps the row above)", head, "-" * len(head)]
    for r in rows:
        e = r.entry
        mark = "=" if r.tied_with_previous else " "
        n_folds = len({f.fold for f in e.folds})
        lines.append(f"{r.rank:>3}{mark}  {e.method[:25]:<26}{e.version:>4}  {e.status:<9}{e.role:<20}"
                     f"{format_summary(e.score(primary)):<40}{f'{n_folds} x {len(e.seeds)}':>14}")
    return "\n".join(lines)
