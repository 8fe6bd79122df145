"""The trainers called as the tests hold their data: ``Trainer(config...).fit(splits, run_dir, resume)``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src_helpers.training.finetune import FTResult, TransformerTrainer
from src_helpers.training.loop import RnnTrainer, TrainResult


def train_rnn(splits: dict[str, pd.DataFrame], run_dir: str | Path, model: dict, train: dict | None = None,
              resume: bool = True, **kw) -> TrainResult:
    """``RnnTrainer(model, train, **kw).fit(splits, run_dir, resume)``."""
    return RnnTrainer(model, train, **kw).fit(splits, run_dir, resume)


def finetune(train: pd.DataFrame, dev: pd.DataFrame, test: pd.DataFrame, config, run_dir: str | Path,
             resume: bool = True, **kw) -> FTResult:
    """``TransformerTrainer(config, **kw).fit`` on the three splits given apart."""
    return TransformerTrainer(config, **kw).fit({"train": train, "dev": dev, "test": test}, run_dir, resume)
