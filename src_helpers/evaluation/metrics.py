"""Evaluation with scikit-learn: single-label and multi-label reports, dev-chosen thresholds, choosing the best."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from src_helpers.data.ekman import EKMAN_LABELS


def _per_class(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    labels = None if y_true.ndim == 2 else list(range(len(names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, n in enumerate(names)}


def single_label_report(y_true: Sequence[int], y_pred: Sequence[int],
                        names: Sequence[str] = EKMAN_LABELS) -> dict:
    """Accuracy, macro/weighted F1, per-class P/R/F1 and the confusion matrix (rows = true)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(names)))
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        **{f"{a}_f1": float(f1_score(y_true, y_pred, average=a, labels=labels, zero_division=0))
           for a in ("macro", "weighted")},
        "per_class": _per_class(y_true, y_pred, names),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def threshold_predictions(probs: np.ndarray, threshold: float | np.ndarray, at_least_one: bool = True) -> np.ndarray:
    """Multi-hot predictions ``probs >= threshold``; rows with nothing above it take their top class."""
    probs = np.asarray(probs)
    pred = (probs >= threshold).astype(int)
    if at_least_one:
        empty = pred.sum(axis=1) == 0
        pred[empty, probs[empty].argmax(axis=1)] = 1
    return pred


def choose_threshold(y_true: np.ndarray, probs: np.ndarray, grid: Sequence[float] | None = None,
                     per_class: bool = False) -> float | np.ndarray:
    """Threshold(s) that maximise macro-F1 of ``threshold_predictions`` on the given (dev) data."""
    y_true, probs = np.asarray(y_true).astype(int), np.asarray(probs)
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2) if grid is None else np.asarray(grid)
    if per_class:  # F1 = 2TP / (2TP + FP + FN) of each class (column) at each threshold (row), 0 for none
        pred = probs[None] >= grid[:, None, None]  # vectorised: an ensemble's selection calls this very often
        scores = 2 * (pred & (y_true[None] == 1)).sum(1) / np.maximum(pred.sum(1) + y_true.sum(0), 1)
        return grid[np.argmax(scores, axis=0)].astype(float)  # the first best per column
    scores = [f1_score(y_true, threshold_predictions(probs, t), average="macro", zero_division=0) for t in grid]
    return float(grid[int(np.argmax(scores))])


def multi_label_report(y_true: np.ndarray, probs: np.ndarray, threshold: float | np.ndarray,
                       names: Sequence[str] = EKMAN_LABELS) -> dict:
    """Micro/macro/samples F1, exact-match accuracy and per-class scores at ``threshold``."""
    y_true = np.asarray(y_true).astype(int)
    if y_true.shape[1] != len(names):
        raise ValueError(f"{y_true.shape[1]} label columns but {len(names)} names")
    pred = threshold_predictions(probs, threshold)
    thr = threshold.tolist() if isinstance(threshold, np.ndarray) else float(threshold)
    return {
        "n": int(len(y_true)),
        "threshold": thr,
        **{f"{a}_f1": float(f1_score(y_true, pred, average=a, zero_division=0)) for a in ("micro", "macro", "samples")},
        "exact_match": float(accuracy_score(y_true, pred)),
        "per_class": _per_class(y_true, pred, names),
    }


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in ``y_true`` or ``y_pred`` (every column, multi-label)."""
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def choose_best(scores: Mapping[str, float], what: str = "dev macro-F1") -> str:
    """The name with the highest score (the first on ties); a NaN (or missing) score is a ``ValueError``."""
    if not scores:
        raise ValueError(f"no run to choose by {what}")
    if broken := [name for name, value in scores.items() if value is None or math.isnan(value)]:
        raise ValueError(f"{what} is NaN for {broken}: a broken run, so nothing can be chosen by {what} "
                         "(re-run or remove it)")
    return max(scores, key=lambda name: scores[name])
