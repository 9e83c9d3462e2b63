"""Leaderboard entries: what a ranked row says, and the submitter metadata it accepts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from oncobench.datasets.errors import OncoBenchError

STATUSES = ("baseline", "verified", "rerun")

# meta.toml keys a submission may carry; anything else is refused. Metric numbers are never read from it.
META_KEYS: dict[str, type | tuple[type, ...]] = {
    "method": str, "version_note": str, "authors": str, "contact": str, "code_url": str, "paper_url": str,
    "description": str, "modalities": list, "external_data": bool, "external_data_text": str,
    "hyperparameter_budget": str, "n_params": int, "runtime_seconds": (int, float), "hardware": str,
}
REQUIRED_META = ("method", "authors", "contact")
TEXT_LIMIT = 2000


class SubmissionError(OncoBenchError, ValueError):
    """A refused submission; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("submission refused:\n  - " + "\n  - ".join(self.problems))


class DuplicateSubmissionError(SubmissionError):
    """The same predictions were already submitted (matched by their sha256)."""


@dataclass(frozen=True)
class FoldScore:
    repeat: int
    fold: int
    seed: int
    split_sha256: str
    predictions_sha256: str
    test: dict[str, float]
    valid: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """One leaderboard entry; entries compare only within the same :meth:`comparability_key`."""

    task: str
    dataset: str
    split_key: str
    evaluator_version: str
    method: str
    status: str
    folds: tuple[FoldScore, ...]
    summary: dict[str, dict[str, float]]
    primary: str
    predictions_sha256: str
    role: str = "model"
    version: int = 0
    entry_id: int = 0
    submitted_at: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def comparability_key(self) -> tuple[str, str, str, str]:
        return (self.task, self.dataset, self.split_key, self.evaluator_version)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(sorted({f.seed for f in self.folds}))

    def score(self, metric: str | None = None) -> dict[str, float]:
        return self.summary.get(metric or self.primary, {"mean": float("nan"), "sd": float("nan"),
                                                         "ci_low": float("nan"), "ci_high": float("nan"), "n": 0})


def combined_sha256(hashes: list[str]) -> str:
    """One hash for a whole submission: sha256 over its per-fold predictions hashes, in fold order."""
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def split_key(split_hashes: list[str]) -> str:
    """One hash for a task's protocol: sha256 over the sha256 of every fold's split, in fold order."""
    return hashlib.sha256("\n".join(split_hashes).encode()).hexdigest()


def nan_to_none(value: Any) -> Any:
    """NaN (an undefined metric) as None, inside dicts and lists too: JSON has no NaN."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [nan_to_none(v) for v in value]
    return value
