"""Re-scoring: every number on the leaderboard is computed here from predictions, never taken from a submitter."""

from __future__ import annotations

from typing import Any, Mapping

import polars as pl

from oncobench.benchmark.evaluator import EVALUATOR_VERSION, PredictionError, input_schema
from oncobench.benchmark.tasks import Task
from oncobench.leaderboard.copies import copied_seeds
from oncobench.leaderboard.entries import Entry, FoldScore, SubmissionError, combined_sha256, split_key
from oncobench.leaderboard.intervals import fold_summary


def protocol_folds(task: Task) -> list[int]:
    """The folds a leaderboard entry must cover: every fold of repeat 0 of the task's scheme."""
    return [f for r, f in task.folds if r == 0]


def protocol_key(task: Task) -> str:
    return split_key([task.get_split(f, 0).sha256 for f in protocol_folds(task)])


def score_submission(task: Task, frames: Mapping[tuple[int, int], pl.DataFrame], *, method: str, status: str,
                     role: str = "model", meta: dict[str, Any] | None = None,
                     valid: Mapping[tuple[int, int], dict[str, float]] | None = None,
                     reported: set[tuple[int, int]] = frozenset(), distinct_seeds: bool = True) -> Entry:
    """Evaluate every (fold, seed) frame; all problems of all folds are gathered into one :class:`SubmissionError`.

    ``reported``: (fold, seed) keys whose file was unreadable (already a problem): not listed again as missing.
    ``distinct_seeds``: refuse seeds of a fold that hold the same predictions (a submission's copies); the
    baselines' own runs pass False, since a deterministic model gives every seed the same predictions (the
    interval over folds is not narrowed by them either way).
    """
    folds = protocol_folds(task)
    problems = []
    seeds = sorted({s for _, s in frames} | {s for _, s in reported})
    expected = {(f, s) for f in folds for s in seeds}
    missing = sorted(expected - set(frames) - set(reported))
    extra = sorted(set(frames) - expected)
    if missing:
        problems.append(f"missing predictions for (fold, seed) {missing}; task {task.name} needs folds {folds} for every seed")
    if extra:
        problems.append(f"(fold, seed) {extra} are not folds of task {task.name} (folds {folds})")
    if distinct_seeds:
        problems += copied_seeds({k: v for k, v in frames.items() if k in expected})
    scores: list[FoldScore] = []
    for fold, seed in sorted(set(frames) & expected):
        split = task.get_split(fold, 0)
        try:
            result = task.evaluate(frames[(fold, seed)], split=split)
        except (PredictionError, ValueError) as exc:
            problems.append(f"fold {fold} seed {seed}: {exc}")
            continue
        scores.append(FoldScore(0, fold, seed, result.split_sha256, result.predictions_sha256, dict(result.metrics),
                                dict((valid or {}).get((fold, seed), {}))))
    if problems:
        raise SubmissionError(problems)
    return Entry(
        task=task.name, dataset=task.dataset.id, split_key=protocol_key(task), evaluator_version=EVALUATOR_VERSION,
        method=method, status=status, folds=tuple(scores), summary=fold_summary(scores),
        primary=task.spec.primary, predictions_sha256=combined_sha256([s.predictions_sha256 for s in scores]),
        role=role, meta=dict(meta or {}),
    )


def template_columns(task: Task) -> list[str]:
    return ["patient_id", *input_schema(task)["required"]]
