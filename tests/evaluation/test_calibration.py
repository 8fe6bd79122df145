"""calibration: top-label ECE and reliability bins, temperature scaling fitted on dev, the per-run table and figure."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.calibration import calibration_curve

from src_helpers.evaluation.calibration import (
    apply_temperature,
    calibration_table,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_figure,
    reliability_table,
    temperature_scaled,
)
from src_helpers.evaluation.results import RunResult, evaluate

K = 7  # Ekman's classes: RunResult's default label set


def sample(n: int, seed: int, sharpen: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(logits) and the probabilities softmax(sharpen * logits): calibrated for
    sharpen 1, overconfident above 1, underconfident below."""
    rng = np.random.default_rng(seed)
    logits = 2 * rng.normal(size=(n, K))
    true = softmax(logits, axis=1)
    y = (rng.random((n, 1)) > true.cumsum(1)).sum(1).clip(max=K - 1)
    return y, softmax(sharpen * logits, axis=1)


def run(name: str, dev: tuple | None, test: tuple, target: str = "single") -> RunResult:
    y_test, test_probs = test
    if dev is None:
        return RunResult(name=name, target=target, dev={}, test={}, test_probs=test_probs,
                         test_pred=test_probs.argmax(1), y_test=y_test)
    ev = evaluate(dev[0], dev[1], y_test, test_probs, "single")
    return RunResult(name=name, target=target, dev=ev.dev, test=ev.test, dev_probs=dev[1], dev_pred=ev.dev_pred,
                     y_dev=dev[0], test_probs=test_probs, test_pred=ev.test_pred, y_test=y_test)


def test_ece_is_near_zero_when_calibrated_and_large_when_overconfident():
    y, probs = sample(20_000, seed=0)
    assert expected_calibration_error(y, probs) < 0.02
    y, over = sample(20_000, seed=0, sharpen=3.0)
    assert expected_calibration_error(y, over) > 0.1


def test_ece_by_hand():
    # confidence 0.9 three times (two right), 0.6 once (right): 3/4 |2/3 - 0.9| + 1/4 |1 - 0.6| = 0.275
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    assert expected_calibration_error(y, probs, n_bins=10) == pytest.approx(0.275)
    table = reliability_table(y, probs, n_bins=10)
    assert table["count"].tolist() == [1, 3]
    assert table["accuracy"].tolist() == pytest.approx([1.0, 2 / 3])
    assert table["confidence"].tolist() == pytest.approx([0.6, 0.9])


def test_confidence_on_a_bin_edge_goes_to_the_lower_bin_as_in_calibration_curve():
    probs = np.array([[0.5, 0.5], [0.75, 0.25], [1.0, 0.0], [0.6, 0.4]])
    y = np.array([0, 1, 0, 0])
    table = reliability_table(y, probs, n_bins=4)
    assert table["bin_high"].tolist() == [0.5, 0.75, 1.0]
    assert table["count"].tolist() == [1, 2, 1]
    accuracy, confidence = calibration_curve(probs.argmax(1) == y, probs.max(1), n_bins=4)
    np.testing.assert_allclose(table["accuracy"], accuracy)
    np.testing.assert_allclose(table["confidence"], confidence)


def test_reliability_table_matches_sklearn_calibration_curve():
    y, probs = sample(3000, seed=1, sharpen=2.0)
    table = reliability_table(y, probs, n_bins=12)
    correct, confidence = probs.argmax(1) == y, probs.max(1)
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=12)
    np.testing.assert_allclose(table["accuracy"], accuracy)
    np.testing.assert_allclose(table["confidence"], mean_confidence)
    assert table["count"].sum() == len(y)


@pytest.mark.parametrize(("y", "probs", "message"), [
    ([0, 1], [[0.5, 0.6], [0.5, 0.5]], "probs: rows must sum to 1"),
    ([0, 2], [[0.5, 0.5], [0.5, 0.5]], "y must hold class ids 0..1"),
    ([0], [[0.5, 0.5], [0.5, 0.5]], "y must hold one class id per row"),
    ([0, 1], [0.5, 0.5], "probs must be a non-empty"),
    ([0, 1], [[np.nan, 1.0], [0.5, 0.5]], "probs must hold probabilities"),
    ([0.0, 1.0], [[0.5, 0.5], [0.5, 0.5]], "y must hold class ids"),
])
def test_bad_input_is_named(y, probs, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(np.array(y), np.array(probs))


def test_bad_bins_and_temperature_raise():
    y, probs = sample(50, seed=2)
    with pytest.raises(ValueError, match="n_bins"):
        reliability_table(y, probs, n_bins=0)
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(probs, 0.0)
    with pytest.raises(ValueError, match="y_dev"):
        fit_temperature(y[:-1], probs)


@pytest.mark.parametrize(("sharpen", "expected"), [(3.0, 3.0), (0.5, 0.5), (1.0, 1.0)])
def test_fit_temperature_recovers_the_distortion(sharpen, expected):
    y_dev, dev_probs = sample(20_000, seed=3, sharpen=sharpen)
    assert fit_temperature(y_dev, dev_probs) == pytest.approx(expected, rel=0.1)


def test_temperature_from_dev_lowers_test_ece_and_keeps_accuracy():
    y_dev, dev_probs = sample(5000, seed=4, sharpen=2.5)
    y_test, test_probs = sample(5000, seed=5, sharpen=2.5)
    t = fit_temperature(y_dev, np.round(dev_probs, 5))  # stored rounding: zeros are clipped before the log
    assert t > 1
    scaled = apply_temperature(test_probs, t)
    assert expected_calibration_error(y_test, scaled) < expected_calibration_error(y_test, test_probs) / 2
    assert negative_log_likelihood(y_test, test_probs, t) < negative_log_likelihood(y_test, test_probs)
    np.testing.assert_array_equal(scaled.argmax(1), test_probs.argmax(1))
    np.testing.assert_allclose(scaled.sum(1), 1)


def test_calibration_table_fits_on_dev_and_keeps_runs_without_dev():
    dev, test = sample(4000, seed=6, sharpen=2.5), sample(4000, seed=7, sharpen=2.5)
    table = calibration_table([run("new", dev, test), run("old", None, test)])
    assert list(table.index) == ["new", "old"]
    new, old = table.loc["new"], table.loc["old"]
    assert new["temperature"] == pytest.approx(round(fit_temperature(*dev), 4))
    assert new["test_ece_after"] < new["test_ece_before"]
    assert new["test_nll_after"] < new["test_nll_before"]
    assert new["test_accuracy_after"] == new["test_accuracy_before"]
    assert new["note"] == ""
    assert np.isnan(old["temperature"]) and np.isnan(old["test_ece_after"]) and np.isnan(old["test_accuracy_after"])
    assert old["test_ece_before"] == new["test_ece_before"]
    assert "no dev predictions" in old["note"]


def test_calibration_table_never_reads_test_to_fit():
    dev, test = sample(2000, seed=8, sharpen=2.0), sample(2000, seed=9, sharpen=2.0)
    calibrated_test = sample(2000, seed=9)
    a = calibration_table([run("r", dev, test)])
    b = calibration_table([run("r", dev, calibrated_test)])
    assert a.loc["r", "temperature"] == b.loc["r", "temperature"]


def test_multi_label_runs_are_refused():
    y, probs = sample(100, seed=10)
    with pytest.raises(ValueError, match="'m' is multi-label"):
        calibration_table([run("m", None, (y, probs), target="multi")])
    with pytest.raises(ValueError, match="'m' is multi-label"):
        reliability_figure([run("m", None, (y, probs), target="multi")])
    matplotlib.pyplot.close("all")


def test_temperature_scaled_copy():
    dev, test = sample(3000, seed=11, sharpen=2.0), sample(3000, seed=12, sharpen=2.0)
    r = run("r", dev, test)
    scaled = temperature_scaled(r)
    assert scaled.name == "r_temperature" and scaled.extra["temperature"] == fit_temperature(*dev)
    np.testing.assert_array_equal(scaled.test_probs.argmax(1), r.test_pred)
    assert expected_calibration_error(r.y_test, scaled.test_probs) < expected_calibration_error(*test)
    with pytest.raises(ValueError, match="'old' has no dev predictions"):
        temperature_scaled(run("old", None, test))


def test_reliability_figure_one_curve_per_run(tmp_path):
    dev, test = sample(1000, seed=13), sample(1000, seed=14, sharpen=3.0)
    path = tmp_path / "images" / "reliability.png"
    fig = reliability_figure([run("a", dev, test), run("b", None, dev)], path=path)
    assert path.exists()
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels[0] == "perfectly calibrated"
    assert [s.split(" (ECE")[0] for s in labels[1:]] == ["a", "b"]
    ece = expected_calibration_error(*test)
    assert labels[1] == f"a (ECE {ece:.3f})"
    matplotlib.pyplot.close(fig)


def test_reliability_figure_adds_the_scaled_curve_of_runs_with_dev_predictions():
    dev, test = sample(1000, seed=13), sample(1000, seed=14, sharpen=3.0)
    fig = reliability_figure([run("a", dev, test), run("b", None, dev)], scaled=True)
    labels = [line.get_label().split(" (ECE")[0] for line in fig.axes[0].get_lines()]
    assert labels == ["perfectly calibrated", "a", "b", "a_temperature"], "b has no dev predictions: no temperature"
    matplotlib.pyplot.close(fig)
