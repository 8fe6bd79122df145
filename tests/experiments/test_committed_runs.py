"""The committed run folders are the record of every result: their stored test predictions must give back the
metrics in their ``metrics.json``, re-evaluated with the project's own metric functions.

``y_pred``-based numbers are compared exactly (up to float noise). The stored probabilities are rounded to 5
decimals, so re-deriving ``y_pred`` from them may differ only where that rounding makes a tie (a probability
within half a unit of the 5th decimal from the threshold, or two top classes that close).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_helpers.config import REPO_ROOT
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.labels import label_set
from src_helpers.evaluation.metrics import multi_label_report, single_label_report, threshold_predictions
from src_helpers.experiments.run_folders import Run, load_run

RUNS_DIR = "notebook_outputs/runs"
FLOAT_TOL = 1e-12
ROUNDING = 0.5e-5 + 1e-12  # probabilities are stored rounded to 5 decimals


def committed_runs() -> list[Path]:
    """Run folders with a git-tracked ``metrics.json`` (every folder on disk when this is not a git checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", f"{RUNS_DIR}/*/metrics.json"], cwd=REPO_ROOT,
                             capture_output=True, check=True).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
    if not names:
        return sorted(p.parent for p in (REPO_ROOT / RUNS_DIR).glob("*/metrics.json"))
    return sorted((REPO_ROOT / n).parent for n in names)


RUN_DIRS = committed_runs()


def multi_hot_ids(column: list[str], n_classes: int, where: str) -> np.ndarray:
    """Space-separated class ids (the run folders' multi-label format) as a multi-hot matrix."""
    out = np.zeros((len(column), n_classes), dtype=int)
    for i, cell in enumerate(column):
        for token in str(cell).split():
            if not token.isdigit() or int(token) >= n_classes:
                raise AssertionError(f"{where}: row {i + 2}: {cell!r} is not a list of class ids < {n_classes}")
            out[i, int(token)] = 1
    return out


def stored_arrays(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y_true``, ``y_pred`` and the probabilities of a run's test predictions (multi-hot for multi-label)."""
    where = f"{run.path / 'test_predictions.csv.gz'}"
    assert run.predictions is not None, f"{where}: missing"
    classes = label_set(run.config.get("labels")).classes  # Ekman's 7 unless the run names another label set
    probs = run.probs(classes)
    table = run.predictions
    if run.config.get("target") == "multi":
        k = len(classes)
        return (multi_hot_ids(table["y_true"].tolist(), k, where), multi_hot_ids(table["y_pred"].tolist(), k, where),
                probs)
    return table["y_true"].to_numpy().astype(int), table["y_pred"].to_numpy().astype(int), probs


def recomputed_test_report(run: Run) -> dict:
    """The test report that the stored predictions give, built by the project's metric functions."""
    y_true, y_pred, _ = stored_arrays(run)
    if run.config.get("target") == "multi":
        # y_pred is already thresholded: a 0/1 "probability" at 0.5 reproduces it exactly
        report = multi_label_report(y_true, y_pred.astype(float), 0.5, label_set(run.config.get("labels")).classes)
        report["threshold"] = run.metrics["test"]["threshold"]
        return report
    return single_label_report(y_true, y_pred, names=label_set(run.config.get("labels")).classes)


def assert_same(stored: object, recomputed: object, where: str) -> None:
    """Equal structure; floats equal within float noise, everything else exactly."""
    if isinstance(stored, dict):
        assert isinstance(recomputed, dict) and set(stored) == set(recomputed), \
            f"{where}: keys {sorted(stored)} stored, {sorted(recomputed)} recomputed"
        for key in stored:
            assert_same(stored[key], recomputed[key], f"{where}.{key}")
    elif isinstance(stored, list):
        assert isinstance(recomputed, list) and len(stored) == len(recomputed), f"{where}: lengths differ"
        for i, (a, b) in enumerate(zip(stored, recomputed, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(stored, float) or isinstance(recomputed, float):
        assert abs(stored - recomputed) <= FLOAT_TOL, f"{where}: stored {stored!r}, recomputed {recomputed!r}"
    else:
        assert stored == recomputed, f"{where}: stored {stored!r}, recomputed {recomputed!r}"


def check_test_metrics(run_dir: Path) -> None:
    """Raise AssertionError if ``metrics.json``'s test entry (and bootstrap point values) differ from what the
    stored predictions give."""
    run = load_run(run_dir)
    where = f"{run_dir.relative_to(REPO_ROOT) if run_dir.is_relative_to(REPO_ROOT) else run_dir}/metrics.json"
    assert run.config.get("target") in ("single", "multi"), f"{where}: config target {run.config.get('target')!r}"
    report = recomputed_test_report(run)
    assert_same(run.metrics["test"], report, f"{where}: test")
    for metric, ci in run.metrics.get("test_bootstrap", {}).items():
        assert_same(ci["value"], report[metric], f"{where}: test_bootstrap.{metric}.value")
        assert ci["low"] <= ci["value"] <= ci["high"], f"{where}: test_bootstrap.{metric}: value outside interval"


def check_predictions_follow_probabilities(run_dir: Path) -> None:
    """Raise AssertionError if ``y_pred`` is not the argmax / thresholded probabilities (rounding ties aside)."""
    run = load_run(run_dir)
    _, y_pred, probs = stored_arrays(run)
    where = run_dir / "test_predictions.csv.gz"
    if run.config.get("target") == "multi":
        threshold = run.metrics["test"]["threshold"]
        rederived = threshold_predictions(probs, np.asarray(threshold))
        rows, cols = np.nonzero(rederived != y_pred)
        ties = np.abs(probs[rows, cols] - np.broadcast_to(threshold, probs.shape)[rows, cols]) <= ROUNDING
    else:
        rows = np.flatnonzero(probs.argmax(axis=1) != y_pred)
        top_two = np.sort(probs[rows], axis=1)[:, -2:]
        ties = top_two[:, 1] - top_two[:, 0] <= 2 * ROUNDING
    assert ties.all(), f"{where}: rows {sorted(set((rows[~ties] + 2).tolist()))[:10]} (file lines) have a y_pred " \
                       "that their probabilities do not give"


def test_committed_runs_exist() -> None:
    assert len(RUN_DIRS) >= 3, f"expected the committed run folders under {RUNS_DIR}"


@pytest.mark.parametrize("run_dir", RUN_DIRS, ids=[p.name for p in RUN_DIRS])
def test_stored_predictions_give_the_stored_test_metrics(run_dir: Path) -> None:
    check_test_metrics(run_dir)


@pytest.mark.parametrize("run_dir", RUN_DIRS, ids=[p.name for p in RUN_DIRS])
def test_stored_predictions_follow_the_stored_probabilities(run_dir: Path) -> None:
    check_predictions_follow_probabilities(run_dir)


def _copy_run(name: str, tmp_path: Path) -> Path:
    source = REPO_ROOT / RUNS_DIR / name
    if not (source / "metrics.json").exists():
        pytest.skip(f"{RUNS_DIR}/{name} not present")
    return Path(shutil.copytree(source, tmp_path / name))


@pytest.mark.parametrize(("name", "path"), [
    ("tfidf_single", ("test", "macro_f1")),
    ("tfidf_single", ("test", "per_class", "fear", "f1")),
    ("tfidf_single", ("test_bootstrap", "accuracy", "value")),
    ("bigru_minilm", ("test", "accuracy")),
    ("tfidf_multi", ("test", "micro_f1")),
    ("transformer_minilm_multi", ("test", "samples_f1")),
])
def test_an_altered_metric_is_caught(name: str, path: tuple[str, ...], tmp_path: Path) -> None:
    run_dir = _copy_run(name, tmp_path)
    check_test_metrics(run_dir)  # the unaltered copy passes
    metrics = json.loads((run_dir / "metrics.json").read_text())
    node = metrics
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] += 1e-6
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(AssertionError, match=path[-1]):
        check_test_metrics(run_dir)


def test_an_altered_confusion_matrix_is_caught(tmp_path: Path) -> None:
    run_dir = _copy_run("bigru_minilm", tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["test"]["confusion_matrix"][0][0] += 1
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(AssertionError, match="confusion_matrix"):
        check_test_metrics(run_dir)


@pytest.mark.parametrize("name", ["bigru_minilm", "tfidf_multi"])
def test_a_prediction_its_probabilities_do_not_give_is_caught(name: str, tmp_path: Path) -> None:
    run_dir = _copy_run(name, tmp_path)
    check_predictions_follow_probabilities(run_dir)
    path = run_dir / "test_predictions.csv.gz"
    table = pd.read_csv(path, keep_default_na=False)
    first = table.loc[0, "y_pred"]
    table.loc[0, "y_pred"] = (int(first) + 1) % len(EKMAN_LABELS) if name == "bigru_minilm" else "0 1 2 3 4 5 6"
    table.to_csv(path, index=False)
    with pytest.raises(AssertionError, match="rows \\[2\\]"):
        check_predictions_follow_probabilities(run_dir)
