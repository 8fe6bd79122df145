"""Notebook 02's helpers: the C-selection table of TF-IDF runs, and TF-IDF settings given as papermill lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src_helpers.data.goemotions import load_goemotions
from src_helpers.evaluation import tables
from src_helpers.evaluation.results import RunResult
from src_helpers.experiments.registry import configure
from src_helpers.training.tfidf import TfidfConfig, train_tfidf_baseline

FAST = {"train.Cs": [1.0, 4.0], "train.min_df": 1, "train.max_iter": 500}


@pytest.fixture(scope="module")
def sample() -> dict:
    return load_goemotions(source="sample")


def _run(sample: dict, name: str, overrides: dict) -> RunResult:
    """Experiment ``name`` (shrunk by FAST) trained on the sample, as ``run_experiments`` returns it."""
    exp = configure(name, "quick", {**FAST, **overrides})
    result = train_tfidf_baseline(sample["train"], sample["dev"], sample["test"], exp.target, exp.train)
    result.name = exp.run_name
    return result


@pytest.fixture(scope="module")
def runs(sample: dict) -> dict[str, RunResult]:
    return {r.name: r for r in (_run(sample, "tfidf_single", {}), _run(sample, "tfidf_multi", {}))}


# ---------------------------------------------------------------- settings from papermill (JSON: lists, no tuples)
def test_papermill_lists_become_tuples_and_the_baseline_runs(sample: dict) -> None:
    exp = configure("tfidf_single", "quick", {"train.Cs": [0.5, 2], "train.word_ngrams": [1, 3],
                                              "train.char_ngrams": [2, 4]})
    assert exp.train.Cs == (0.5, 2.0) and isinstance(exp.train.Cs, tuple)
    assert exp.train.word_ngrams == (1, 3) and exp.train.char_ngrams == (2, 4)
    r = _run(sample, "tfidf_single", {"train.word_ngrams": [1, 3], "train.char_ngrams": [2, 4]})
    assert r.selection["C"].tolist() == [1.0, 4.0]


def test_a_single_C_is_a_grid_of_one() -> None:
    assert TfidfConfig(Cs=2).Cs == (2.0,)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"Cs": []}, "Cs"), ({"Cs": [1.0, -1.0]}, "Cs"), ({"Cs": ["a"]}, "Cs"),
    ({"word_ngrams": [2, 1]}, "word_ngrams"), ({"char_ngrams": [2]}, "char_ngrams"),
    ({"word_ngrams": 2}, "word_ngrams"),
])
def test_bad_tfidf_settings_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TfidfConfig(**kwargs)


# ---------------------------------------------------------------- the C-selection table
@pytest.mark.slow
def test_selection_table_lists_every_C_of_every_run_and_marks_the_chosen_one(runs: dict) -> None:
    table = tables.selection_table(runs)
    assert list(table.index.names) == ["run", "C"]
    assert table.index.tolist() == [(n, c) for n in ("tfidf_single", "tfidf_multi") for c in (1.0, 4.0)]
    for name, r in runs.items():
        rows = table.loc[name]
        assert rows["chosen"].sum() == 1 and rows.index[rows["chosen"]][0] == r.C
        assert rows["dev_macro_f1"].tolist() == r.selection["dev_macro_f1"].round(4).tolist()
    assert table.loc["tfidf_single", "threshold"].isna().all()
    assert table.loc["tfidf_multi", "threshold"].notna().all() and table["threshold"].dtype == float


@pytest.mark.slow
def test_selection_table_skips_runs_without_a_grid_and_refuses_none(runs: dict) -> None:
    tfidf = runs["tfidf_single"]
    neural = RunResult(target="single", dev=tfidf.dev, test=tfidf.test, test_probs=tfidf.test_probs,
                       test_pred=tfidf.test_pred, name="bigru")
    assert tables.selection_table([neural, tfidf]).index.get_level_values("run").unique().tolist() == \
        ["tfidf_single"]
    with pytest.raises(ValueError, match="bigru"):
        tables.selection_table([neural])


def test_selection_table_refuses_a_grid_without_scores() -> None:
    run = RunResult(target="single", dev={"macro_f1": 0.5}, test={"macro_f1": 0.5}, test_probs=np.zeros((1, 7)),
                    test_pred=np.zeros(1, dtype=int), name="odd")
    run.selection = pd.DataFrame({"C": [1.0]})
    with pytest.raises(ValueError, match="odd.*dev_macro_f1"):
        tables.selection_table([run])


def test_selection_table_refuses_a_grid_of_nan_scores_and_never_marks_one() -> None:
    run = RunResult(target="single", dev={"macro_f1": 0.5}, test={"macro_f1": 0.5}, test_probs=np.zeros((1, 7)),
                    test_pred=np.zeros(1, dtype=int), name="odd")
    run.selection = pd.DataFrame({"C": [1.0, 4.0], "dev_macro_f1": [float("nan"), 0.4], "threshold": [None, None]})
    assert tables.selection_table([run])["chosen"].tolist() == [False, True]
    run.selection["dev_macro_f1"] = float("nan")
    with pytest.raises(ValueError, match="'odd': every C of its selection has a NaN dev macro-F1"):
        tables.selection_table([run])
