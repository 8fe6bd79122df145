"""The one evaluation core: targets, class weights, dev/test evaluation, run results and dev predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_helpers.data.goemotions import load_goemotions, subsample
from src_helpers.evaluation.metrics import (
    choose_threshold,
    multi_label_report,
    single_label_report,
    threshold_predictions,
)
from src_helpers.evaluation.results import TARGETS, RunResult, evaluate, targets
from src_helpers.experiments.run_folders import load_run, save_run
from src_helpers.training import finetune, loop, tfidf
from src_helpers.training.losses import POS_WEIGHT_CAP, class_weights
from tests.tiny_models import make_tiny_model
from tests.training import helpers


@pytest.fixture(scope="module")
def sample() -> dict:
    return load_goemotions(source="sample")


def test_targets_for_both_kinds() -> None:
    df = pd.DataFrame({"ekman": [3, 0], "ekman_groups": [(3,), (0, 5)]})
    assert targets(df, "single").tolist() == [3, 0]
    assert targets(df, "multi").tolist() == [[0, 0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 1, 0]]
    with pytest.raises(ValueError, match="target must be one of"):
        targets(df, "ordinal")
    assert TARGETS == ("single", "multi")


def test_one_class_weight_rule_and_cap_for_every_trainer() -> None:
    assert loop.class_weights is class_weights and finetune.class_weights is class_weights
    assert class_weights(np.array([0, 0, 0, 1]), "single", n=2).tolist() == pytest.approx([4 / 6, 2.0])
    y = np.zeros((100, 2))
    y[:1, 0] = 1  # 99 negatives per positive: capped
    y[:50, 1] = 1
    assert class_weights(y, "multi", n=2).tolist() == pytest.approx([POS_WEIGHT_CAP, 1.0])
    assert POS_WEIGHT_CAP == 10.0


def test_evaluate_single_label_uses_argmax() -> None:
    rng = np.random.default_rng(0)
    y_dev, y_test = rng.integers(0, 7, 40), rng.integers(0, 7, 30)
    dev_probs, test_probs = rng.dirichlet(np.ones(7), 40), rng.dirichlet(np.ones(7), 30)
    ev = evaluate(y_dev, dev_probs, y_test, test_probs, "single")
    assert ev.threshold is None
    assert ev.dev == single_label_report(y_dev, dev_probs.argmax(1))
    assert ev.test == single_label_report(y_test, test_probs.argmax(1))
    assert ev.dev_pred.tolist() == dev_probs.argmax(1).tolist()
    assert ev.test_pred.tolist() == test_probs.argmax(1).tolist()


def test_evaluate_multi_label_chooses_the_threshold_on_dev_only() -> None:
    rng = np.random.default_rng(1)
    y_dev, y_test = rng.integers(0, 2, (60, 7)), rng.integers(0, 2, (50, 7))
    dev_probs = np.clip(y_dev * 0.3 + rng.random((60, 7)) * 0.6, 0, 1)
    test_probs = np.clip(y_test * 0.6 + rng.random((50, 7)) * 0.4, 0, 1)  # another best threshold on test
    ev = evaluate(y_dev, dev_probs, y_test, test_probs, "multi")
    chosen = choose_threshold(y_dev, dev_probs)
    assert ev.threshold == pytest.approx(chosen) != pytest.approx(choose_threshold(y_test, test_probs))
    assert ev.test == multi_label_report(y_test, test_probs, chosen)
    assert ev.dev == multi_label_report(y_dev, dev_probs, chosen)
    assert np.array_equal(ev.test_pred, threshold_predictions(test_probs, chosen))
    assert np.array_equal(ev.dev_pred, threshold_predictions(dev_probs, chosen))


def test_dev_predictions_are_written_and_loaded(tmp_path: Path) -> None:
    y = np.array([[1, 0, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0, 0]])
    probs = y * 0.9
    multi = multi_label_report(y, probs, 0.5)
    save_run(tmp_path / "r", {"target": "multi"}, {"dev": multi, "test": multi}, ids=["a", "b"], y_true=y, y_pred=y,
             probs=probs, dev={"ids": ["c", "d"], "y_true": y[::-1], "y_pred": y[::-1], "probs": probs[::-1]})
    run = load_run(tmp_path / "r")
    assert run.dev_predictions["id"].tolist() == ["c", "d"]
    assert np.allclose(run.probs(split="dev"), probs[::-1]) and np.array_equal(run.pred("dev"), y[::-1])
    assert np.array_equal(run.pred(), y)
    single = single_label_report([1], [1])
    save_run(tmp_path / "old", {"target": "single"}, {"dev": single, "test": single}, y_true=np.array([1]),
             y_pred=np.array([1]),
             probs=np.eye(7)[[1]])
    old = load_run(tmp_path / "old")  # a folder written before dev predictions existed still loads
    assert old.dev_predictions is None and old.pred().tolist() == [1]
    with pytest.raises(FileNotFoundError, match="dev_predictions"):
        old.probs(split="dev")


def test_every_trainer_returns_a_run_result_with_dev_predictions(sample: dict, tmp_path: Path) -> None:
    small = {"train": subsample(sample["train"], 48, seed=1), "dev": subsample(sample["dev"], 21),
             "test": subsample(sample["test"], 21)}
    tfidf_run = tfidf.train_tfidf_baseline(small["train"], small["dev"], small["test"], "multi",
                                          tfidf.TfidfConfig(Cs=(1.0,), min_df=1, max_iter=200))
    rnn = helpers.train_rnn(small, tmp_path / "gru", {"arch": "gru", "embedding_dim": 8, "hidden_dim": 8},
                                    {"epochs": 1, "num_threads": 1}, min_frequency=1, progress=False)
    src = make_tiny_model("distilbert", tmp_path / "hub")
    cfg = finetune.FTConfig(model_name=str(src), target="multi", epochs=1, batch_size=8, max_length=32,
                                   num_threads=1)
    ft = helpers.finetune(small["train"], small["dev"], small["test"], cfg, tmp_path / "ft")
    for r in (tfidf_run, rnn, ft):
        assert isinstance(r, RunResult)
        assert r.dev_probs.shape == (len(small["dev"]), 7) and len(r.dev_pred) == len(r.y_dev) == len(small["dev"])
        again = evaluate(r.y_dev, r.dev_probs, r.y_test, r.test_probs, r.target)
        assert again.dev == r.dev and again.test == r.test and np.array_equal(again.test_pred, r.test_pred)
    for r in (rnn, ft):
        run = load_run(r.run_dir)
        assert run.dev_predictions["id"].tolist() == small["dev"]["comment_id"].tolist()
        assert np.allclose(run.probs(split="dev"), r.dev_probs, atol=1e-5)
        assert np.array_equal(run.pred("dev"), r.dev_pred)
    reused = helpers.finetune(small["train"], small["dev"], small["test"], cfg, tmp_path / "ft")
    assert np.allclose(reused.dev_probs, ft.dev_probs, atol=1e-5) and np.array_equal(reused.dev_pred, ft.dev_pred)
