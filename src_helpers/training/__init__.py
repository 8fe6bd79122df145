"""One ``Trainer`` interface for every model family: ``fit`` trains, chooses on dev, reports test and writes the run
folder; ``predict_proba`` scores new texts once fitted or loaded (``load_trainer``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from src_helpers.evaluation.results import RunResult
from src_helpers.evaluation.results import scored as scored  # re-exported: every trainer reports with it
from src_helpers.experiments.run_folders import read_config, save_run


class Trainer(Protocol):
    def fit(self, splits: dict[str, pd.DataFrame], run_dir: Path, resume: bool = True) -> RunResult: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def write_run(result: RunResult, config: dict, splits: dict[str, pd.DataFrame],
              history: list[dict] | None = None) -> RunResult:
    """``result``'s run folder (``result.run_dir``): ``config``, dev and test scores and predictions, history."""
    ids = {s: splits[s]["comment_id"].tolist() if "comment_id" in splits[s] else None for s in ("dev", "test")}
    save_run(result.run_dir, config, {"dev": result.dev, "test": result.test}, history, ids=ids["test"],
             y_true=result.y_test, y_pred=result.test_pred, probs=result.test_probs, names=result.labels.classes,
             dev={"ids": ids["dev"], "y_true": result.y_dev, "y_pred": result.dev_pred, "probs": result.dev_probs})
    return result


def load_trainer(run_dir: str | Path) -> Trainer:
    """The trainer of a finished run folder with its saved model (``FileNotFoundError`` when it keeps none)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if (run_dir / "model" / "config.json").exists():
        from src_helpers.training.finetune import TransformerTrainer

        return TransformerTrainer.load(run_dir / "model")
    if "model_config" in config:
        from src_helpers.training.loop import RnnTrainer

        return RnnTrainer.load(run_dir, config)
    raise FileNotFoundError(f"run {run_dir.name!r}: no model to score new texts with (a TF-IDF run keeps none; a "
                            "transformer's <run>/model and an RNN's <run>/checkpoints/model are git-ignored): run "
                            "the experiment here and use the trainer it was fitted with")
