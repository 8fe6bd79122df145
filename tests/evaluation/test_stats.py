"""stats: bootstrap intervals (generic and vectorised: the same numbers), paired gains, p-values, McNemar, FDR."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.evaluation.metrics import macro_f1
from src_helpers.evaluation.results import RunResult
from src_helpers.evaluation.stats import bootstrap_ci, bootstrap_p, fdr, mcnemar, paired_gains, run_intervals

N = len(EKMAN_LABELS)


def test_bootstrap_interval_contains_value_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 7, 500)
    pred = np.where(rng.uniform(size=500) < 0.6, y, rng.integers(0, 7, 500))
    a = bootstrap_ci(y, pred, n_boot=200, seed=5)
    b = bootstrap_ci(y, pred, n_boot=200, seed=5)
    assert a == b
    acc = a["accuracy"]
    assert acc["low"] < acc["value"] < acc["high"] and acc["high"] - acc["low"] < 0.12
    with pytest.raises(ValueError, match="same|rows"):
        bootstrap_ci(y, pred[:10])


def test_bootstrap_p() -> None:
    assert bootstrap_p(np.full(99, 0.1)) == pytest.approx(2 / 100)
    assert bootstrap_p(np.zeros(99)) == 1.0
    assert bootstrap_p(np.r_[np.full(50, -0.1), np.full(49, 0.1)]) == 1.0
    assert bootstrap_p(np.r_[np.full(5, -0.1), np.full(94, 0.1)]) == pytest.approx(2 * 6 / 100)


@pytest.mark.parametrize("target", ["single", "multi"])
def test_paired_bootstrap_gains_are_those_of_the_sklearn_metrics_on_each_resample(target: str) -> None:
    """The vectorised resamples give per resample what bootstrap_ci with sklearn's scores gives (30 rows and
    7 classes: many resamples miss a class in the truth, the predictions or both)."""
    rng = np.random.default_rng(7)
    if target == "single":
        y, pa, pb = (rng.integers(0, N, 30) for _ in range(3))
        scores = {"accuracy": accuracy_score, "macro_f1": macro_f1}
    else:
        y, pa, pb = (rng.random((30, N)) < 0.2 for _ in range(3))
        y, pa, pb = y.astype(np.float32), pa.astype(int), pb.astype(int)  # as targets() and stored predictions
        scores = {"macro_f1": macro_f1}
    a = RunResult(name="a", target=target, dev={}, test={}, test_probs=np.zeros(1), test_pred=pa, y_test=y)
    b = RunResult(name="b", target=target, dev={}, test={}, test_probs=np.zeros(1), test_pred=pb, y_test=y)
    gains = paired_gains(a, b, n_boot=300, seed=3)
    idx = np.random.default_rng(3).integers(0, len(y), size=(300, len(y)))
    for name, f in scores.items():
        expected = [f(y[i], pa[i]) - f(y[i], pb[i]) for i in idx]
        assert gains[name][1:] == pytest.approx(expected, abs=1e-12)
        assert gains[name][0] == pytest.approx(f(y, pa) - f(y, pb), abs=1e-12)  # first: all rows, the value


@pytest.mark.parametrize("target", ["single", "multi"])
def test_run_intervals_are_those_of_bootstrap_ci(target: str) -> None:
    rng = np.random.default_rng(11)
    if target == "single":
        y, pred = rng.integers(0, N, 60), rng.integers(0, N, 60)
        metrics = None
    else:
        y, pred = (rng.random((60, N)) < 0.3).astype(int), (rng.random((60, N)) < 0.3).astype(int)
        metrics = {"macro_f1": macro_f1}
    r = RunResult(name="r", target=target, dev={}, test={}, test_probs=np.zeros(1), test_pred=pred, y_test=y)
    fast, slow = run_intervals(r, n_boot=200, seed=4), bootstrap_ci(y, pred, metrics, n_boot=200, seed=4)
    assert set(fast) == set(slow)
    for metric, ci in fast.items():
        assert (ci["low"], ci["high"]) == pytest.approx((slow[metric]["low"], slow[metric]["high"]), abs=1e-12)


def test_mcnemar_counts_the_rows_one_run_alone_gets_right() -> None:
    y = np.zeros(10, dtype=int)
    a = RunResult(name="a", dev={}, test={}, test_probs=np.zeros(1), test_pred=np.r_[np.zeros(8), 1, 1], y_test=y)
    b = RunResult(name="b", dev={}, test={}, test_probs=np.zeros(1), test_pred=np.r_[1, np.zeros(9)], y_test=y)
    test = mcnemar(a, b)
    assert (test["a_only"], test["b_only"]) == (1, 2) and test["mcnemar_p"] == pytest.approx(1.0)
    assert mcnemar(a, a) == {"a_only": 0, "b_only": 0, "mcnemar_p": 1.0}


def test_fdr_is_benjamini_hochberg() -> None:
    assert fdr([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
