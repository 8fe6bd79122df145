"""The DAIR.AI ``emotion`` data set (CARER, Saravia et al. 2018; English tweets, 6 classes): trained on with the
project's trainers (label set ``labels.DAIR``) and scored across domains against GoEmotions (``cross_domain``).

Sources, as for GoEmotions (``data``): a local folder (``data_dir`` or ``$DAIR_EMOTION_DIR``) with the official
``train.txt``/``val.txt``/``test.txt`` (``text;label`` lines, no header), the hub (``dair-ai/emotion``, config
``split``), or the bundled hand-written sample (``resources/dair_sample``: quick runs and tests, scores mean
nothing). Every split is a DataFrame with ``text``, ``dair_label`` (class name), ``dair`` (class id over
``DAIR_LABELS``, the hub's order), ``ekman_label``/``ekman`` (its Ekman class: love -> joy, as in Google's Ekman
mapping; DAIR has no disgust and no neutral) and ``comment_id`` (``dair-<split>-<line>``, e.g.
``dair-train-000123``: the row's line in its file, or its position in the hub's split).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from src_helpers.config import RESOURCES, check_profile
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.goemotions import QUICK_SIZES, choose_source, hub_reachable, resolve_data_dir, subsample
from src_helpers.data.labels import DAIR_LABELS
from src_helpers.data.textio import DataFormatError, content_lines, read_text

__all__ = ["DAIR_LABELS", "DAIR_TO_EKMAN", "load_dair_emotion", "load_for_profile", "read_dair_file"]

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
    return df


def read_dair_file(path: str | Path, split: str | None = None) -> pd.DataFrame:
    """Parse ``text;label`` lines (the label is the last ``;`` field); bad lines raise with file:line.

    The rules of ``data.read_goemotions_tsv``: UTF-8 (a BOM is dropped), blank lines only at the end.
    Duplicate lines are kept: the official ``train.txt`` has one, as does the hub copy. Ids are
    ``dair-<split>-<line>`` (``split`` defaults to the file's stem).
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
    return _frame(texts, labels, split or path.stem)


def read_folder(folder: str | Path) -> dict[str, pd.DataFrame]:
    """train/dev/test from a folder holding ``train.txt``, ``val.txt`` and ``test.txt``."""
    folder = Path(folder)
    missing = [f for f in FILES.values() if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {missing} (expected the DAIR.AI emotion files)")
    return {split: read_dair_file(folder / name, split) for split, name in FILES.items()}


def load_hub() -> dict[str, pd.DataFrame]:
    """The ``split`` config from the Hugging Face hub (needs internet)."""
    from datasets import load_dataset

    ds = load_dataset(HUB_NAME, "split")
    return {split: _frame(ds[hub]["text"], [DAIR_LABELS[i] for i in ds[hub]["label"]], split)
            for split, hub in zip(FILES, ("train", "validation", "test"), strict=True)}


def resolve_dair_dir(data_dir: str | Path | None = None) -> Path | None:
    """The explicit folder, else ``$DAIR_EMOTION_DIR``, else None (see ``data.resolve_data_dir``)."""
    return resolve_data_dir(data_dir, env=DATA_DIR_ENV, what="DAIR.AI emotion")


def load_dair_emotion(data_dir: str | Path | None = None, source: str = "auto") -> dict[str, pd.DataFrame]:
    """train/dev/test (dev = ``val.txt``). ``source``: ``"local"`` (``data_dir`` or ``$DAIR_EMOTION_DIR``),
    ``"hub"``, ``"sample"`` (bundled, hand-written) or ``"auto"``: local if a folder is given, else the hub when
    reachable, else the sample. ``df.attrs`` records ``source`` (``local:<folder name>``, ``hub:<name>`` or
    ``sample``), ``split`` and ``label_names``."""
    folder, source = choose_source(data_dir, source, DATA_DIR_ENV, "DAIR.AI emotion", SAMPLE_DIR)
    if folder is not None:
        splits, origin = read_folder(folder), f"local:{folder.name}"
    elif source == "hub":
        splits, origin = load_hub(), f"hub:{HUB_NAME}"
    else:
        splits, origin = read_folder(SAMPLE_DIR), "sample"
    for split, df in splits.items():
        df.attrs.update(source=origin, split=split, label_names=list(DAIR_LABELS))
    return splits


def load_for_profile(profile: str, data_dir: str | Path | None = None,
                     quick_sizes: dict[str, int] | None = None) -> dict[str, pd.DataFrame]:
    """What the notebooks use: ``full`` = the whole real data (never the sample); ``quick`` = the sample,
    or a subset of real data stratified by class when a folder is given."""
    check_profile(profile)
    folder = resolve_dair_dir(data_dir)
    if profile == "full":
        if folder is None and not hub_reachable():
            raise FileNotFoundError(f"profile 'full' needs the real DAIR.AI emotion data: pass data_dir, set "
                                    f"${DATA_DIR_ENV}, or go online")
        return load_dair_emotion(folder, source="local" if folder else "hub")
    if folder is None:
        return load_dair_emotion(source="sample")
    sizes = quick_sizes or QUICK_SIZES
    return {s: subsample(df, sizes[s], stratify="dair") for s, df in load_dair_emotion(folder, "local").items()}
