"""tools.dev_predictions: a run trained again gives a run folder its missing dev predictions only when it
reproduces the folder exactly; committed dev predictions cover the data's dev split."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from src_helpers.config import REPO_ROOT
from src_helpers.data.goemotions import load_goemotions
from src_helpers.experiments.registry import EXPERIMENTS, run_experiments
from src_helpers.experiments.run_folders import load_run, run_folders
from tools import dev_predictions

COMMITTED = REPO_ROOT / "notebook_outputs" / "runs"


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return load_goemotions(source="sample")


@pytest.fixture
def committed(sample: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Finished quick TF-IDF runs (one C, both targets) in ``tmp_path/committed``, their dev predictions deleted."""
    exp = EXPERIMENTS["tfidf_single"]
    monkeypatch.setitem(EXPERIMENTS, "tfidf_single", dataclasses.replace(
        exp, train=dataclasses.replace(exp.train, Cs=(1.0,))))
    runs = tmp_path / "committed"
    for target in ("single", "multi"):
        run_experiments(["tfidf_single"], sample, "quick", {"target": target}, runs_dir=runs)
    return runs


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("run", ["tfidf_single", "tfidf_multi"])
def test_a_reproduced_run_gets_its_dev_predictions_back_and_nothing_else_changes(
        committed: Path, run: str, capsys: pytest.CaptureFixture) -> None:
    before = files(committed / run)
    (committed / run / dev_predictions.DEV_FILE).unlink()
    assert dev_predictions.main([run, "--runs-dir", str(committed), "--profile", "quick"]) == 0
    assert f"{run}: reproduced (same 70 test predictions" in capsys.readouterr().out
    assert files(committed / run) == before, "the same dev predictions come back, the other files stay as they were"
    assert dev_predictions.main([run, "--runs-dir", str(committed), "--profile", "quick"]) == 0
    assert "already, nothing done" in capsys.readouterr().out


def test_a_run_with_another_test_prediction_or_metric_is_refused_and_left_untouched(
        committed: Path, capsys: pytest.CaptureFixture) -> None:
    folder = committed / "tfidf_single"
    (folder / dev_predictions.DEV_FILE).unlink()
    table = pd.read_csv(folder / "test_predictions.csv.gz", keep_default_na=False)
    table.loc[3, "y_pred"] = (table.loc[3, "y_pred"] + 1) % 7
    table.to_csv(folder / "test_predictions.csv.gz", index=False, compression="gzip")
    metrics = json.loads((folder / "metrics.json").read_text())
    stored = metrics["test"]["macro_f1"] = metrics["test"]["macro_f1"] + 1e-9
    (folder / "metrics.json").write_text(json.dumps(metrics))
    before = files(folder)
    assert dev_predictions.main(["tfidf_single", "--runs-dir", str(committed), "--profile", "quick"]) == 1
    out = capsys.readouterr().out
    assert "tfidf_single: NOT reproduced" in out
    assert f"1 of 70 test rows predicted otherwise (ids {table.loc[3, 'id']})" in out
    assert f"1 metrics differ: test.macro_f1 {stored} -> {stored - 1e-9}" in out
    assert files(folder) == before


def test_a_folder_of_other_settings_is_refused_before_training(committed: Path, capsys: pytest.CaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = committed / "tfidf_single"
    (folder / dev_predictions.DEV_FILE).unlink()
    config = json.loads((folder / "config.json").read_text())
    config["experiment"]["settings"]["train.min_df"] = 5
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(dev_predictions, "run_experiment", None)  # calling it would be a TypeError
    assert dev_predictions.main(["tfidf_single", "--runs-dir", str(committed), "--profile", "quick"]) == 1
    assert "not a run of experiment 'tfidf_single' with its registered settings" in capsys.readouterr().out


@pytest.mark.parametrize(("run", "name", "target"), [("bigru_minilm_multi", "bigru_minilm", "multi"),
                                                     ("tfidf_multi", "tfidf_multi", "multi"),
                                                     ("xlstm_minilm", "xlstm_minilm", "single")])
def test_experiment_of_a_committed_run_without_recorded_settings(run: str, name: str, target: str) -> None:
    if not (COMMITTED / run / "metrics.json").is_file():
        pytest.skip(f"no committed run {run} in this checkout")
    folder = load_run(COMMITTED / run)
    exp = dev_predictions.experiment_of(folder)
    assert (exp.name, exp.target, exp.seed, exp.run_name) == (name, target, 0, run)
    if exp.family == "rnn":
        assert exp.train.num_threads == folder.config["train_config"]["num_threads"]


def test_committed_dev_predictions_hold_the_dev_split_of_the_data(real_data_dir: Path) -> None:
    dev_ids = load_goemotions(real_data_dir, source="local")["dev"]["comment_id"].astype(str).tolist()
    runs = [load_run(p) for p in run_folders(COMMITTED, nested=True)]
    runs = [r for r in runs if r.labels.name == "ekman" and r.dev_predictions is not None]
    if not runs:
        pytest.skip("no committed GoEmotions run stores dev predictions")
    assert [r.name for r in runs if r.dev_predictions["id"].astype(str).tolist() != dev_ids] == []
