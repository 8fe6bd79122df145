"""The official GoEmotions / DAIR.AI releases by split size and content hash (``resources/official_data.json``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
import pandas as pd

from src_helpers.config import RESOURCES

SPLITS = ("train", "dev", "test")
HASHED_COLUMNS = ("text", "labels", "ekman", "ekman_groups", "dair", "comment_id")
OFFICIAL_FILE = RESOURCES / "official_data.json"
Splits = Mapping[str, pd.DataFrame]


def split_sha256(df: pd.DataFrame) -> str:
    """sha256 of the hashed columns of one split (``HASHED_COLUMNS`` where present), in row order (index ignored)."""
    h = hashlib.sha256()
    for col in [c for c in HASHED_COLUMNS if c in df]:  # numpy scalars and arrays as lists, anything else as str
        values = json.dumps([col, df[col].tolist()], ensure_ascii=False,
                            default=lambda o: o.tolist() if isinstance(o, np.generic | np.ndarray) else str(o))
        h.update(values.encode("utf-8"))
    return h.hexdigest()


def identity(splits: Splits) -> dict[str, dict]:
    """``{split: {"n": rows, "sha256": split_sha256}}`` of train/dev/test."""
    return {s: {"n": len(splits[s]), "sha256": split_sha256(splits[s])} for s in SPLITS}


@cache
def official_table() -> dict[str, dict[str, dict]]:
    """The official data sets' identities: ``{"goemotions": identity, "dair_emotion": identity}``."""
    return json.loads(OFFICIAL_FILE.read_text(encoding="utf-8"))


def official_name(splits: Splits) -> str | None:
    """``"goemotions"``, ``"dair_emotion"`` or None: by sizes and hashes (hub data, the official release: sizes)."""
    hub = str(splits["train"].attrs.get("source", "")).startswith("hub:")
    sizes = {s: len(splits[s]) for s in SPLITS}
    for name, known in official_table().items():
        if sizes == {s: known[s]["n"] for s in SPLITS} and (hub or identity(splits) == known):
            return name
    return None


def data_id(datasets: Sequence[Splits]) -> str:
    """A short id (12 hex digits) of the data sets together, in any order: the folder of a run on other data."""
    identities = sorted(json.dumps(identity(s), sort_keys=True) for s in datasets)
    return hashlib.sha256(json.dumps(identities).encode()).hexdigest()[:12]


def describe(splits: Splits) -> str:
    """``local:goemotions_300 (300 / 300 / 300 rows)`` for messages."""
    sizes = " / ".join(str(len(splits[s])) for s in SPLITS)
    return f"{splits['train'].attrs.get('source', 'data')} ({sizes} rows)"
