from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from src_helpers.data.goemotions import load_goemotions
from src_helpers.evaluation.results import report
from src_helpers.training import tfidf
from src_helpers.training.tfidf import TfidfConfig, tfidf_pipeline, train_tfidf_baseline

FAST = TfidfConfig(Cs=(1.0, 4.0), min_df=1, max_iter=500)


@pytest.fixture(scope="module")
def sample() -> dict:
    return load_goemotions(source="sample")


@pytest.mark.slow
def test_single_label_baseline_learns_the_sample(sample: dict) -> None:
    r = train_tfidf_baseline(sample["train"], sample["dev"], sample["test"], "single", FAST)
    assert r.C in FAST.Cs and len(r.selection) == 2
    assert r.test_probs.shape == (len(sample["test"]), 7)
    assert np.allclose(r.test_probs.sum(1), 1)
    assert r.test["accuracy"] > 1 / 7 + 0.1, "well above chance on the balanced sample"
    assert r.dev["macro_f1"] == r.selection["dev_macro_f1"].max()


@pytest.mark.slow
def test_multi_label_baseline_chooses_threshold_on_dev(sample: dict) -> None:
    r = train_tfidf_baseline(sample["train"], sample["dev"], sample["test"], "multi", FAST)
    assert 0.05 <= r.threshold <= 0.95
    assert r.test["threshold"] == r.threshold
    assert r.test_pred.shape == (len(sample["test"]), 7) and r.test_pred.sum(1).min() >= 1
    assert r.test["macro_f1"] > 0.2


def test_pipeline_is_word_and_char_tfidf_then_logistic_regression() -> None:
    single = tfidf_pipeline(TfidfConfig(char_ngrams=(3, 4)), "single", C=2.0)
    assert [name for name, _ in single["features"].transformer_list] == ["word", "char"]
    assert single["features"].transformer_list[1][1].ngram_range == (3, 4)
    assert single["classifier"].C == 2.0
    assert tfidf_pipeline(target="multi")["classifier"].estimator.C == 1.0  # one-vs-rest around the same LR
    with pytest.raises(ValueError):
        tfidf_pipeline(target="ordinal")


def test_unknown_target(sample: dict) -> None:
    with pytest.raises(ValueError, match="target must be"):
        train_tfidf_baseline(sample["train"], sample["dev"], sample["test"], "ordinal", FAST)


@pytest.mark.realdata
@pytest.mark.slow
def test_real_single_label_baseline_scores_as_on_the_full_data(real_data_dir: Path) -> None:
    splits = load_goemotions(real_data_dir)
    r = train_tfidf_baseline(splits["train"], splits["dev"], splits["test"], "single", TfidfConfig(Cs=(2.0,)))
    assert r.test["accuracy"] > 0.62 and r.test["macro_f1"] > 0.50


def test_a_c_with_a_nan_dev_score_is_never_chosen(sample: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    scored = []

    def first_is_nan(*args: object, **kwargs: object) -> dict:
        out = report(*args, **kwargs)
        scored.append(out)
        return {**out, "macro_f1": float("nan")} if len(scored) == 1 or nan_everywhere else out

    monkeypatch.setattr(tfidf, "report", first_is_nan)
    nan_everywhere = False
    with pytest.warns(UserWarning, match="C=1.0 gives a NaN dev macro-F1; it is never chosen"):
        r = train_tfidf_baseline(sample["train"], sample["dev"], sample["test"], "single", FAST)
    assert r.C == 4.0
    nan_everywhere = True
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"every C of \[1.0, 4.0\] gives a NaN"):
        train_tfidf_baseline(sample["train"], sample["dev"], sample["test"], "single", FAST)
