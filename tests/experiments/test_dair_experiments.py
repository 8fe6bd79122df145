"""DAIR.AI emotion experiments (notebook 07): the registry (label set, run names, quick shrink, a multi-label target
refused), every family end to end on the bundled DAIR sample (``dair_*`` run folders with DAIR's 6 classes that read
back), reuse of a finished DAIR fine-tuning, scoring a trained model on the other data set and storing the scores in
its run folder, and a DAIR run's confusion matrix."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_helpers.data.labels import DAIR, DAIR_LABELS, EKMAN
from src_helpers.evaluation import tables
from src_helpers.evaluation.cross_domain import dair_model_on_goemotions, ekman_model_on_dair, model_probs, shared_rows
from src_helpers.evaluation.results import RunResult
from src_helpers.experiments.registry import EXPERIMENTS, Experiment, configure, run_experiments
from src_helpers.experiments.run_folders import load_result, load_run, save_evaluation
from tests.training.helpers import finetune

NAMES = ["dair_tfidf", "dair_bigru_minilm", "dair_minilm"]
FAST = {"train.epochs": 1, "train.Cs": [1.0]}  # one epoch; TF-IDF fits one C (for a list of all three families)


@pytest.fixture(scope="module")
def trained(dair_sample: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, RunResult]]:
    """The three DAIR experiments, quick profile, trained once for this module (about 20 s)."""
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return runs, run_experiments(NAMES, dair_sample, "quick", FAST, runs_dir=runs)


# ------------------------------------------------------------------------------------------ the registry
def test_dair_experiments_are_registered_with_the_dair_label_set() -> None:
    for name in NAMES:
        full, quick = configure(name, "full"), configure(name, "quick")
        assert full.labels == quick.labels == "dair" and full.target == "single"
        assert full.run_name == quick.run_name == name
        assert full.settings()["labels"] == "dair"
    bigru, dair_bigru = configure("bigru_minilm", "full"), configure("dair_bigru_minilm", "full")
    assert (dair_bigru.model, dair_bigru.text, dair_bigru.train) == (bigru.model, bigru.text, bigru.train), \
        "notebook 03's best RNN set-up, unchanged"
    assert configure("dair_bigru_minilm", "quick").model.hidden_dim == 32, "quick shrinks the RNN as usual"
    ft, ft_quick = configure("dair_minilm", "full").train, configure("dair_minilm", "quick").train
    assert (ft.model_name, ft.max_length, ft.epochs, ft.freeze_embeddings) == ("minilm", 96, 4, False)
    assert ft_quick.epochs == 2 and dataclasses.replace(ft_quick, epochs=4) == ft
    assert all("labels" not in e.settings() for e in EXPERIMENTS.values() if e.labels == "ekman"), \
        "the settings Ekman runs recorded before label sets existed stay the same"


def test_a_multi_label_target_on_dair_is_refused() -> None:
    with pytest.raises(ValueError, match="experiment 'dair_tfidf': label set 'dair' has no multi-label targets"):
        configure("dair_tfidf", "quick", {"target": "multi"})
    with pytest.raises(ValueError, match="experiment 'x': unknown label set 'carer'"):
        Experiment("x", "tfidf", EXPERIMENTS["tfidf_single"].train, labels="carer")


def test_a_run_of_another_label_set_is_named_after_it() -> None:
    assert configure("bigru_minilm", "quick", {"labels": "dair"}).run_name == "dair_bigru_minilm"
    assert configure("tfidf_single", "quick", {"labels": "dair"}).run_name == "dair_tfidf_single"


def test_run_experiments_refuses_dair_experiments_on_goemotions_data(goemotions_sample: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no column 'dair' for the 'dair' single-label targets"):
        run_experiments(["dair_tfidf"], goemotions_sample, "quick", {"train.Cs": [1.0]}, runs_dir=tmp_path)


# ------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_dair_runs_write_run_folders_with_six_classes(trained: tuple, dair_sample: dict) -> None:
    runs, results = trained
    assert list(results) == NAMES
    test_ids = dair_sample["test"]["comment_id"].tolist()
    for name, result in results.items():
        assert result.run_dir == runs / name and result.labels is DAIR
        config = json.loads((runs / name / "config.json").read_text())
        assert config["labels"] == "dair" and config["experiment"]["settings"]["labels"] == "dair"
        for split in ("test", "dev"):
            table = pd.read_csv(runs / name / f"{split}_predictions.csv.gz")
            assert [c for c in table if c.startswith("prob_")] == [f"prob_{c}" for c in DAIR_LABELS], name
        assert list(result.test["per_class"]) == list(DAIR_LABELS)
        assert np.array(result.test["confusion_matrix"]).shape == (6, 6)
        loaded = load_result(runs / name)
        assert loaded.labels is DAIR and loaded.extra["test_ids"] == test_ids
        assert loaded.test == json.loads(json.dumps(result.test))
        assert loaded.y_test.tolist() == dair_sample["test"]["dair"].tolist()
        np.testing.assert_allclose(loaded.test_probs, result.test_probs, atol=0.5e-5 + 1e-9)
        np.testing.assert_allclose(loaded.dev_probs, result.dev_probs, atol=0.5e-5 + 1e-9)
    model_config = json.loads((runs / "dair_minilm" / "model" / "config.json").read_text())
    assert list(model_config["id2label"].values()) == list(DAIR_LABELS)
    # a quick run keeps the saved models, not what only a resume reads (Trainer checkpoints, last.pt, best.pt)
    assert not list((runs / "dair_minilm" / "checkpoints").glob("checkpoint-*"))
    assert sorted(p.name for p in (runs / "dair_bigru_minilm" / "checkpoints").iterdir()) == ["encoder", "model"]
    assert json.loads((runs / "dair_bigru_minilm" / "config.json").read_text())["model_config"]["num_classes"] == 6


@pytest.mark.slow
def test_a_finished_dair_fine_tuning_is_reused_not_as_an_ekman_one(trained: tuple, dair_sample: dict) -> None:
    runs, results = trained
    again = run_experiments(["dair_minilm"], dair_sample, "quick", {"train.epochs": 1}, resume=True,
                            runs_dir=runs)["dair_minilm"]
    assert again.labels is DAIR and again.extra["train_seconds"] == results["dair_minilm"].extra["train_seconds"]
    cfg = dataclasses.replace(configure("dair_minilm", "quick", {"train.epochs": 1}).train, target="single")
    with pytest.raises(ValueError, match=r"holds checkpoints of label set 'dair'"):  # same data, Ekman's classes
        finetune(*(dair_sample[s] for s in ("train", "dev", "test")), cfg, runs / "dair_minilm", labels=EKMAN)


@pytest.mark.slow
def test_a_dair_fine_tuning_starts_from_a_goemotions_model(goemotions_sample: dict, dair_sample: dict,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``dair_minilm_from_goemotions``: the Ekman MiniLM of ``<runs>/goemotions_for_dair`` with a new 6-class head."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    exp = configure("dair_minilm_from_goemotions", "quick")
    assert exp.init_from == "goemotions_for_dair/transformer_minilm_single" and exp.run_name == exp.name
    with pytest.raises(FileNotFoundError, match=r"run 'transformer_minilm_single' .*goemotions_for_dair"):
        run_experiments([exp.name], dair_sample, "quick", {"train.epochs": 1}, runs_dir=tmp_path)
    start = run_experiments(["transformer_minilm_single"], goemotions_sample, "quick", {"train.epochs": 1},
                            runs_dir=tmp_path / "goemotions_for_dair")["transformer_minilm_single"]
    run = run_experiments([exp.name], dair_sample, "quick", {"train.epochs": 1}, runs_dir=tmp_path)[exp.name]
    assert run.labels is DAIR and run.test_probs.shape == (len(dair_sample["test"]), 6)
    ft = load_run(run.run_dir).config["ft"]
    assert Path(ft["model_name"]).parts[-3:] == ("goemotions_for_dair", start.name, "model"), "the Ekman model"
    for done in (start, run):  # a quick run keeps model/ (what init_from reads) but no Trainer checkpoint
        assert (done.run_dir / "model" / "config.json").is_file()
        assert not list((done.run_dir / "checkpoints").glob("checkpoint-*"))


def test_only_a_fine_tuning_starts_from_another_run() -> None:
    with pytest.raises(ValueError, match="experiment 'x': init_from is for transformer experiments only"):
        Experiment("x", "tfidf", EXPERIMENTS["tfidf_single"].train, init_from="tfidf_single")


@pytest.mark.slow
def test_model_probs_of_a_run_read_from_its_folder(trained: tuple, dair_sample: dict) -> None:
    runs, results = trained
    texts = dair_sample["test"]["text"].tolist()
    for name in ("dair_bigru_minilm", "dair_minilm"):  # the model is still in the folder (trained here)
        probs = model_probs(load_result(runs / name), texts)
        np.testing.assert_allclose(probs, results[name].test_probs, atol=1e-5, err_msg=name)
    with pytest.raises(FileNotFoundError, match="run 'dair_tfidf': no model to score new texts with"):
        model_probs(load_result(runs / "dair_tfidf"), texts)


@pytest.mark.slow
def test_dair_models_scored_on_goemotions_and_stored(trained: tuple, goemotions_sample: dict) -> None:
    runs, results = trained
    test = goemotions_sample["test"]
    for name, result in results.items():
        probs = model_probs(result, test["text"])
        assert probs.shape == (len(test), 6) and np.allclose(probs.sum(1), 1, atol=1e-5), name
        report = dair_model_on_goemotions(probs, test)
        assert report["n"] == int(shared_rows(test).sum()) and list(report["per_class"]) == ["anger", "fear", "joy",
                                                                                             "sadness", "surprise"]
        save_evaluation(result.run_dir, "goemotions_test", report)
        assert load_run(runs / name).evaluations["goemotions_test"] == json.loads(json.dumps(report))
        assert load_result(runs / name).extra["evaluations"]["goemotions_test"]["n_total"] == len(test)


def test_an_ekman_model_scored_on_dair_and_stored(goemotions_sample: dict, dair_sample: dict, tmp_path: Path) -> None:
    tfidf = run_experiments(["tfidf_single"], goemotions_sample, "quick", {"train.Cs": [1.0]}, runs_dir=tmp_path)
    result = tfidf["tfidf_single"]
    probs = model_probs(result, dair_sample["test"]["text"])
    assert probs.shape == (len(dair_sample["test"]), 7)
    report = ekman_model_on_dair(probs, dair_sample["test"])
    assert report["n"] == len(dair_sample["test"]) and len(report["seven_way"]["per_class"]) == 7
    assert report["shared"]["accuracy"] >= report["seven_way"]["accuracy"], "fewer classes to be wrong in"
    save_evaluation(result.run_dir, "dair_test", report)
    assert load_run(tmp_path / "tfidf_single").evaluations["dair_test"]["shared"] == report["shared"]


@pytest.mark.slow
def test_a_dair_runs_confusion_matrix_names_its_six_classes(trained: tuple, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    runs, _ = trained
    drawn = {}
    monkeypatch.setattr(tables.figures, "confusion", lambda cm, labels, title, path: drawn.update({title: labels}))
    tables.run_figures([load_result(runs / "dair_tfidf")], tmp_path, "07", per_class=False)
    assert drawn == {"dair_tfidf, test (row-normalised)": DAIR_LABELS}
