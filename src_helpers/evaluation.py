"""One training/evaluation core for every trainer (TF-IDF, RNNs, transformers).

- ``TARGETS`` and ``targets(df, target)``: the class ids (``"single"``) or multi-hot rows (``"multi"``) of a split.
- ``class_weights``: one rule for class-weighted losses. Single-label: ``n / (k * count)`` per class
  ("balanced"); multi-label: ``pos_weight = negatives / positives`` per class, capped at ``POS_WEIGHT_CAP``.
- ``report`` / ``evaluate``: single-label reports use the argmax; multi-label reports use one threshold chosen
  on dev (macro-F1) and applied unchanged to test.
- ``RunResult``: what every trainer returns (the trainers' result types extend it with their own fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .ekman import EKMAN_LABELS, multi_hot
from .metrics import choose_threshold, multi_label_report, single_label_report, threshold_predictions

TARGETS = ("single", "multi")

# A positive of a rare class weighs at most this many negatives. GoEmotions' rarest Ekman groups have
# 50-70 negatives per positive; uncapped weights let a few rare positives dominate each batch's loss (and its
# gradient scale at a fixed learning rate). The multi-label threshold, chosen on dev, corrects the rest.
# The RNN trainer always used 10; the transformer trainer used 20 before (no committed run used class weights).
POS_WEIGHT_CAP = 10.0


def check_target(target: str) -> str:
    """``target`` itself, or a ``ValueError`` naming the allowed ones."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return target


def targets(df: pd.DataFrame, target: str) -> np.ndarray:
    """Class ids (``ekman`` column) for ``"single"``, multi-hot rows of ``ekman_groups`` for ``"multi"``."""
    check_target(target)
    return df["ekman"].to_numpy() if target == "single" else multi_hot(df["ekman_groups"].tolist())


def class_weights(y: np.ndarray, target: str, n: int = len(EKMAN_LABELS)) -> torch.Tensor:
    """Single: ``len(y) / (n * count)`` per class (unseen classes count 1). Multi: ``pos_weight`` =
    negatives / positives per class, at most ``POS_WEIGHT_CAP``."""
    if check_target(target) == "single":
        counts = np.bincount(y, minlength=n).clip(min=1)
        return torch.tensor(len(y) / (n * counts), dtype=torch.float32)
    pos = y.sum(0).clip(min=1)
    return torch.tensor(np.minimum((len(y) - pos) / pos, POS_WEIGHT_CAP), dtype=torch.float32)


def predictions(probs: np.ndarray, target: str, threshold: float | None = None) -> np.ndarray:
    """Argmax class ids (single) or multi-hot rows at ``threshold`` (multi)."""
    return probs.argmax(1) if check_target(target) == "single" else threshold_predictions(probs, threshold)


def report(y: np.ndarray, probs: np.ndarray, target: str, threshold: float | None = None) -> dict:
    """Single: argmax report. Multi: report at ``threshold`` (chosen on these data when None)."""
    if check_target(target) == "single":
        return single_label_report(y, probs.argmax(1))
    threshold = choose_threshold(y, probs) if threshold is None else threshold
    return multi_label_report(y, probs, threshold)


@dataclass
class Evaluation:
    """Dev and test reports of one model; ``threshold`` (multi-label) was chosen on dev."""

    dev: dict
    test: dict
    threshold: float | None
    dev_pred: np.ndarray
    test_pred: np.ndarray


def evaluate(y_dev: np.ndarray, dev_probs: np.ndarray, y_test: np.ndarray, test_probs: np.ndarray,
             target: str) -> Evaluation:
    """Report dev and test: argmax (single) or the dev-chosen threshold applied to both splits (multi)."""
    dev = report(y_dev, dev_probs, target)
    threshold = dev.get("threshold")
    test = report(y_test, test_probs, target, threshold)
    return Evaluation(dev, test, threshold, predictions(dev_probs, target, threshold),
                      predictions(test_probs, target, threshold))


@dataclass(kw_only=True)
class RunResult:
    """What every trainer returns: reports, probabilities and predictions of dev and test, the history.

    ``name`` is the run's name (its folder's name); ``run_dir`` is None for a model not written to a run
    folder. Arrays are rows in data order; ``dev_*`` may be None for a finished run read back from a folder
    written before runs stored dev predictions."""

    name: str = ""
    run_dir: Path | None = None
    config: object = None
    target: str = "single"
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


def evaluate_as_multi(result: RunResult, dev: pd.DataFrame, test: pd.DataFrame) -> RunResult:
    """A single-label run read as a multi-label model ("thresholded softmax"): its dev and test probabilities
    against the multi-hot truth of ``dev``/``test``, one threshold chosen on dev. No training; the result is
    named ``<run>_thresholded`` and has no run folder or history."""
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
    y_dev, y_test = targets(dev, "multi"), targets(test, "multi")
    ev = evaluate(y_dev, result.dev_probs, y_test, result.test_probs, "multi")
    return RunResult(name=f"{name}_thresholded", config=result.config, target="multi", dev=ev.dev, test=ev.test,
                     threshold=ev.threshold, dev_probs=result.dev_probs, dev_pred=ev.dev_pred, y_dev=y_dev,
                     test_probs=result.test_probs, test_pred=ev.test_pred, y_test=y_test)
