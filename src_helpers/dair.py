"""The DAIR.AI ``emotion`` data set (English tweets, 6 classes) mapped into Ekman groups, for
cross-domain evaluation. Local files are ``train.txt``/``val.txt``/``test.txt`` with ``text;label`` lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .ekman import EKMAN_LABELS
from .textio import DataFormatError, content_lines, read_text

HUB_NAME = "dair-ai/emotion"
DAIR_LABELS: tuple[str, ...] = ("sadness", "joy", "love", "anger", "fear", "surprise")  # hub label ids
DAIR_TO_EKMAN: dict[str, str] = {"sadness": "sadness", "joy": "joy", "love": "joy", "anger": "anger",
                                 "fear": "fear", "surprise": "surprise"}  # no neutral, no disgust
FILES = {"train": "train.txt", "dev": "val.txt", "test": "test.txt"}


def _frame(texts: list[str], labels: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({"text": texts, "dair_label": labels})
    df["ekman_label"] = df["dair_label"].map(DAIR_TO_EKMAN)
    df["ekman"] = df["ekman_label"].map(EKMAN_LABELS.index)
    return df


def read_dair_file(path: str | Path) -> pd.DataFrame:
    """Parse ``text;label`` lines (the label is the last ``;`` field); bad lines raise with file:line.

    The rules of ``data.read_goemotions_tsv``: UTF-8 (a BOM is dropped), blank lines only at the end.
    Duplicate lines are kept: the official ``train.txt`` has one, as does the hub copy.
    """
    path = Path(path)
    texts, labels = [], []
    for lineno, line in enumerate(content_lines(path, read_text(path)), start=1):
        text, sep, label = line.rpartition(";")
        where = f"{path}:{lineno}"
        if not sep or not text.strip():
            raise DataFormatError(f"{where}: expected 'text;label'")
        label = label.strip()
        if label not in DAIR_TO_EKMAN:
            raise DataFormatError(f"{where}: unknown label {label!r}; expected one of {DAIR_LABELS}")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataFormatError(f"{path}: no rows")
    return _frame(texts, labels)


def load_dair_emotion(data_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Splits train/dev/test from a local folder, or from the hub when ``data_dir`` is None."""
    if data_dir is not None:
        data_dir = Path(data_dir)
        missing = [f for f in FILES.values() if not (data_dir / f).exists()]
        if missing:
            raise FileNotFoundError(f"{data_dir}: missing {missing}")
        return {split: read_dair_file(data_dir / name) for split, name in FILES.items()}
    from datasets import load_dataset

    ds = load_dataset(HUB_NAME, "split")
    return {split: _frame(ds[hub]["text"], [DAIR_LABELS[i] for i in ds[hub]["label"]])
            for split, hub in zip(FILES, ("train", "validation", "test"), strict=True)}
