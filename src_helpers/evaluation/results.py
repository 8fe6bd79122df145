"""The evaluation core every trainer shares: targets of a split, reports (single-label: argmax; multi-label: one
threshold chosen on dev, applied unchanged to test) and ``RunResult``, what every trainer returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src_helpers.data.ekman import multi_hot
from src_helpers.data.labels import EKMAN, LabelSet
from src_helpers.evaluation.metrics import (
    choose_threshold,
    multi_label_report,
    single_label_report,
    threshold_predictions,
)
from src_helpers.validation import check_choice

TARGETS = ("single", "multi")


def check_target(target: str) -> str:
    """``target`` itself, or a ``ValueError`` naming the allowed ones."""
    return check_choice("target", target, TARGETS)


def targets(df: pd.DataFrame, target: str, labels: LabelSet = EKMAN) -> np.ndarray:
    """Class ids (``"single"``) or multi-hot rows (``"multi"``) from the label set's column of ``df``."""
    check_target(target)
    column = labels.column(target)
    if column not in df:
        raise ValueError(f"no column {column!r} for the {labels.name!r} {target}-label targets in these data "
                         f"(columns: {list(df.columns)}): data of another label set?")
    values = df[column].tolist()
    n = len(labels.classes)
    ids = values if target == "single" else [i for row in values for i in row]
    if bad := sorted({repr(i) for i in ids if not (isinstance(i, int | np.integer) and 0 <= i < n)}):
        raise ValueError(f"column {column!r} holds {', '.join(bad[:5])}: not class ids of the {labels.name!r} "
                         f"label set (0..{n - 1}: {', '.join(labels.classes)})")
    return df[column].to_numpy() if target == "single" else multi_hot(values, n)


def predictions(probs: np.ndarray, target: str, threshold: float | None = None) -> np.ndarray:
    """Argmax class ids (single) or multi-hot rows at ``threshold`` (multi)."""
    return probs.argmax(1) if check_target(target) == "single" else threshold_predictions(probs, threshold)


def report(y: np.ndarray, probs: np.ndarray, target: str, threshold: float | None = None,
           labels: LabelSet = EKMAN) -> dict:
    """Single: argmax report. Multi: report at ``threshold`` (chosen on these data when None)."""
    if np.ndim(probs) != 2 or np.shape(probs)[1] != len(labels.classes):
        raise ValueError(f"probabilities of shape {np.shape(probs)}: expected one column per class of the "
                         f"{labels.name!r} label set ({len(labels.classes)})")
    if check_target(target) == "single":
        return single_label_report(y, probs.argmax(1), labels.classes)
    threshold = choose_threshold(y, probs) if threshold is None else threshold
    return multi_label_report(y, probs, threshold, labels.classes)


@dataclass
class Evaluation:
    """Dev and test reports of one model; ``threshold`` (multi-label) was chosen on dev."""

    dev: dict
    test: dict
    threshold: float | None
    dev_pred: np.ndarray
    test_pred: np.ndarray


def evaluate(y_dev: np.ndarray, dev_probs: np.ndarray, y_test: np.ndarray, test_probs: np.ndarray,
             target: str, labels: LabelSet = EKMAN) -> Evaluation:
    """Report dev and test: argmax (single) or the dev-chosen threshold applied to both splits (multi)."""
    dev = report(y_dev, dev_probs, target, labels=labels)
    threshold = dev.get("threshold")
    test = report(y_test, test_probs, target, threshold, labels)
    return Evaluation(dev, test, threshold, predictions(dev_probs, target, threshold),
                      predictions(test_probs, target, threshold))


def scored(y_dev: np.ndarray, dev_probs: np.ndarray, y_test: np.ndarray, test_probs: np.ndarray, target: str,
           labels: LabelSet) -> dict:
    """Dev and test reported (``evaluate``) as the ``RunResult`` fields they fill."""
    ev = evaluate(y_dev, dev_probs, y_test, test_probs, target, labels)
    return dict(target=target, labels=labels, dev=ev.dev, test=ev.test, threshold=ev.threshold, dev_probs=dev_probs,
                dev_pred=ev.dev_pred, y_dev=y_dev, test_probs=test_probs, test_pred=ev.test_pred, y_test=y_test)


@dataclass(kw_only=True)
class RunResult:
    """What every trainer returns: dev and test reports, probabilities, predictions, the history; ``run_dir`` is None
    for a model not written to a run folder, ``dev_*`` may be None for an old run folder."""

    name: str = ""
    run_dir: Path | None = None
    config: object = None
    target: str = "single"
    labels: LabelSet = EKMAN
    dev: dict
    test: dict
    threshold: float | None = None
    dev_probs: np.ndarray | None = None
    dev_pred: np.ndarray | None = None
    y_dev: np.ndarray | None = None
    test_probs: np.ndarray
    test_pred: np.ndarray
    y_test: np.ndarray | None = None
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name and self.run_dir is not None:
            self.name = Path(self.run_dir).name


def require_single(result: RunResult, reading: str) -> RunResult:
    """``result`` if single-label with test labels, else a ``ValueError`` saying what ``reading`` needs."""
    if result.target != "single":
        raise ValueError(f"run {result.name!r} is {result.target}-label: {reading}")
    if result.y_test is None:
        raise ValueError(f"run {result.name!r} has no test labels (y_test)")
    return result


def evaluate_as_multi(result: RunResult, dev: pd.DataFrame, test: pd.DataFrame) -> RunResult:
    """A single-label run's softmax scored as multi-label (``<run>_thresholded``), one threshold chosen on dev."""
    name = result.name
    if result.target != "single":
        raise ValueError(f"run {name!r}: evaluate_as_multi reads a single-label run's softmax, got target "
                         f"{result.target!r}")
    if result.dev_probs is None:
        raise ValueError(f"run {name!r} has no dev probabilities (written before runs stored them) to choose "
                         "the threshold on: re-run it")
    for split, df, probs in (("dev", dev, result.dev_probs), ("test", test, result.test_probs)):
        if len(df) != len(probs):
            raise ValueError(f"run {name!r}: the {split} split has {len(df)} rows, the run's {split} "
                             f"probabilities {len(probs)}")
    ids = result.extra.get("test_ids")
    if ids is not None and "comment_id" in test and ids != test["comment_id"].astype(str).tolist():
        raise ValueError(f"run {name!r}: its stored test ids are not these test rows (in this order)")
    y_dev, y_test = targets(dev, "multi", result.labels), targets(test, "multi", result.labels)
    return RunResult(name=f"{name}_thresholded", config=result.config,
                     **scored(y_dev, result.dev_probs, y_test, result.test_probs, "multi", result.labels))
