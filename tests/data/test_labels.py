"""Label sets (Ekman's 7, DAIR's 6): targets read the label set's columns with clear errors for data of another set,
reports name its classes, run folders store and read back its class columns; the cross-domain scores on hand-made
examples with known numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.labels import DAIR, DAIR_LABELS, EKMAN, label_set, label_set_of
from src_helpers.evaluation.cross_domain import (
    SHARED,
    dair_model_on_goemotions,
    ekman_model_on_dair,
    seven_way_report,
    shared_report,
    shared_rows,
)
from src_helpers.evaluation.results import evaluate, report, targets
from src_helpers.experiments.run_folders import load_result, load_run, save_evaluation, save_run
from src_helpers.predict import best_model_dir


# ------------------------------------------------------------------------------------------ label sets, targets
def test_label_sets_by_name_and_what_a_run_config_records() -> None:
    assert label_set("dair") is DAIR and label_set("ekman") is EKMAN
    assert label_set(DAIR) is DAIR
    with pytest.raises(ValueError, match="unknown label set None"):  # a run folder always names its label set
        label_set(None)
    assert label_set_of(DAIR_LABELS) is DAIR and label_set_of(EKMAN_LABELS) is EKMAN
    with pytest.raises(ValueError, match="no label set has the classes"):
        label_set_of(DAIR_LABELS[:3])
    assert DAIR.classes == ("sadness", "joy", "love", "anger", "fear", "surprise")  # the hub's label ids
    with pytest.raises(ValueError, match=r"unknown label set 'carer'; known: ekman, dair"):
        label_set("carer")
    assert label_set("ekman") is EKMAN and label_set(DAIR) is DAIR  # a run's config.json records {"labels": name}


def test_targets_read_the_label_sets_columns(dair_sample: dict, goemotions_sample: dict) -> None:
    test = dair_sample["test"]
    assert targets(test, "single", DAIR).tolist() == [DAIR_LABELS.index(c) for c in test["dair_label"]]
    assert targets(test, "single", EKMAN).tolist() == [EKMAN_LABELS.index(c) for c in test["ekman_label"]]
    ge = goemotions_sample["test"]
    assert targets(ge, "single").tolist() == ge["ekman"].tolist()  # Ekman's is the default
    assert targets(ge, "multi").shape == (len(ge), 7)


def test_targets_on_data_of_another_label_set_name_the_missing_column(goemotions_sample: dict) -> None:
    with pytest.raises(ValueError, match=r"no column 'dair' for the 'dair' single-label targets in these data "
                                         r"\(columns: \['text', 'labels', 'comment_id', 'ekman'"):
        targets(goemotions_sample["test"], "single", DAIR)


def test_multi_target_on_dair_is_a_clear_error(dair_sample: dict) -> None:
    with pytest.raises(ValueError, match="label set 'dair' has no multi-label targets"):
        targets(dair_sample["test"], "multi", DAIR)


def test_targets_refuse_class_ids_outside_the_label_set() -> None:
    df = pd.DataFrame({"text": ["a", "b"], "dair": [1, 6]})
    with pytest.raises(ValueError, match=r"column 'dair' holds 6: not class ids of the 'dair' label set \(0..5"):
        targets(df, "single", DAIR)
    groups = pd.DataFrame({"text": ["a"], "ekman_groups": [(0, 7)]})
    with pytest.raises(ValueError, match=r"column 'ekman_groups' holds 7"):
        targets(groups, "multi")


def test_reports_name_the_label_sets_classes() -> None:
    y = np.array([0, 1, 2, 3, 4, 5, 2])
    probs = np.eye(6)[[0, 1, 2, 3, 4, 5, 1]]
    ev = evaluate(y, probs, y, probs, "single", DAIR)
    assert list(ev.test["per_class"]) == list(DAIR_LABELS)
    assert np.array(ev.test["confusion_matrix"]).shape == (6, 6)
    assert ev.test["accuracy"] == pytest.approx(6 / 7)
    assert ev.test["per_class"]["love"]["recall"] == 0.5
    with pytest.raises(ValueError, match=r"shape \(7, 6\): expected one column per class of the 'ekman' label set"):
        report(y, probs, "single")  # DAIR probabilities read as Ekman's: an error, not 7-way scores


# ------------------------------------------------------------------------------------------ run folders
def test_a_dair_run_folder_reads_back_with_its_six_classes(tmp_path: Path) -> None:
    y = np.array([0, 2, 5, 1])
    probs = np.eye(6)[[0, 1, 5, 1]] * 0.9 + 0.1 / 6
    ev = evaluate(y, probs, y, probs, "single", DAIR)
    config = {"target": "single", "labels": DAIR.name}
    run_dir = save_run(tmp_path / "dair_x", config, {"dev": ev.dev, "test": ev.test},
                       ids=list("abcd"), y_true=y, y_pred=ev.test_pred, probs=probs, names=DAIR.classes,
                       dev={"ids": list("abcd"), "y_true": y, "y_pred": ev.dev_pred, "probs": probs})
    run = load_run(run_dir)
    assert [c for c in run.predictions if c.startswith("prob_")] == [f"prob_{c}" for c in DAIR_LABELS]
    result = load_result(run_dir)
    assert result.labels is DAIR and result.test_probs.shape == (4, 6)
    assert np.allclose(result.dev_probs, probs.round(5)) and result.y_test.tolist() == y.tolist()
    run.config["labels"] = "ekman"  # read as an Ekman run, its probability columns are not there: a clear error
    with pytest.raises(KeyError, match=r"test_predictions.csv.gz has no \['prob_disgust', 'prob_neutral'\]"):
        run.probs()


def test_evaluations_are_stored_in_the_run_folder_and_read_back(tmp_path: Path) -> None:
    scores = report(np.array([0, 3]), np.eye(7)[[0, 3]], "single")
    run_dir = save_run(tmp_path / "tfidf_single", {"target": "single"}, {"dev": scores, "test": scores})
    path = save_evaluation(run_dir, "dair_test", {"data": "dair", "shared": {"accuracy": 0.5}})
    assert path == run_dir / "evaluations" / "dair_test.json"
    assert load_run(run_dir).evaluations == {"dair_test": {"data": "dair", "shared": {"accuracy": 0.5}}}
    save_evaluation(run_dir, "dair_test", {"data": "dair", "shared": {"accuracy": 0.75}})  # replaced
    assert json.loads(path.read_text())["shared"]["accuracy"] == 0.75
    with pytest.raises(ValueError, match="evaluation name must be a plain file name"):
        save_evaluation(run_dir, "../x", {})
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        save_evaluation(tmp_path / "nothing", "dair_test", {})


def test_a_dair_model_is_never_the_default_model_for_predictions(tmp_path: Path) -> None:
    for name, dev_f1, extra in (("transformer_minilm_single", 0.6, {}), ("dair_minilm", 0.9, {"labels": "dair"})):
        run = tmp_path / name
        (run / "model").mkdir(parents=True)
        (run / "model" / "config.json").write_text("{}")
        (run / "model" / "model.safetensors").write_bytes(b"")
        (run / "metrics.json").write_text(json.dumps({"dev": {"macro_f1": dev_f1}}))
        (run / "config.json").write_text(json.dumps({"target": "single", **extra}))
    assert best_model_dir(tmp_path) == tmp_path / "transformer_minilm_single" / "model"


# ------------------------------------------------------------------------------------------ cross-domain scores
# Six DAIR tweets, one per class; their Ekman truth (love -> joy) and an Ekman model's probabilities
DAIR_ROWS = pd.DataFrame({"dair_label": list(DAIR_LABELS),
                          "ekman_label": ["sadness", "joy", "joy", "anger", "fear", "surprise"]})
#                            anger disgust fear  joy  sadness surprise neutral
EKMAN_PROBS = np.array([[0.00, 0.00, 0.00, 0.10, 0.30, 0.10, 0.50],    # sadness: neutral / shared: sadness
                        [0.10, 0.00, 0.00, 0.60, 0.10, 0.10, 0.10],    # joy: joy / joy
                        [0.35, 0.40, 0.00, 0.25, 0.00, 0.00, 0.00],    # love -> joy: disgust / anger
                        [0.70, 0.10, 0.00, 0.00, 0.00, 0.00, 0.20],    # anger: anger / anger
                        [0.00, 0.00, 0.40, 0.00, 0.00, 0.50, 0.10],    # fear: surprise / surprise
                        [0.00, 0.00, 0.00, 0.00, 0.10, 0.30, 0.60]])   # surprise: neutral / surprise


def test_seven_way_counts_neutral_and_disgust_predictions_as_wrong() -> None:
    rep = seven_way_report(EKMAN_PROBS, DAIR_ROWS["ekman_label"])
    assert rep["n"] == 6 and rep["accuracy"] == pytest.approx(2 / 6)  # joy and anger right
    assert rep["predicted_outside"] == pytest.approx(3 / 6)  # neutral, disgust, neutral
    # F1 over the five classes the tweets have: anger 1, fear 0, joy 2/3, sadness 0, surprise 0
    assert rep["macro_f1"] == pytest.approx((1 + 2 / 3) / 5) and rep["macro_f1_over"] == list(SHARED)
    assert rep["confusion_matrix"][EKMAN_LABELS.index("sadness")][EKMAN_LABELS.index("neutral")] == 1


def test_shared_argmax_picks_among_the_five_shared_classes() -> None:
    rep = shared_report(EKMAN_PROBS, DAIR_ROWS["ekman_label"])
    assert list(rep["per_class"]) == ["anger", "fear", "joy", "sadness", "surprise"]
    assert rep["accuracy"] == pytest.approx(4 / 6)  # sadness, joy, anger, surprise right
    f1 = {c: v["f1"] for c, v in rep["per_class"].items()}
    assert f1 == pytest.approx({"anger": 2 / 3, "fear": 0.0, "joy": 2 / 3, "sadness": 1.0, "surprise": 2 / 3})
    assert rep["macro_f1"] == pytest.approx(0.6)


def test_ekman_model_on_dair_reports_both_and_checks_shapes() -> None:
    rep = ekman_model_on_dair(EKMAN_PROBS, DAIR_ROWS)
    assert rep["data"] == "dair" and rep["n"] == 6
    assert rep["seven_way"]["accuracy"] == pytest.approx(2 / 6) and rep["shared"]["macro_f1"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match=r"shape \(6, 6\), expected \(6, 7\).*one column per ekman class"):
        ekman_model_on_dair(EKMAN_PROBS[:, :6], DAIR_ROWS)
    with pytest.raises(ValueError, match=r"shape \(5, 7\), expected \(6, 7\)"):
        ekman_model_on_dair(EKMAN_PROBS[:5], DAIR_ROWS)


def test_dair_model_on_goemotions_scores_the_shared_rows_with_love_as_joy() -> None:
    ge = pd.DataFrame({"ekman_label": ["anger", "disgust", "joy", "neutral", "sadness", "fear", "surprise", "joy"]})
    #                  sadness joy  love anger fear surprise
    probs = np.array([[0.0, 0.0, 0.0, 0.9, 0.1, 0.0],     # anger: anger
                      [0.0, 0.0, 0.0, 0.9, 0.1, 0.0],     # disgust: not scored
                      [0.0, 0.1, 0.6, 0.0, 0.3, 0.0],     # joy: love -> joy (fear without love)
                      [0.9, 0.0, 0.0, 0.0, 0.1, 0.0],     # neutral: not scored
                      [0.8, 0.0, 0.0, 0.0, 0.2, 0.0],     # sadness: sadness
                      [0.0, 0.0, 0.0, 0.0, 0.4, 0.6],     # fear: surprise
                      [0.0, 0.0, 0.0, 0.0, 0.1, 0.9],     # surprise: surprise
                      [0.4, 0.35, 0.25, 0.0, 0.0, 0.0]])  # joy: sadness (the argmax, before mapping)
    assert shared_rows(ge).tolist() == [True, False, True, False, True, True, True, True]
    rep = dair_model_on_goemotions(probs, ge)
    assert (rep["data"], rep["n_total"], rep["n"]) == ("goemotions", 8, 6)
    assert rep["accuracy"] == pytest.approx(4 / 6)
    f1 = {c: v["f1"] for c, v in rep["per_class"].items()}
    assert f1 == pytest.approx({"anger": 1.0, "fear": 0.0, "joy": 2 / 3, "sadness": 2 / 3, "surprise": 2 / 3})
    assert rep["macro_f1"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match=r"expected \(8, 6\).*one column per dair class"):
        dair_model_on_goemotions(np.zeros((8, 7)), ge)


def test_the_fine_label_set_has_multi_label_targets_only(goemotions_sample: dict) -> None:
    from src_helpers.data.labels import GOEMOTIONS

    y = targets(goemotions_sample["test"], "multi", GOEMOTIONS)
    assert y.shape == (len(goemotions_sample["test"]), 28) and (y.sum(1) >= 1).all()
    assert GOEMOTIONS.classes[0] == "admiration" and GOEMOTIONS.classes[-1] == "neutral"
    with pytest.raises(ValueError, match="label set 'goemotions' has no single-label targets"):
        targets(goemotions_sample["test"], "single", GOEMOTIONS)
