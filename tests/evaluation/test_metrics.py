from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from src_helpers.evaluation.metrics import (
    choose_threshold,
    multi_label_report,
    single_label_report,
    threshold_predictions,
)


def test_single_label_report_matches_hand_count() -> None:
    y_true = [0, 0, 1, 1, 2, 6]
    y_pred = [0, 1, 1, 1, 2, 0]
    r = single_label_report(y_true, y_pred)
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["anger"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert r["per_class"]["disgust"]["f1"] == pytest.approx(0.8)
    assert r["per_class"]["joy"]["support"] == 0
    cm = np.array(r["confusion_matrix"])
    assert cm.shape == (7, 7) and cm[6, 0] == 1 and cm.sum() == 6
    # macro over all 7 classes (absent ones count as 0)
    assert r["macro_f1"] == pytest.approx((0.5 + 0.8 + 1.0) / 7)


def test_threshold_predictions_keeps_at_least_one() -> None:
    probs = np.array([[0.9, 0.6, 0.1], [0.2, 0.3, 0.1]])
    assert threshold_predictions(probs, 0.5).tolist() == [[1, 1, 0], [0, 1, 0]]
    assert threshold_predictions(probs, 0.5, at_least_one=False).tolist() == [[1, 1, 0], [0, 0, 0]]


def test_choose_threshold_finds_the_separating_value() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(200, 3))
    y[:, 0] = 1 - y[:, 1]  # no all-zero rows needed for the test, but keep structure simple
    probs = np.where(y == 1, 0.35, 0.2) + rng.uniform(0, 0.05, size=y.shape)
    t = choose_threshold(y, probs)
    assert 0.25 <= t <= 0.35
    assert multi_label_report(y, probs, t, names=["a", "b", "c"])["macro_f1"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 label columns but 7 names"):
        multi_label_report(y, probs, t)
    per_class = choose_threshold(y, probs, per_class=True)
    assert per_class.shape == (3,) and np.all((per_class > 0.2) & (per_class <= 0.35))


def test_per_class_thresholds_are_the_best_f1_score_of_each_class() -> None:
    """The vectorised per-class F1 gives scikit-learn's ``f1_score(average=None)`` choice (ties: the first)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        y = (rng.random((300, 4)) < 0.3).astype(int)
        y[:, 3] = 0 if seed % 2 else y[:, 3]  # a class without positives: every F1 is 0, the first threshold wins
        probs = np.clip(0.4 * y + 0.8 * rng.random(y.shape), 0, 1).round(1 + seed % 2)  # rounded: ties
        scores = [f1_score(y, (probs >= t).astype(int), average=None, zero_division=0) for t in grid]
        np.testing.assert_array_equal(choose_threshold(y, probs, per_class=True), grid[np.argmax(scores, axis=0)])


def test_multi_label_report_fields() -> None:
    y = np.array([[1, 0], [0, 1], [1, 1]])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.2]])
    r = multi_label_report(y, probs, 0.5, names=["a", "b"])
    assert r["exact_match"] == pytest.approx(2 / 3)
    assert r["per_class"]["b"]["recall"] == pytest.approx(0.5)
    assert r["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1))
