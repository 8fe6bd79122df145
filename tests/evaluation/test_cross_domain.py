"""Helpers of notebook 07 (DAIR.AI emotion): scoring several runs across data sets and storing the reports
(``cross_domain.score_on_dair`` / ``score_on_goemotions``), their tables (``scores_table``, ``view`` +
``tables.per_class_f1``), the wall clock ``registry.run_experiment`` records and the training-time table
(``tables.cost_table``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.labels import DAIR, DAIR_LABELS
from src_helpers.evaluation import cross_domain as xd
from src_helpers.evaluation import tables
from src_helpers.evaluation.results import RunResult
from src_helpers.experiments import registry
from src_helpers.experiments.run_folders import load_run
from src_helpers.training.tfidf import TfidfConfig, train_tfidf_baseline

ONE_C = {"train.Cs": [1.0]}


@pytest.fixture(scope="module")
def tfidf_runs(goemotions_sample: dict, dair_sample: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A GoEmotions and a DAIR TF-IDF run (quick, one C), each in its run folder."""
    runs = tmp_path_factory.mktemp("runs")
    return {**registry.run_experiments(["tfidf_single"], goemotions_sample, "quick", ONE_C, runs_dir=runs),
            **registry.run_experiments(["dair_tfidf"], dair_sample, "quick", ONE_C, runs_dir=runs)}


def probs_of(classes: tuple[str, ...], picks: list[str]) -> np.ndarray:
    """One-hot-ish probabilities: each row's top class is ``picks[i]``."""
    out = np.full((len(picks), len(classes)), 0.01)
    out[np.arange(len(picks)), [classes.index(p) for p in picks]] = 0.9
    return out


# ------------------------------------------------------------------------------------------ scoring several runs
def test_score_on_dair_and_on_goemotions_store_each_runs_report(tfidf_runs: dict, goemotions_sample: dict,
                                                                dair_sample: dict) -> None:
    ekman, dair = {"tfidf_single": tfidf_runs["tfidf_single"]}, {"dair_tfidf": tfidf_runs["dair_tfidf"]}
    on_dair = xd.score_on_dair(ekman, dair_sample["test"])
    on_go = xd.score_on_goemotions(dair, goemotions_sample["test"], evaluation="go_test")
    expected = xd.ekman_model_on_dair(xd.model_probs(ekman["tfidf_single"], dair_sample["test"]["text"]),
                                      dair_sample["test"])
    assert on_dair == {"tfidf_single": expected}
    assert on_go["dair_tfidf"]["data"] == "goemotions"
    assert on_go["dair_tfidf"]["n_total"] == len(goemotions_sample["test"])
    stored_dair = load_run(ekman["tfidf_single"].run_dir).evaluations["dair_test"]
    stored_go = load_run(dair["dair_tfidf"].run_dir).evaluations["go_test"]
    assert stored_dair == json.loads(json.dumps(expected)) and stored_go == json.loads(json.dumps(on_go["dair_tfidf"]))


def test_a_run_read_back_gives_its_stored_report_without_its_model(tfidf_runs: dict, dair_sample: dict) -> None:
    """A finished run read from its folder (a TF-IDF run keeps no model) is not scored again: its stored
    evaluation is the report; a run read back without one needs its model and says so."""
    xd.score_on_dair({"tfidf_single": tfidf_runs["tfidf_single"]}, dair_sample["test"], evaluation="again")
    read_back = {"tfidf_single": load_run(tfidf_runs["tfidf_single"].run_dir).result()}
    stored = load_run(tfidf_runs["tfidf_single"].run_dir).evaluations["again"]
    assert xd.score_on_dair(read_back, dair_sample["test"], evaluation="again") == {"tfidf_single": stored}
    with pytest.raises(FileNotFoundError, match="no model to score new texts with"):
        xd.score_on_dair(read_back, dair_sample["test"], evaluation="never_stored")


def test_scoring_a_run_of_the_other_label_set_is_refused_before_anything_is_stored(tfidf_runs: dict,
                                                                                    dair_sample: dict) -> None:
    both = {"tfidf_single": tfidf_runs["tfidf_single"], "dair_tfidf": tfidf_runs["dair_tfidf"]}
    with pytest.raises(ValueError, match=r"ekman_model_on_dair scores ekman models.*dair_tfidf \(dair\)"):
        xd.score_on_dair(both, dair_sample["test"], evaluation="refused")
    assert "refused" not in load_run(both["tfidf_single"].run_dir).evaluations


def test_a_run_without_a_folder_is_scored_and_not_stored(dair_sample: dict, goemotions_sample: dict) -> None:
    r = train_tfidf_baseline(*(dair_sample[s] for s in ("train", "dev", "test")), "single", TfidfConfig(Cs=[1.0]),
                             DAIR)  # trained in memory: no run folder
    assert r.run_dir is None
    reports = xd.score_on_goemotions({"in_memory": r}, goemotions_sample["test"])
    assert reports["in_memory"]["n"] == int(xd.shared_rows(goemotions_sample["test"]).sum())


# ------------------------------------------------------------------------------------------ tables
def test_scores_table_of_both_directions(dair_sample: dict, goemotions_sample: dict) -> None:
    dair_test, go_test = dair_sample["test"], goemotions_sample["test"]
    truth = dair_test["ekman_label"].tolist()
    right = probs_of(EKMAN_LABELS, truth)
    neutral_half = probs_of(EKMAN_LABELS, ["neutral" if i % 2 else c for i, c in enumerate(truth)])
    odd = np.arange(1, len(truth), 2)
    neutral_half[odd, [EKMAN_LABELS.index(truth[i]) for i in odd]] = 0.5  # second best: the true class
    go_shared = go_test[xd.shared_rows(go_test)]
    dair_probs = np.zeros((len(go_test), 6))
    dair_probs[:, DAIR_LABELS.index("joy")] = 1.0  # always joy
    reports = {"perfect": xd.ekman_model_on_dair(right, dair_test),
               "half_neutral": xd.ekman_model_on_dair(neutral_half, dair_test),
               "dair_joy": xd.dair_model_on_goemotions(dair_probs, go_test)}
    table = xd.scores_table(reports)
    assert list(table.columns) == ["data", "n", "accuracy_7way", "macro_f1_7way", "predicted_outside",
                                   "accuracy_shared", "macro_f1_shared", "n_total"]
    assert table.loc["perfect", ["accuracy_7way", "macro_f1_7way", "accuracy_shared"]].tolist() == [1.0, 1.0, 1.0]
    half = table.loc["half_neutral"]
    n_neutral = len(truth) // 2
    assert half["predicted_outside"] == round(n_neutral / len(truth), 4)
    assert half["accuracy_7way"] == round(1 - n_neutral / len(truth), 4) and half["accuracy_shared"] == 1.0
    joy = table.loc["dair_joy"]
    assert joy["data"] == "goemotions" and joy["n"] == len(go_shared) and joy["n_total"] == len(go_test)
    assert joy["accuracy_shared"] == round(float((go_shared["ekman_label"] == "joy").mean()), 4)
    assert np.isnan(joy["accuracy_7way"]) and np.isnan(table.loc["perfect", "n_total"])
    with pytest.raises(ValueError, match="report 'x' is not a cross-domain report"):
        xd.scores_table({"x": {"accuracy": 1.0}})


def test_per_class_f1_views(dair_sample: dict, goemotions_sample: dict) -> None:
    dair_test, go_test = dair_sample["test"], goemotions_sample["test"]
    ekman = xd.ekman_model_on_dair(probs_of(EKMAN_LABELS, dair_test["ekman_label"].tolist()), dair_test)
    dair = xd.dair_model_on_goemotions(probs_of(DAIR_LABELS, ["joy"] * len(go_test)), go_test)
    shared = tables.per_class_f1(xd.view({"go_model": ekman, "dair_model": dair}))
    assert list(shared.index) == list(xd.SHARED) and list(shared.columns) == ["go_model", "dair_model"]
    assert (shared["go_model"] == 1.0).all() and shared["dair_model"].drop("joy").eq(0).all()
    seven = tables.per_class_f1(xd.view({"go_model": ekman}, "seven_way"))
    assert list(seven.index) == list(EKMAN_LABELS) and seven.loc[["disgust", "neutral"], "go_model"].eq(0).all()
    with pytest.raises(ValueError, match="report 'dair_model' has no 'seven_way' view"):
        xd.view({"dair_model": dair}, "seven_way")
    with pytest.raises(ValueError, match="view must be"):
        xd.view({"go_model": ekman}, "7way")


# ------------------------------------------------------------------------------------------ timing
def test_run_experiments_records_each_runs_wall_clock(dair_sample: dict, tmp_path: Path) -> None:
    results = registry.run_experiments(["dair_tfidf"], dair_sample, "quick", ONE_C, runs_dir=tmp_path)
    assert list(results) == ["dair_tfidf"] and results["dair_tfidf"].run_dir == tmp_path / "dair_tfidf"
    assert 0 < results["dair_tfidf"].extra["wall_seconds"] < 600


def test_training_time_from_what_each_run_recorded() -> None:
    def run(name: str, **kw) -> RunResult:
        return RunResult(name=name, dev={}, test={"accuracy": 0.9}, test_probs=np.zeros((0, 6)),
                         test_pred=np.zeros(0), **kw)

    rnn = run("rnn", history=pd.DataFrame({"epoch": [1, 2], "train_seconds": [60.0, 120.0]}))
    ft = run("ft", history=pd.DataFrame({"epoch": [1, 2], "dev_loss": [0.3, 0.2]}), config={"result": {
        "train_seconds": 600.0}})
    tfidf = run("tfidf")
    for r, seconds in ((rnn, 200.0), (ft, 6.0), (tfidf, 30.0)):
        r.extra["wall_seconds"] = seconds
    table = tables.cost_table({"rnn": rnn, "ft": ft, "tfidf": tfidf})
    assert table["train_minutes"].tolist() == [3.0, 10.0, 0.5], "RNN epochs, the fine-tuning's record, TF-IDF wall"
    assert table["wall_minutes"].tolist() == [round(200 / 60, 4), 0.1, 0.5]
    assert table["epochs_run"].tolist()[:2] == [2, 2] and pd.isna(table.loc["tfidf", "epochs_run"])
    assert np.isnan(tables.cost_table({"tfidf": run("tfidf")}).loc["tfidf", "train_minutes"]), "no record"
