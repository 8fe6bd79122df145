"""Data statistics: label counts, text lengths, multi-label co-occurrence."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from src_helpers.data.ekman import EKMAN_LABELS, multi_hot


def fine_label_counts(splits: dict[str, pd.DataFrame], names: Sequence[str]) -> pd.DataFrame:
    """Occurrences of each of the fine labels per split (a multi-label row counts once per label)."""
    return pd.DataFrame({split: np.bincount([i for ids in df["labels"] for i in ids], minlength=len(names))
                         for split, df in splits.items()}, index=list(names))


def text_lengths(df: pd.DataFrame) -> pd.Series:
    """Whitespace word count per text."""
    return df["text"].str.split().str.len()


def ekman_cooccurrence(df: pd.DataFrame) -> pd.DataFrame:
    """Ekman groups x groups: how many examples carry both (diagonal: examples carrying the group)."""
    y = multi_hot(df["ekman_groups"].tolist())
    return pd.DataFrame((y.T @ y).astype(int), index=EKMAN_LABELS, columns=EKMAN_LABELS)


def multi_label_share(df: pd.DataFrame) -> dict[str, float]:
    """Share of examples with more than one fine label / more than one Ekman group."""
    return {"fine": float((df["labels"].str.len() > 1).mean()),
            "ekman": float((df["ekman_groups"].str.len() > 1).mean())}
