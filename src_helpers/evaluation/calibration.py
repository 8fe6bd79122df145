"""Calibration of single-label runs: top-label ECE, reliability tables and figures, and temperature scaling (Guo
et al., 2017), one ``T`` fitted on dev and applied unchanged to test. Confidence is the top softmax probability."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from src_helpers.evaluation.figures import _save
from src_helpers.evaluation.results import RunResult, require_single

PROB_FLOOR = 1e-6  # stored probabilities are rounded to 5 decimals: a 0 stands for something below 5e-6
ROW_SUM_TOLERANCE = 1e-3  # stored rows sum to 1 up to their rounding
LOG_T_BOUNDS = (-3.0, 3.0)  # log T searched (T from about 0.05 to 20)
SINGLE = "calibration here reads single-label softmax probabilities (top-label confidence)"


def check_probabilities(y: np.ndarray, probs: np.ndarray, y_name: str = "y", probs_name: str = "probs"
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``(y, probs)`` as arrays: one row of class probabilities and one class id per example (``ValueError``)."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] < 2:
        raise ValueError(f"{probs_name} must be a non-empty (examples, classes) array with at least 2 classes, "
                         f"got shape {probs.shape}")
    if not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1:
        raise ValueError(f"{probs_name} must hold probabilities in [0, 1] (no NaN)")
    sums = probs.sum(1)
    if (bad := np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)).size:
        raise ValueError(f"{probs_name}: rows must sum to 1 (softmax probabilities); row {bad[0]} sums to "
                         f"{sums[bad[0]]:.4f} ({bad.size} such rows): multi-label sigmoid scores?")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(probs):
        raise ValueError(f"{y_name} must hold one class id per row of {probs_name} ({len(probs)}), got shape "
                         f"{y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= probs.shape[1]:
        raise ValueError(f"{y_name} must hold class ids 0..{probs.shape[1] - 1} (the columns of {probs_name}), "
                         f"got values from {y.min()} to {y.max()} ({y.dtype})")
    return y, probs


def reliability_table(y: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """One row per non-empty equal-width confidence bin: bounds, mean ``confidence``, ``accuracy``, ``count``."""
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    y, probs = check_probabilities(y, probs)
    confidence, correct = probs.max(1), probs.argmax(1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], confidence)  # calibration_curve's bins: (lo, hi], the first [0, hi]
    count = np.bincount(ids, minlength=n_bins)
    filled = count > 0
    return pd.DataFrame({
        "bin_low": edges[:-1][filled], "bin_high": edges[1:][filled],
        "confidence": np.bincount(ids, confidence, n_bins)[filled] / count[filled],
        "accuracy": np.bincount(ids, correct, n_bins)[filled] / count[filled],
        "count": count[filled],
    })


def expected_calibration_error(y: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: the count-weighted mean of ``|accuracy - confidence|`` over the bins."""
    table = reliability_table(y, probs, n_bins)
    return float((table["count"] * (table["accuracy"] - table["confidence"]).abs()).sum() / table["count"].sum())


def _scaled_log_probs(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``log_softmax(log(probs) / temperature)`` row by row."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return log_softmax(np.log(np.clip(probs, PROB_FLOOR, 1.0)) / temperature, axis=1)


def negative_log_likelihood(y: np.ndarray, probs: np.ndarray, temperature: float = 1.0) -> float:
    """Mean NLL of the true classes under ``probs`` scaled by ``temperature``."""
    y, probs = check_probabilities(y, probs)
    return float(-_scaled_log_probs(probs, temperature)[np.arange(len(y)), y].mean())


def fit_temperature(y_dev: np.ndarray, dev_probs: np.ndarray) -> float:
    """The temperature ``T`` minimising the dev NLL of ``softmax(log(dev_probs) / T)`` (T > 1: overconfident)."""
    y_dev, dev_probs = check_probabilities(y_dev, dev_probs, "y_dev", "dev_probs")
    fit = minimize_scalar(lambda log_t: negative_log_likelihood(y_dev, dev_probs, np.exp(log_t)),
                          bounds=LOG_T_BOUNDS, method="bounded")
    if not fit.success:
        raise RuntimeError(f"temperature fit did not converge: {fit.message}")
    return float(np.exp(fit.x))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / temperature)`` row by row (the argmax is unchanged)."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2:
        raise ValueError(f"probs must be an (examples, classes) array, got shape {probs.shape}")
    return np.exp(_scaled_log_probs(probs, temperature))


def temperature_scaled(result: RunResult) -> RunResult:
    """A copy ``<run>_temperature`` with probabilities scaled by the dev-fitted ``extra["temperature"]``."""
    require_single(result, SINGLE)
    if result.dev_probs is None or result.y_dev is None:
        raise ValueError(f"run {result.name!r} has no dev predictions to fit a temperature on")
    t = fit_temperature(result.y_dev, result.dev_probs)
    return dataclasses.replace(result, name=f"{result.name}_temperature", run_dir=None,
                               dev_probs=apply_temperature(result.dev_probs, t),
                               test_probs=apply_temperature(result.test_probs, t),
                               extra={**result.extra, "temperature": t})


def calibration_table(results: Sequence[RunResult], n_bins: int = 15) -> pd.DataFrame:
    """Per run: test ECE, NLL and accuracy before and after temperature scaling (NaN without dev predictions)."""
    rows = []
    for r in results:
        require_single(r, SINGLE)
        y, probs = check_probabilities(r.y_test, r.test_probs, f"run {r.name!r} y_test", f"run {r.name!r} test_probs")
        row = {"model": r.name, "temperature": np.nan,
               "test_ece_before": expected_calibration_error(y, probs, n_bins), "test_ece_after": np.nan,
               "test_nll_before": negative_log_likelihood(y, probs), "test_nll_after": np.nan,
               "test_accuracy_before": float((probs.argmax(1) == y).mean()), "test_accuracy_after": np.nan,
               "note": ""}
        if r.dev_probs is None or r.y_dev is None:
            row["note"] = "no dev predictions (run written before runs stored them): no temperature fitted"
        else:
            t = fit_temperature(r.y_dev, r.dev_probs)
            scaled = apply_temperature(probs, t)
            row |= {"temperature": t, "test_ece_after": expected_calibration_error(y, scaled, n_bins),
                    "test_nll_after": negative_log_likelihood(y, probs, t),
                    "test_accuracy_after": float((scaled.argmax(1) == y).mean())}
        rows.append(row)
    if not rows:
        raise ValueError("calibration_table needs at least one run")
    return pd.DataFrame(rows).set_index("model").round(4)


def reliability_figure(results: Sequence[RunResult], path: str | Path | None = None, n_bins: int = 15,
                       title: str = "Reliability (test)", scaled: bool = False) -> plt.Figure:
    """One reliability curve per run (test ECE in the legend); ``scaled``: also the temperature-scaled ones."""
    if not results:
        raise ValueError("reliability_figure needs at least one run")
    if scaled:
        results = [*results, *(temperature_scaled(r) for r in results if r.dev_probs is not None)]
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfectly calibrated")
    for r in results:
        require_single(r, SINGLE)
        table = reliability_table(r.y_test, r.test_probs, n_bins)
        ece = expected_calibration_error(r.y_test, r.test_probs, n_bins)
        ax.plot(table["confidence"], table["accuracy"], marker="o", ms=4, label=f"{r.name} (ECE {ece:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top-class probability)", ylabel="accuracy", title=title)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)
