"""Reporting on ``RunResult`` objects: the results table (bootstrap intervals, single- and multi-label rows side by
side), the model chosen on dev (never on test), per-class F1, the cost table and the figures' files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from src_helpers.config import REPO_ROOT
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.evaluation import tables
from src_helpers.evaluation.results import RunResult, evaluate
from src_helpers.experiments.run_folders import load_result

matplotlib.use("Agg")

K = len(EKMAN_LABELS)
COMMITTED = REPO_ROOT / "notebook_outputs" / "runs"


def labels(target: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows covering every class: ids (single) or multi-hot rows with one or two classes (multi)."""
    ids = np.arange(n) % K
    if target == "single":
        return ids
    y = np.eye(K, dtype=int)[ids]
    rows = np.flatnonzero(rng.random(n) < 0.3)
    y[rows, rng.integers(0, K, len(rows))] = 1
    return y


def noisy_probs(y: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities that point at the truth for about a ``quality`` share of rows, at random elsewhere."""
    truth = np.eye(K)[y] if y.ndim == 1 else y.astype(float)
    informed = rng.random(len(y)) < quality
    probs = np.where(informed[:, None], 0.8 * truth + 0.2 * rng.random(truth.shape), rng.random(truth.shape))
    return probs / probs.sum(1, keepdims=True) if y.ndim == 1 else probs


def make_run(name: str, target: str = "single", dev_quality: float = 0.6, test_quality: float = 0.6,
             history: bool = False, seed: int = 0, n: int = 140) -> RunResult:
    """A run of ``target`` whose dev and test predictions are right about as often as the qualities say."""
    rng = np.random.default_rng(seed)
    y_dev, y_test = labels(target, n, rng), labels(target, n, rng)
    dev_probs, test_probs = noisy_probs(y_dev, dev_quality, rng), noisy_probs(y_test, test_quality, rng)
    ev = evaluate(y_dev, dev_probs, y_test, test_probs, target)
    curves = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.2, 0.9, 0.8], "dev_loss": [1.1, 1.0, 1.05],
                           "dev_macro_f1": [0.3, 0.4, 0.38], "train_seconds": [10.0, 3.0, 4.0]})
    return RunResult(name=name, target=target, dev=ev.dev, test=ev.test, threshold=ev.threshold,
                     dev_probs=dev_probs, dev_pred=ev.dev_pred, y_dev=y_dev, test_probs=test_probs,
                     test_pred=ev.test_pred, y_test=y_test, history=curves if history else pd.DataFrame())


def interval(cell: str) -> tuple[float, float]:
    low, high = re.fullmatch(r"\[(\S+), (\S+)\]", cell).groups()
    return float(low), float(high)


@pytest.fixture(scope="module")
def runs() -> list[RunResult]:
    return [make_run("tfidf", seed=1), make_run("rnn", history=True, seed=2), make_run("rnn_multi", "multi", seed=3)]


# ------------------------------------------------------------------------------------------ results table
def test_results_table_rows_and_intervals(runs: list[RunResult]) -> None:
    table = tables.results_table(runs, n_boot=200)
    assert list(table.index) == ["tfidf", "rnn", "rnn_multi"]
    assert list(table["target"]) == ["single", "single", "multi"]
    for r in runs:
        row = table.loc[r.name]
        assert row["dev_macro_f1"] == round(r.dev["macro_f1"], 4)
        assert row["test_macro_f1"] == round(r.test["macro_f1"], 4), "the value is the run's own test score"
        low, high = interval(row["mf1_95ci"])
        assert low < row["test_macro_f1"] < high, f"{r.name}: {row['mf1_95ci']} around {row['test_macro_f1']}"
        if r.target == "single":
            assert row["test_accuracy"] == round(r.test["accuracy"], 4)
            low, high = interval(row["acc_95ci"])
            assert low < row["test_accuracy"] < high
            assert pd.isna(row["threshold"]) and pd.isna(row["test_micro_f1"])
        else:
            assert row["threshold"] == r.threshold and row["test_micro_f1"] == round(r.test["micro_f1"], 4)
            assert row["test_exact_match"] == round(r.test["exact_match"], 4)
            assert pd.isna(row["test_accuracy"]) and pd.isna(row["acc_95ci"]) and pd.isna(row["dev_accuracy"])


def test_tuned_vs_untuned_shows_a_kept_untuned_run_once() -> None:
    untuned = {"tfidf": make_run("tfidf_single", seed=1), "rnn": make_run("bigru_minilm", seed=2)}
    tuned = {"tfidf": make_run("tuned_tfidf", test_quality=0.9, seed=1), "rnn": untuned["rnn"]}
    table, gains = tables.tuned_vs_untuned(tuned, untuned, n_boot=200)
    assert list(table.index) == ["tfidf_single", "bigru_minilm", "tuned_tfidf"], "the kept untuned run once"
    assert list(gains) == ["tfidf"], "no gain of a run over itself"
    assert gains["tfidf"].equals(tables.paired_bootstrap(tuned["tfidf"], untuned["tfidf"], n_boot=200))
    assert gains["tfidf"].loc["accuracy gain", "low"] > 0, "the better tuned run gains"


def test_results_table_is_reproducible_and_its_intervals_follow_the_seed(runs: list[RunResult]) -> None:
    first = tables.results_table(runs, n_boot=100, seed=0)
    pd.testing.assert_frame_equal(first, tables.results_table(runs, n_boot=100, seed=0))
    other = tables.results_table(runs, n_boot=100, seed=1)
    assert (first["mf1_95ci"] != other["mf1_95ci"]).all(), "every row's resamples follow the seed"
    single = first["target"] == "single"
    assert (first.loc[single, "acc_95ci"] != other.loc[single, "acc_95ci"]).all()
    pd.testing.assert_series_equal(first["test_macro_f1"], other["test_macro_f1"])


def test_results_table_needs_test_labels() -> None:
    run = make_run("no_truth")
    run.y_test = None
    with pytest.raises(ValueError, match="'no_truth'.*y_test"):
        tables.results_table([make_run("fine"), run], n_boot=10)


def test_results_table_of_committed_runs_matches_their_metrics() -> None:
    """Runs read back from their folders (single- and multi-label) give the numbers of their metrics.json."""
    folders = [COMMITTED / n for n in ("tfidf_single", "tfidf_multi")]
    if not all((f / "metrics.json").exists() for f in folders):
        pytest.skip("committed TF-IDF runs not in this checkout")
    table = tables.results_table([load_result(f) for f in folders], n_boot=20)
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        assert table.loc[folder.name, "test_macro_f1"] == round(metrics["test"]["macro_f1"], 4)
        assert table.loc[folder.name, "dev_macro_f1"] == round(metrics["dev"]["macro_f1"], 4)
    assert table.loc["tfidf_single", "test_accuracy"] == round(
        json.loads((folders[0] / "metrics.json").read_text())["test"]["accuracy"], 4)


# ------------------------------------------------------------------------------------------ model selection
def test_best_on_dev_never_looks_at_test() -> None:
    good_dev = make_run("good_dev", dev_quality=0.9, test_quality=0.2, seed=4)
    good_test = make_run("good_test", dev_quality=0.3, test_quality=0.95, seed=5)
    assert good_dev.dev["macro_f1"] > good_test.dev["macro_f1"]
    assert good_test.test["macro_f1"] > good_dev.test["macro_f1"]
    assert tables.best_on_dev([good_test, good_dev]) == "good_dev"
    assert tables.best_on_dev({"a": good_dev, "b": good_test}) == "good_dev", "a mapping works too"


def test_best_on_dev_compares_runs_of_one_target() -> None:
    single = make_run("single", dev_quality=0.5, seed=6)
    multi = make_run("multi", "multi", dev_quality=0.95, seed=7)
    assert multi.dev["macro_f1"] > single.dev["macro_f1"]
    assert tables.best_on_dev([multi, single]) == "single"
    assert tables.best_on_dev([multi, single], target="multi") == "multi"
    with pytest.raises(ValueError, match=r"no multi-label run.*'single'"):
        tables.best_on_dev([single], target="multi")


def test_per_class_f1_is_each_runs_test_report(runs: list[RunResult]) -> None:
    table = tables.per_class_f1(runs)
    assert list(table.columns) == [r.name for r in runs] and list(table.index) == list(EKMAN_LABELS)
    for r in runs:
        assert table.loc["joy", r.name] == round(r.test["per_class"]["joy"]["f1"], 3)


# ------------------------------------------------------------------------------------------ cost
@dataclass(kw_only=True)
class Trained(RunResult):
    """A run that knows its best epoch, as ``TrainResult`` does."""

    best_epoch: int


def test_cost_table() -> None:
    rnn = make_run("rnn", history=True, seed=8)
    trained = Trained(**{**rnn.__dict__, "name": "trained"}, best_epoch=2)
    tfidf = make_run("tfidf", seed=9)
    multi = make_run("multi", "multi", history=True, seed=10)
    table = tables.cost_table({"t": trained, "f": tfidf, "m": multi})
    assert list(table.index) == ["trained", "tfidf", "multi"]
    assert table.loc["trained", "s_per_epoch"] == 4.0, "the median epoch, not the mean (a slow first epoch)"
    assert (table.loc["trained", "epochs_run"], table.loc["trained", "best_epoch"]) == (3, 2)
    assert table.loc["trained", "test_accuracy"] == round(rnn.test["accuracy"], 4)
    assert table.loc["trained", "dev_macro_f1"] == round(rnn.dev["macro_f1"], 4)
    assert table.loc["trained", "test_macro_f1"] == round(rnn.test["macro_f1"], 4)
    assert np.isnan(table.loc["tfidf", "s_per_epoch"]) and np.isnan(table.loc["tfidf", "epochs_run"])  # no epochs
    assert pd.isna(table.loc["tfidf", "best_epoch"]) and pd.isna(table.loc["multi", "test_accuracy"])


# ------------------------------------------------------------------------------------------ figures
def png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_writes_the_expected_files(tmp_path: Path) -> None:
    rnn = make_run("rnn", history=True, seed=11)
    multi = make_run("rnn_multi", "multi", history=True, seed=12)
    peer = make_run("tfidf", seed=13)
    written = tables.run_figures([rnn, multi], tmp_path / "images", "03", peers=[peer])
    names = ["03_rnn_curves.png", "03_rnn_confusion.png", "03_rnn_multi_curves.png", "03_per_class_f1.png"]
    assert written == [tmp_path / "images" / n for n in names], "no confusion matrix for multi-label, none for peers"
    assert all(png(p) for p in written)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(names)


def test_figures_of_a_run_without_history(tmp_path: Path) -> None:
    written = tables.run_figures([make_run("tfidf", seed=14)], tmp_path, "02")
    assert [p.name for p in written] == ["02_tfidf_confusion.png", "02_per_class_f1.png"]
    assert all(png(p) for p in written)


def test_show_puts_peers_first_and_draws_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    peer = make_run("tfidf", seed=15)
    runs = {"rnn": make_run("rnn", history=True, seed=16)}
    table = tables.show(runs, tmp_path, "03", peers=[peer], n_boot=20)
    assert list(table.index) == ["tfidf", "rnn"]
    assert "train_loss" in capsys.readouterr().out, "the run's history is shown"
    assert {p.name for p in tmp_path.iterdir()} == {"03_rnn_curves.png", "03_rnn_confusion.png",
                                                    "03_per_class_f1.png"}


def test_results_table_intervals_are_those_of_stats_bootstrap_ci(runs: list[RunResult]) -> None:
    """The table scores its resamples vectorised; the intervals must be bootstrap_ci's (same draws, same metrics)."""
    from src_helpers.evaluation.metrics import macro_f1
    from src_helpers.evaluation.stats import bootstrap_ci

    table = tables.results_table(runs, n_boot=300, seed=3)
    for r in runs:
        metrics = None if r.target == "single" else {"macro_f1": macro_f1}
        ci = bootstrap_ci(r.y_test, r.test_pred, metrics, n_boot=300, seed=3)
        columns = {"accuracy": "acc_95ci", "macro_f1": "mf1_95ci"}
        for metric, bounds in ci.items():
            low, high = interval(table.loc[r.name, columns[metric]])
            assert (low, high) == pytest.approx((bounds["low"], bounds["high"]), abs=5e-5), (r.name, metric)


def test_interval_text_is_the_one_format_of_intervals() -> None:
    assert tables.interval_text(0.61234, 0.63456) == "[0.6123, 0.6346]"
    assert tables.interval_text(0.601, 0.64, 0.6201, ci_digits=3) == "0.6201 [0.601, 0.640]"


def test_figures_keep_no_figure_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run's figures are shown (in a notebook) and closed as they are drawn: many runs in one call open no
    more than one figure at a time, shown in the order they are written."""
    import IPython.display
    import matplotlib.pyplot as plt

    from src_helpers.evaluation import figures

    runs = [make_run(f"rnn{i}", history=True, seed=20 + i) for i in range(12)]
    plt.close("all")
    written = tables.run_figures(runs, tmp_path, "03")
    assert plt.get_fignums() == [] and len(written) == 25
    shown: list = []
    monkeypatch.setattr(figures, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    tables.run_figures(runs, tmp_path, "03")
    assert plt.get_fignums() == []
    assert [f.axes[0].get_title() for f in shown[:2]] == ["train_loss", "rnn0, test (row-normalised)"]
    assert len(shown) == 25
