"""Training: one ``Trainer`` interface for every model family (TF-IDF, RNNs, transformers).

A trainer is built from its config dataclass (``configs.py``: torch-free); ``fit`` trains on the train split,
chooses on dev, reports test and writes the run folder (``resume.decide``: reuse a finished run, resume its
checkpoints or start over); ``predict_proba`` scores new texts once fitted, or once loaded from a run folder
(``load_trainer``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from src_helpers.evaluation.results import RunResult


class Trainer(Protocol):
    def fit(self, splits: dict[str, pd.DataFrame], run_dir: Path, resume: bool = True) -> RunResult: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def load_trainer(run_dir: str | Path) -> Trainer:
    """The trainer of a finished run folder with its saved model (``<run>/model`` of a transformer,
    ``<run>/checkpoints/model`` and ``encoder`` of an RNN; both git-ignored, so only where the run was trained).
    A TF-IDF run keeps no model: a ``FileNotFoundError`` says so."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    if (run_dir / "model" / "config.json").exists():
        from src_helpers.training.finetune import TransformerTrainer

        return TransformerTrainer.load(run_dir / "model")
    if "model_config" in config:
        from src_helpers.training.loop import RnnTrainer

        return RnnTrainer.load(run_dir, config)
    raise FileNotFoundError(f"run {run_dir.name!r}: no model to score new texts with (a TF-IDF run keeps none; a "
                            "transformer's <run>/model and an RNN's <run>/checkpoints/model are git-ignored): run "
                            "the experiment here and use the trainer it was fitted with")
