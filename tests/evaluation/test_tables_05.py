"""Notebook 05's helpers: the thresholded softmax, the paired bootstrap, the fine-tuning table, the inference
headline scores, and transformer run names that follow the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.evaluation import tables
from src_helpers.evaluation.metrics import choose_threshold, multi_label_report
from src_helpers.evaluation.results import RunResult, evaluate_as_multi, targets
from src_helpers.experiments import registry as ex

N = len(EKMAN_LABELS)


def frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """A split with a primary class and one or two Ekman groups per row."""
    primary = rng.integers(0, N, n)
    groups = [(int(p),) if rng.random() < 0.6 else (int(p), int((p + 1) % N)) for p in primary]
    return pd.DataFrame({"comment_id": [f"c{i}" for i in range(n)], "ekman": primary, "ekman_groups": groups})


def single_run(name: str, dev: pd.DataFrame, test: pd.DataFrame, rng: np.random.Generator,
               skill: float = 0.0) -> RunResult:
    """A single-label run whose probabilities lean towards the truth by ``skill``."""
    def probs(df: pd.DataFrame) -> np.ndarray:
        p = rng.dirichlet(np.ones(N), len(df)) + skill * np.eye(N)[df["ekman"].to_numpy()]
        return p / p.sum(1, keepdims=True)

    dev_probs, test_probs = probs(dev), probs(test)
    return RunResult(name=name, target="single", dev={"macro_f1": 0.0}, test={"macro_f1": 0.0},
                     dev_probs=dev_probs, dev_pred=dev_probs.argmax(1), y_dev=dev["ekman"].to_numpy(),
                     test_probs=test_probs, test_pred=test_probs.argmax(1), y_test=test["ekman"].to_numpy())


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    return frame(rng, 80), frame(rng, 120)


# --------------------------------------------------------------------------------- results.evaluate_as_multi
def test_thresholded_softmax_chooses_its_threshold_on_dev(data) -> None:
    dev, test = data
    run = single_run("minilm", dev, test, np.random.default_rng(1), skill=0.5)
    soft = evaluate_as_multi(run, dev, test)
    threshold = choose_threshold(targets(dev, "multi"), run.dev_probs)
    assert soft.name == "minilm_thresholded" and soft.target == "multi" and soft.threshold == threshold
    assert soft.test == multi_label_report(targets(test, "multi"), run.test_probs, threshold)
    assert soft.dev == multi_label_report(targets(dev, "multi"), run.dev_probs, threshold)
    assert soft.test_pred.shape == (len(test), N) and np.array_equal(soft.y_test, targets(test, "multi"))
    assert soft.history.empty and soft.run_dir is None  # no second set of curves for the same model


def test_thresholded_softmax_refuses_what_it_cannot_evaluate(data) -> None:
    dev, test = data
    run = single_run("old", dev, test, np.random.default_rng(2))
    with pytest.raises(ValueError, match="'old'.*dev probabilities"):
        evaluate_as_multi(RunResult(**{**run.__dict__, "dev_probs": None}), dev, test)
    with pytest.raises(ValueError, match="'old'.*single-label"):
        evaluate_as_multi(RunResult(**{**run.__dict__, "target": "multi"}), dev, test)
    with pytest.raises(ValueError, match="'old': the test split has 119 rows, the run's test probabilities 120"):
        evaluate_as_multi(run, dev, test.iloc[:-1])
    stored = RunResult(**{**run.__dict__, "extra": {"test_ids": test["comment_id"].tolist()[::-1]}})
    with pytest.raises(ValueError, match="'old'.*test ids"):
        evaluate_as_multi(stored, dev, test)


# ----------------------------------------------------------------------------- tables.paired_bootstrap
def test_paired_bootstrap_of_a_run_against_itself_is_exactly_zero(data) -> None:
    dev, test = data
    run = single_run("a", dev, test, np.random.default_rng(3), skill=0.3)
    table = tables.paired_bootstrap(run, run, n_boot=200, seed=0)
    assert list(table.index) == ["accuracy gain", "macro_f1 gain"]
    assert (table[["value", "low", "high"]].to_numpy() == 0).all()


def test_paired_bootstrap_of_a_clearly_better_model_is_positive(data) -> None:
    dev, test = data
    rng = np.random.default_rng(4)
    good, bad = single_run("good", dev, test, rng, skill=3.0), single_run("bad", dev, test, rng)
    table = tables.paired_bootstrap(good, bad, n_boot=200, seed=0)
    assert (table["low"] > 0.3).all() and (table["value"] > table["low"]).all()
    worse = tables.paired_bootstrap(bad, good, n_boot=200, seed=0)
    assert (worse["high"] < -0.3).all()
    multi = tables.paired_bootstrap(evaluate_as_multi(good, dev, test), evaluate_as_multi(bad, dev, test),
                                       n_boot=100)
    assert list(multi.index) == ["macro_f1 gain"] and multi.loc["macro_f1 gain", "low"] > 0


def test_paired_bootstrap_needs_the_same_test_rows(data) -> None:
    dev, test = data
    rng = np.random.default_rng(5)
    a, b = single_run("a", dev, test, rng), single_run("b", dev, test, rng)
    other = RunResult(**{**b.__dict__, "y_test": np.roll(b.y_test, 1)})
    with pytest.raises(ValueError, match="'a' and 'b'.*same test rows"):
        tables.paired_bootstrap(a, other)
    with pytest.raises(ValueError, match="'a' and 'b_thresholded'.*target"):
        tables.paired_bootstrap(a, evaluate_as_multi(b, dev, test))


# ----------------------------------------------------------------------------- reporting: tables
def test_cost_table_shows_parameters_share_and_minutes(data) -> None:
    dev, test = data
    run = single_run("lora", dev, test, np.random.default_rng(6))
    run.dev, run.test = {"macro_f1": 0.5}, {"accuracy": 0.6, "macro_f1": 0.4}
    run.extra = {"trainable_params": 50, "total_params": 1000, "train_seconds": 90.0}  # as stored in a run folder
    table = tables.cost_table([run])
    expected = {"trainable_params": 50, "share_trainable": 0.05, "train_minutes": 1.5, "dev_macro_f1": 0.5,
                "test_accuracy": 0.6, "test_macro_f1": 0.4}
    assert table.loc["lora", list(expected)].to_dict() == expected
    run.trainable_params = 10  # FTResult's attributes win over extra
    assert tables.cost_table({"x": run}).loc["lora", "trainable_params"] == 10


def test_headline_scores() -> None:
    single = RunResult(dev={}, test={"accuracy": 0.7, "macro_f1": 0.6}, test_probs=np.zeros(1), test_pred=np.zeros(1))
    multi = RunResult(target="multi", dev={}, test={"macro_f1": 0.5}, test_probs=np.zeros(1), test_pred=np.zeros(1))
    assert tables.headline_scores(single, multi) == {"acc": 0.7, "mf1": 0.6, "mlf1": 0.5}
    with pytest.raises(ValueError, match="multi-label"):
        tables.headline_scores(single, single)


# ----------------------------------------------------------------------------- run names follow the model
@pytest.mark.parametrize(("name", "model", "expected"), [
    ("transformer_minilm_single", "albert-base-v2", "transformer_albert_base_v2_single"),
    ("transformer_minilm_multi", "google/mobilebert-uncased", "transformer_mobilebert_uncased_multi"),
    ("transformer_minilm_lora_single_subset4000_ep1", "squeezebert/squeezebert-uncased",
     "transformer_squeezebert_uncased_lora_single_subset4000_ep1"),
    ("transformer_minilm_single", "sentence-transformers/all-MiniLM-L6-v2", "transformer_minilm_single"),
    ("transformer_minilm_single", "runs/transformer_x_single/model", "transformer_transformer_x_single_single"),
])
def test_a_model_name_override_gives_the_run_its_own_folder(name: str, model: str, expected: str) -> None:
    assert ex.configure(name, "full", {"train.model_name": model}).run_name == expected


def test_registered_transformer_runs_keep_their_names() -> None:
    for name, exp in ex.EXPERIMENTS.items():
        if exp.family == "transformer":
            assert exp.run_name == name, "committed run folders are named after the experiments"


@pytest.mark.parametrize(("override", "start"), [({"train.model_name": "albert-base-v2"},
                                                   "transformer_albert_base_v2_single"),
                                                  ({"train.seed": 1}, "transformer_minilm_single_seed1")])
def test_the_multi_label_run_starts_from_the_single_label_run_of_the_same_model(
        tmp_path: Path, data, override: dict, start: str) -> None:
    dev, test = data
    (tmp_path / "transformer_minilm_single" / "model").mkdir(parents=True)  # the default model's run: not this one
    (tmp_path / "transformer_minilm_single" / "model" / "config.json").write_text("{}")
    exp = ex.configure("transformer_minilm_multi", "full", override)
    with pytest.raises(FileNotFoundError, match=f"run {start!r}.*run experiment 'transformer_minilm_single'"):
        ex.run_experiment(exp, {"train": dev, "dev": dev, "test": test}, tmp_path)
