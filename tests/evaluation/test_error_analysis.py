"""errors: confused class pairs and real examples of a single-label run's test mistakes, joined to texts by id."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.evaluation.error_analysis import confident_mistakes, confused_pairs, pair_examples, texts_for
from src_helpers.evaluation.results import RunResult, report
from src_helpers.experiments.run_folders import load_result, save_run

# anger 0, disgust 1, fear 2, joy 3, sadness 4, surprise 5, neutral 6
Y = np.array([0, 0, 0, 1, 1, 3, 3, 3, 3, 6])
PRED = np.array([0, 1, 1, 0, 1, 3, 4, 4, 6, 6])
CONFIDENCE = np.array([0.9, 0.7, 0.5, 0.6, 0.8, 0.9, 0.55, 0.95, 0.4, 0.9])
IDS = [f"t{i}" for i in range(len(Y))]


def probs() -> np.ndarray:
    """Each row's confidence on its prediction, the rest spread evenly."""
    p = np.tile(((1 - CONFIDENCE) / (len(EKMAN_LABELS) - 1))[:, None], (1, len(EKMAN_LABELS)))
    p[np.arange(len(Y)), PRED] = CONFIDENCE
    return p


def texts(ids=IDS) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"text of {i}" for i in ids], "comment_id": ids, "ekman": 0})


@pytest.fixture
def result() -> RunResult:
    p = probs()
    return RunResult(name="r", dev={}, test=report(Y, p, "single"), test_probs=p, test_pred=PRED, y_test=Y,
                     extra={"test_ids": list(IDS)})


def test_confused_pairs_match_the_hand_built_confusion(result):
    table = confused_pairs(result, top=None)
    assert table.to_dict("records") == [
        {"true": "anger", "predicted": "disgust", "count": 2, "share": round(2 / 3, 4)},
        {"true": "joy", "predicted": "sadness", "count": 2, "share": 0.5},
        {"true": "disgust", "predicted": "anger", "count": 1, "share": 0.5},
        {"true": "joy", "predicted": "neutral", "count": 1, "share": 0.25},
    ]
    assert table["count"].sum() == (Y != PRED).sum()
    assert confused_pairs(result, top=2)["predicted"].tolist() == ["disgust", "sadness"]


def test_confident_mistakes_are_the_wrong_rows_most_confident_first(result):
    table = confident_mistakes(result, texts(), n=3)
    assert table["comment_id"].tolist() == ["t7", "t1", "t3"]
    assert table["text"].tolist() == ["text of t7", "text of t1", "text of t3"]
    assert table["confidence"].tolist() == [0.95, 0.7, 0.6]
    assert table[["true", "predicted"]].values.tolist() == [["joy", "sadness"], ["anger", "disgust"],
                                                            ["disgust", "anger"]]
    assert len(confident_mistakes(result, texts(), n=100)) == (Y != PRED).sum()
    assert (confident_mistakes(result, texts())["true"] != confident_mistakes(result, texts())["predicted"]).all()


def test_pair_examples(result):
    table = pair_examples(result, texts(), "joy", "sadness", n=3)
    assert table["comment_id"].tolist() == ["t7", "t6"]
    assert table["true_prob"].tolist() == pytest.approx(probs()[[7, 6], 3].tolist())
    assert pair_examples(result, texts(), "joy", "sadness", n=1)["comment_id"].tolist() == ["t7"]
    assert pair_examples(result, texts(), "fear", "joy").empty


def test_texts_follow_the_run_ids_not_the_frame_order(result):
    shuffled = texts()[::-1]
    assert texts_for(result, shuffled).tolist() == [f"text of {i}" for i in IDS]


def test_unmatched_ids_raise_naming_them(result):
    with pytest.raises(ValueError, match=r"2 of its 10 test ids have no text.*\['t3', 't7'\]"):
        confident_mistakes(result, texts([i for i in IDS if i not in ("t3", "t7")]))
    with pytest.raises(ValueError, match="have no text"):
        pair_examples(result, texts(IDS[:-1]), "joy", "sadness")


def test_ids_are_read_from_the_run_folder(tmp_path, result):
    run_dir = save_run(tmp_path / "r", {"target": "single"}, {"dev": result.test, "test": result.test}, ids=IDS,
                       y_true=Y, y_pred=PRED, probs=probs())
    loaded = load_result(run_dir)
    assert confident_mistakes(loaded, texts(), n=1)["comment_id"].tolist() == ["t7"]
    without_extra = dataclasses.replace(loaded, extra={})
    assert confident_mistakes(without_extra, texts(), n=1)["comment_id"].tolist() == ["t7"]
    with pytest.raises(ValueError, match="'r' has no test ids"):
        confident_mistakes(dataclasses.replace(result, extra={}), texts())


@pytest.mark.parametrize(("frame", "message"), [
    (texts().drop(columns="comment_id"), "columns 'comment_id' and 'text'"),
    (pd.concat([texts(), texts()]), "duplicate comment_id"),
    (["a text"], "texts must be a DataFrame"),
])
def test_bad_texts_raise(result, frame, message):
    with pytest.raises(ValueError, match=message):
        confident_mistakes(result, frame)


def test_bad_arguments_raise(result):
    with pytest.raises(ValueError, match="true must be a class"):
        pair_examples(result, texts(), "happy", "joy")
    with pytest.raises(ValueError, match="not a confusion"):
        pair_examples(result, texts(), "joy", "joy")
    with pytest.raises(ValueError, match="n must be"):
        confident_mistakes(result, texts(), n=0)
    multi = dataclasses.replace(result, target="multi")
    for call in (lambda: confused_pairs(multi), lambda: confident_mistakes(multi, texts())):
        with pytest.raises(ValueError, match="multi-label"):
            call()
