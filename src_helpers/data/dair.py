"""The DAIR.AI ``emotion`` tweets (CARER, Saravia et al. 2018; 6 classes) from a local folder, the hub or the
bundled sample: ``text``, ``dair_label``, ``dair``, ``ekman_label``/``ekman`` (love -> joy) and ``comment_id``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from src_helpers.config import RESOURCES
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.goemotions import hub_splits, load_splits, profile_splits, require_files, resolve_data_dir
from src_helpers.data.labels import DAIR_LABELS
from src_helpers.data.textio import DataFormatError, content_lines, read_text

HUB_NAME = "dair-ai/emotion"
DATA_DIR_ENV = "DAIR_EMOTION_DIR"
SAMPLE_DIR = RESOURCES / "dair_sample"
DAIR_TO_EKMAN: dict[str, str] = {"sadness": "sadness", "joy": "joy", "love": "joy", "anger": "anger",
                                 "fear": "fear", "surprise": "surprise"}  # no neutral, no disgust
FILES = {"train": "train.txt", "dev": "val.txt", "test": "test.txt"}


def _frame(texts: Sequence[str], labels: Sequence[str], split: str) -> pd.DataFrame:
    df = pd.DataFrame({"text": list(texts), "dair_label": list(labels)})
    df["dair"] = df["dair_label"].map(DAIR_LABELS.index)
    df["ekman_label"] = df["dair_label"].map(DAIR_TO_EKMAN)
    df["ekman"] = df["ekman_label"].map(EKMAN_LABELS.index)
    df["comment_id"] = [f"dair-{split}-{i:06d}" for i in range(1, len(df) + 1)]
    df.attrs["label_names"] = list(DAIR_LABELS)
    return df


def read_dair_file(path: str | Path, split: str | None = None) -> pd.DataFrame:
    """Parse ``text;label`` lines (label after the last ``;``; duplicates kept); bad lines raise with file:line."""
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
    return _frame(texts, labels, split or path.stem)


def read_folder(folder: str | Path) -> dict[str, pd.DataFrame]:
    """train/dev/test from a folder holding ``train.txt``, ``val.txt`` and ``test.txt``."""
    folder = Path(folder)
    require_files(folder, FILES.values(), "the DAIR.AI emotion files")
    return {split: read_dair_file(folder / name, split) for split, name in FILES.items()}


def load_hub() -> dict[str, pd.DataFrame]:
    """The ``split`` config from the Hugging Face hub."""
    return {split: _frame(d["text"], [DAIR_LABELS[i] for i in d["label"]], split)
            for split, d in hub_splits(HUB_NAME, "split").items()}


def resolve_dair_dir(data_dir: str | Path | None = None) -> Path | None:
    """The explicit folder, else ``$DAIR_EMOTION_DIR``, else None."""
    return resolve_data_dir(data_dir, env=DATA_DIR_ENV, what="DAIR.AI emotion")


def load_dair_emotion(data_dir: str | Path | None = None, source: str = "auto") -> dict[str, pd.DataFrame]:
    """train/dev/test (dev = ``val.txt``); ``source`` and ``df.attrs`` as in ``goemotions.load_splits``."""
    return load_splits(data_dir, source, DATA_DIR_ENV, "DAIR.AI emotion", SAMPLE_DIR, read_folder, HUB_NAME, load_hub)


def load_for_profile(profile: str, data_dir: str | Path | None = None,
                     quick_sizes: dict[str, int] | None = None) -> dict[str, pd.DataFrame]:
    """DAIR.AI emotion as the notebooks use it (see ``goemotions.profile_splits``)."""
    return profile_splits(profile, resolve_dair_dir(data_dir), load_dair_emotion, "DAIR.AI emotion", DATA_DIR_ENV,
                          "dair", quick_sizes)
