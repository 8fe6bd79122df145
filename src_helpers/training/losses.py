"""``class_weights``: one rule for class-weighted losses (the RNN loop and the fine-tuning ``Trainer``)."""

from __future__ import annotations

import numpy as np
import torch

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.evaluation.results import check_target

# A positive of a rare class weighs at most this many negatives. GoEmotions' rarest Ekman groups have
# 50-70 negatives per positive; uncapped weights let a few rare positives dominate each batch's loss (and its
# gradient scale at a fixed learning rate). The multi-label threshold, chosen on dev, corrects the rest.
POS_WEIGHT_CAP = 10.0


def class_weights(y: np.ndarray, target: str, n: int = len(EKMAN_LABELS)) -> torch.Tensor:
    """Single: ``len(y) / (n * count)`` per class ("balanced"; unseen classes count 1). Multi: ``pos_weight`` =
    negatives / positives per class, at most ``POS_WEIGHT_CAP``."""
    if check_target(target) == "single":
        counts = np.bincount(y, minlength=n).clip(min=1)
        return torch.tensor(len(y) / (n * counts), dtype=torch.float32)
    pos = y.sum(0).clip(min=1)
    return torch.tensor(np.minimum((len(y) - pos) / pos, POS_WEIGHT_CAP), dtype=torch.float32)
