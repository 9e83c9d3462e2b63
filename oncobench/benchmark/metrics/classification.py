"""Classification metrics from class-probability predictions."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn import config_context
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

logger = logging.getLogger(__name__)

_PROBA_FLOOR = 1e-15


def classification_metrics(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, balanced accuracy, F1, AUROC and log-loss of probabilistic predictions.

    Parameters
    ----------
    y_true : sequence of str, length n
        True labels, each one of ``classes``.
    proba : ndarray, shape (n, k)
        Predicted probabilities, columns in the order of ``classes`` (k >= 2).
    classes : sequence of str, length k
        The task's classes. For k == 2, ``classes[1]`` is the positive class.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``weighted_f1``,
        ``auroc``, ``log_loss``.

    Notes
    -----
    The predicted label is the argmax of ``proba`` (ties go to the first class).
    F1 is computed over all ``classes`` (absent classes score 0, zero_division=0).

    AUROC for k > 2 is the unweighted mean of one-vs-rest AUCs,
    ``roc_auc_score(y == c, proba[:, j])``, over the classes present in
    ``y_true`` that have both positives and negatives; probabilities are not
    renormalised. Classes absent from a test fold are skipped rather than
    failing the fold (sklearn's ``multi_class="ovr"`` requires every class).
    With all classes present it equals sklearn's macro OvR AUROC. When no
    class gives a defined AUC (or, for k == 2, when ``y_true`` holds a single
    class) ``auroc`` is nan.

    Log-loss is ``-mean(log(clip(p_true, 1e-15, 1)))`` with ``p_true`` taken by
    position in ``classes``; rows are not renormalised.
    """
    classes = list(classes)
    y = np.asarray(y_true, dtype=object)
    proba = np.asarray(proba, dtype=np.float64)
    if len(classes) < 2:
        raise ValueError(f"classification needs at least 2 classes, got {len(classes)}")
    index = {c: j for j, c in enumerate(classes)}
    unknown = sorted({str(v) for v in y if v not in index})
    if unknown:
        raise ValueError(f"y_true holds labels not in classes: {unknown[:5]}")
    y_idx = np.fromiter((index[v] for v in y), dtype=np.intp, count=len(y))

    # np.argmax returns the first maximum, which is the documented tie rule. Class codes (ints), not the
    # label strings, go to scikit-learn: same values, and its target-type checks on object arrays are slow.
    pred_idx = np.argmax(proba, axis=1)
    labels = list(range(len(classes)))

    with warnings.catch_warnings(), config_context(assume_finite=True, skip_parameter_validation=True):
        # A predicted class absent from y_true is expected on small test folds.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = balanced_accuracy_score(y_idx, pred_idx)
        out = {
            "accuracy": float(accuracy_score(y_idx, pred_idx)),
            "balanced_accuracy": float(balanced),
            "macro_f1": float(f1_score(y_idx, pred_idx, labels=labels, average="macro", zero_division=0)),
            "weighted_f1": float(f1_score(y_idx, pred_idx, labels=labels, average="weighted", zero_division=0)),
            "auroc": _auroc(y, proba, classes),
        }
    return out | {
        # Hand-computed: sklearn's log_loss sorts `labels` (so it would misread
        # columns when `classes` is not sorted) and clips at machine epsilon.
        "log_loss": float(-np.mean(np.log(np.clip(proba[np.arange(len(y_idx)), y_idx], _PROBA_FLOOR, 1.0)))),
    }


def _auroc(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> float:
    if len(classes) == 2:
        positive = y == classes[1]
        if positive.all() or not positive.any():
            logger.debug("AUROC undefined: the test labels hold a single class")
            return float("nan")
        return float(roc_auc_score(positive, proba[:, 1]))
    aucs = []
    for j, c in enumerate(classes):
        positive = y == c
        if positive.all() or not positive.any():
            logger.debug("AUROC: class %r skipped (no positives or no negatives in y_true)", c)
            continue
        aucs.append(roc_auc_score(positive, proba[:, j]))
    if not aucs:
        return float("nan")
    return float(np.mean(aucs))
