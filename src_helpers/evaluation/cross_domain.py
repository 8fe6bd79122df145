"""Cross-domain scores between GoEmotions (Ekman's 7 classes) and the DAIR.AI emotion tweets (6 classes): DAIR's love
is joy and it has no disgust or neutral, so five classes are ``SHARED``; an Ekman model on DAIR is scored both ways."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from src_helpers.data.dair import DAIR_TO_EKMAN
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.labels import DAIR, DAIR_LABELS, EKMAN, LabelSet
from src_helpers.evaluation.metrics import single_label_report
from src_helpers.evaluation.results import RunResult
from src_helpers.validation import check_choice

SHARED: tuple[str, ...] = ("anger", "fear", "joy", "sadness", "surprise")  # Ekman order, no disgust/neutral
OUTSIDE_DAIR: tuple[str, ...] = tuple(c for c in EKMAN_LABELS if c not in SHARED)  # disgust, neutral


def _check(probs: np.ndarray, df: pd.DataFrame, labels: LabelSet, what: str) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape != (len(df), len(labels.classes)):
        raise ValueError(f"{what}: probabilities of shape {probs.shape}, expected ({len(df)}, "
                         f"{len(labels.classes)}): one row per row of the data, one column per {labels.name} class "
                         f"({', '.join(labels.classes)})")
    return probs


def _ekman_truth(df: pd.DataFrame, what: str) -> np.ndarray:
    if "ekman_label" not in df:
        raise ValueError(f"{what}: the data have no 'ekman_label' column (columns: {list(df.columns)})")
    return df["ekman_label"].to_numpy()


def _shared_truth(truth: Sequence[str]) -> np.ndarray:
    truth = np.asarray(truth)
    if unknown := sorted(set(truth) - set(SHARED)):
        raise ValueError(f"true classes {unknown} are not among the shared classes {SHARED}")
    return truth


def seven_way_report(probs: np.ndarray, truth: Sequence[str]) -> dict:
    """The 7-way argmax of an Ekman model against shared class names ``truth``: its ``macro_f1`` averages the
    shared classes; ``predicted_outside``: the share of rows predicted disgust or neutral."""
    truth = _shared_truth(truth)
    y = np.array([EKMAN_LABELS.index(c) for c in truth], dtype=int)
    pred = np.asarray(probs).argmax(1)
    out = single_label_report(y, pred, EKMAN_LABELS)
    out["macro_f1"] = float(np.mean([out["per_class"][c]["f1"] for c in SHARED]))
    out["macro_f1_over"] = list(SHARED)
    out["predicted_outside"] = float(np.isin(pred, [EKMAN_LABELS.index(c) for c in OUTSIDE_DAIR]).mean())
    return out


def shared_report(probs: np.ndarray, truth: Sequence[str], classes: Sequence[str] = EKMAN_LABELS) -> dict:
    """Argmax over the ``SHARED`` columns of probabilities over ``classes`` against class names ``truth``."""
    truth = _shared_truth(truth)
    columns = [list(classes).index(c) for c in SHARED]
    pred = np.asarray(probs)[:, columns].argmax(1)
    return single_label_report([SHARED.index(c) for c in truth], pred, SHARED)


def ekman_model_on_dair(probs: np.ndarray, dair: pd.DataFrame) -> dict:
    """An Ekman model's probabilities on the DAIR rows ``dair`` scored both ways (``seven_way``, ``shared``)."""
    probs = _check(probs, dair, EKMAN, "ekman_model_on_dair")
    truth = _ekman_truth(dair, "ekman_model_on_dair")
    return {"data": "dair", "n": len(dair), "seven_way": seven_way_report(probs, truth),
            "shared": shared_report(probs, truth)}


def shared_rows(goemotions: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows whose primary Ekman class is one of the ``SHARED`` five."""
    return np.isin(_ekman_truth(goemotions, "shared_rows"), SHARED)


def dair_model_on_goemotions(probs: np.ndarray, goemotions: pd.DataFrame) -> dict:
    """A DAIR model's probabilities on GoEmotions rows, its argmax mapped to Ekman, on the shared-class rows."""
    probs = _check(probs, goemotions, DAIR, "dair_model_on_goemotions")
    keep = shared_rows(goemotions)
    mapped = np.array([SHARED.index(DAIR_TO_EKMAN[c]) for c in DAIR_LABELS])  # DAIR id -> SHARED id
    pred = mapped[probs[keep].argmax(1)]
    truth = [SHARED.index(c) for c in goemotions["ekman_label"].to_numpy()[keep]]
    return {"data": "goemotions", "n_total": len(goemotions), **single_label_report(truth, pred, SHARED)}


def score_on_dair(results: Mapping[str, RunResult], dair_test: pd.DataFrame,
                  evaluation: str = "dair_test") -> dict[str, dict]:
    """``ekman_model_on_dair`` of each Ekman run, stored in its run folder's evaluations when it has one."""
    return _score_runs(results, dair_test, EKMAN, ekman_model_on_dair, evaluation)


def score_on_goemotions(results: Mapping[str, RunResult], goemotions_test: pd.DataFrame,
                        evaluation: str = "goemotions_test") -> dict[str, dict]:
    """``dair_model_on_goemotions`` of each DAIR run, stored like ``score_on_dair``."""
    return _score_runs(results, goemotions_test, DAIR, dair_model_on_goemotions, evaluation)


def _score_runs(results: Mapping[str, RunResult], df: pd.DataFrame, labels: LabelSet,
                scorer: Callable[[np.ndarray, pd.DataFrame], dict], evaluation: str) -> dict[str, dict]:
    from src_helpers.experiments.run_folders import save_evaluation

    if wrong := [f"{name} ({r.labels.name})" for name, r in results.items() if r.labels != labels]:
        raise ValueError(f"{scorer.__name__} scores {labels.name} models; these runs predict another label set: "
                         f"{', '.join(wrong)}")
    reports = {}
    for name, result in results.items():
        stored = result.extra.get("evaluations", {}).get(evaluation)  # a run read back: its stored report, if of
        if stored is not None and len(df) not in (stored.get("n"), stored.get("n_total")):  # these rows
            stored = None
        reports[name] = stored if stored is not None else scorer(model_probs(result, df["text"].tolist()), df)
        if stored is None and result.run_dir is not None:
            save_evaluation(result.run_dir, evaluation, reports[name])
    return reports


def scores_table(reports: Mapping[str, dict]) -> pd.DataFrame:
    """A row per model of cross-domain ``reports``: shared-class scores (``*_shared``), an Ekman model's ``*_7way``."""
    rows = {}
    for name, r in reports.items():
        if "seven_way" in r:
            seven, shared = r["seven_way"], r["shared"]
            rows[name] = {"data": r["data"], "n": r["n"], "accuracy_7way": seven["accuracy"],
                          "macro_f1_7way": seven["macro_f1"], "predicted_outside": seven["predicted_outside"],
                          "accuracy_shared": shared["accuracy"], "macro_f1_shared": shared["macro_f1"]}
        elif "per_class" in r and "n_total" in r:
            rows[name] = {"data": r["data"], "n": r["n"], "n_total": r["n_total"], "accuracy_shared": r["accuracy"],
                          "macro_f1_shared": r["macro_f1"]}
        else:
            raise ValueError(f"report {name!r} is not a cross-domain report (keys: {sorted(r)})")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model").round(4)


def view(reports: Mapping[str, dict], name: str = "shared") -> dict[str, dict]:
    """``{model: report}`` of one view (``"shared"`` or ``"seven_way"``) of each cross-domain report."""
    check_choice("view", name, ("shared", "seven_way"))
    views = {m: r.get(name, r if name == "shared" and "seven_way" not in r else None) for m, r in reports.items()}
    if missing := [model for model, part in views.items() if part is None]:
        raise ValueError(f"report {missing[0]!r} has no {name!r} view (a DAIR model's report is the shared view only)")
    return views


def model_probs(result: RunResult, texts: Sequence[str]) -> np.ndarray:
    """Probabilities on ``texts`` of a trainer's result, or of the model stored in its run folder (not TF-IDF)."""
    from src_helpers.training import load_trainer
    from src_helpers.training.tfidf import BaselineResult, full_probs

    texts = list(texts)
    if isinstance(result, BaselineResult):
        return full_probs(result.model, result.features.transform(texts), len(result.labels.classes))
    if result.run_dir is None:
        raise FileNotFoundError(f"run {result.name!r}: no run folder to read its model from")
    trainer = load_trainer(result.run_dir)
    if tuple(trainer.labels.classes) != result.labels.classes:
        raise ValueError(f"run {result.name!r}: its model's classes {trainer.labels.classes} are not the run's label "
                         f"set {result.labels.classes}")
    return trainer.predict_proba(texts)
