"""Statistics of test scores: percentile-bootstrap intervals, the paired bootstrap (gains and p-values), McNemar's
exact test and the Benjamini-Hochberg correction. Every interval draws its resamples with ``resamples``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import binomtest, false_discovery_control
from sklearn.metrics import accuracy_score

from src_helpers.evaluation.metrics import macro_f1

if TYPE_CHECKING:
    from src_helpers.evaluation.results import RunResult

Metric = Callable[[np.ndarray, np.ndarray], float]
ALPHA = 0.05  # 95% intervals


def resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` rows of ``n`` row indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(values: np.ndarray, alpha: float = ALPHA) -> dict[str, float]:
    """``{"low", "high"}``: the ``alpha / 2`` and ``1 - alpha / 2`` quantiles of ``values``."""
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return {"low": float(low), "high": float(high)}


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, metrics: dict[str, Metric] | None = None,
                 n_boot: int = 1000, alpha: float = ALPHA, seed: int = 0) -> dict[str, dict[str, float]]:
    """``{metric: {value, low, high}}``: percentile bootstrap of ``metrics`` (default accuracy and macro-F1)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} rows, y_pred {len(y_pred)}")
    metrics = metrics or {"accuracy": accuracy_score, "macro_f1": macro_f1}
    idx = resamples(len(y_true), n_boot, seed)
    return {name: {"value": float(fn(y_true, y_pred)),
                   **percentile_interval([fn(y_true[i], y_pred[i]) for i in idx], alpha)}
            for name, fn in metrics.items()}


def resample_scores(y: np.ndarray, pred: np.ndarray, idx: np.ndarray, target: str) -> dict[str, np.ndarray]:
    """Accuracy (single-label) and macro-F1 of ``pred`` on each resample (row of ``idx``), vectorised."""
    truth, guess = y[idx], pred[idx]
    if target == "single":
        classes = np.arange(int(max(y.max(), pred.max())) + 1)
        t, p = truth[..., None] == classes, guess[..., None] == classes
    else:
        t, p = truth.astype(bool), guess.astype(bool)
    tp, support = (t & p).sum(1), t.sum(1) + p.sum(1)
    f1 = np.divide(2 * tp, support, out=np.zeros(tp.shape), where=support > 0)
    if target != "single":  # every column counts
        return {"macro_f1": f1.mean(1)}
    return {"accuracy": (truth == guess).mean(1), "macro_f1": f1.sum(1) / (support > 0).sum(1)}  # classes seen


def _labels(r: RunResult) -> tuple[np.ndarray, np.ndarray]:
    if r.y_test is None:
        raise ValueError(f"run {r.name!r} has no test labels (y_test) to compute intervals with")
    return np.asarray(r.y_test).astype(int), np.asarray(r.test_pred).astype(int)


def run_intervals(r: RunResult, n_boot: int = 1000, seed: int = 0, alpha: float = ALPHA) -> dict[str, dict]:
    """``bootstrap_ci``'s intervals (same draws) of a run's test accuracy and macro-F1, scored vectorised."""
    y, pred = _labels(r)
    scores = resample_scores(y, pred, resamples(len(y), n_boot, seed), r.target)
    return {k: percentile_interval(v, alpha) for k, v in scores.items()}


def paired_gains(a: RunResult, b: RunResult, n_boot: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """``{metric: a's score - b's}`` on all test rows, then on ``n_boot`` resamples shared by both runs."""
    if a.target != b.target:
        raise ValueError(f"runs {a.name!r} and {b.name!r} have different targets ({a.target}, {b.target})")
    if a.y_test is None or b.y_test is None or not np.array_equal(a.y_test, b.y_test):
        raise ValueError(f"runs {a.name!r} and {b.name!r} are not scored on the same test rows (y_test differs)")
    (y, pred_a), (_, pred_b) = _labels(a), _labels(b)
    idx = np.vstack([np.arange(len(y)), resamples(len(y), n_boot, seed)])
    sa, sb = resample_scores(y, pred_a, idx, a.target), resample_scores(y, pred_b, idx, a.target)
    return {k: sa[k] - sb[k] for k in sa}


def bootstrap_p(gains: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the gain is 0": twice the smaller add-one share on either side of 0."""
    gains = np.asarray(gains, dtype=float)
    tail = (min(np.sum(gains <= 0), np.sum(gains >= 0)) + 1) / (len(gains) + 1)
    return float(min(1.0, 2 * tail))


def mcnemar(a: RunResult, b: RunResult) -> dict[str, float]:
    """McNemar's exact test on the same test rows: rows only ``a`` / only ``b`` gets right, and the p-value."""
    right_a = np.asarray(a.test_pred) == np.asarray(a.y_test)
    right_b = np.asarray(b.test_pred) == np.asarray(b.y_test)
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    p = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    return {"a_only": a_only, "b_only": b_only, "mcnemar_p": float(p)}


def fdr(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values."""
    return false_discovery_control(np.asarray(p_values, dtype=float))
