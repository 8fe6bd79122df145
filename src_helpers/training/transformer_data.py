"""Texts as the transformer reads them: tokenized datasets (``Trainer`` pads each batch), probabilities in row order
for a split or for any texts (``texts_proba``, shared by the trainer and ``predict``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from src_helpers.data.encoding import model_input_names
from src_helpers.data.labels import EKMAN, LabelSet
from src_helpers.evaluation.results import targets
from src_helpers.training.configs import FTConfig


class TextDataset(torch.utils.data.Dataset):
    """Tokenized texts (no padding) and targets; ``Trainer`` pads each batch (DataCollatorWithPadding)."""

    def __init__(self, encodings: dict[str, list[list[int]]], labels: np.ndarray) -> None:
        self.encodings, self.labels = encodings, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.encodings.items()}
        label = self.labels[i]
        item["labels"] = label.tolist() if isinstance(label, np.ndarray) else int(label)
        return item


def encode(tokenizer, texts: Sequence[str], labels: np.ndarray, max_length: int, sort_by_length: bool = False,
           keep: set[str] = frozenset({"input_ids", "attention_mask"})) -> tuple[TextDataset, np.ndarray]:
    """Dataset (optionally sorted by length, for fast evaluation) and the order used (``order[j]`` = row)."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    enc = {k: v for k, v in enc.items() if k in keep}
    order = np.arange(len(labels))
    if sort_by_length:
        order = np.argsort([len(x) for x in enc["input_ids"]], kind="stable")
        enc = {k: [v[j] for j in order] for k, v in enc.items()}
    return TextDataset(enc, np.asarray(labels)[order]), order


def encode_splits(tokenizer, model: nn.Module, frames: dict[str, pd.DataFrame], config: FTConfig,
                  labels: LabelSet = EKMAN) -> dict[str, TextDataset]:
    """Tokenized datasets of the train and dev splits with their targets (``labels``' columns; the inputs
    ``model`` accepts only)."""
    keep = model_input_names(model)
    return {name: encode(tokenizer, frames[name]["text"].tolist(), targets(frames[name], config.target, labels),
                         config.max_length, keep=keep)[0] for name in ("train", "dev")}


def probabilities(logits: np.ndarray, target: str) -> np.ndarray:
    logits = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return (torch.softmax(logits, -1) if target == "single" else torch.sigmoid(logits)).numpy()


@torch.inference_mode()
def predict_logits(model: nn.Module, ds: torch.utils.data.Dataset, collator, batch_size: int = 128) -> np.ndarray:
    """Logits for ``ds`` in its own order (batches padded by ``collator``)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(ds), batch_size):
        batch = collator([ds[i] for i in range(start, min(start + batch_size, len(ds)))])
        batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        out.append(model(**batch).logits.float().cpu().numpy())
    return np.concatenate(out)


def texts_proba(model: nn.Module, tokenizer, texts: Sequence[str], target: str, max_length: int,
                batch_size: int = 128) -> np.ndarray:
    """Probabilities of ``model`` on ``texts`` in their order (``Trainer.predict`` would shuffle rows under
    ``group_by_length``): batches of similar lengths, each padded to its longest text."""
    from transformers import DataCollatorWithPadding

    ds, order = encode(tokenizer, texts, np.zeros(len(texts), dtype=int), max_length, sort_by_length=True,
                       keep=model_input_names(model))
    logits = predict_logits(model, ds, DataCollatorWithPadding(tokenizer), batch_size)
    probs = np.empty(logits.shape, dtype=np.float32)  # one column per output of the model
    probs[order] = probabilities(logits, target)
    return probs
