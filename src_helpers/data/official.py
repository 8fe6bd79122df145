"""Which data the project's record may come from: the official releases, known by size and content.

The full profile writes the record (run folders, figures, executed notebooks, Optuna studies). It is written only
from the official data: GoEmotions' "simplified" split (43,410 / 5,426 / 5,427 comments) and DAIR.AI's ``emotion``
split (16,000 / 2,000 / 2,000 tweets), recognised by the size and a content hash (``split_sha256``) of each split,
kept in ``resources/official_data.json``. A full run on other data (the first rows of each file, an edited copy)
still runs, but ``config.paths_for(..., data=...)`` sends it to ``.other_data/<data id>/``, which nothing of the
record reads (report, README, ``images/``, ``notebook_outputs/``). Data from the hub is the official release.

``python -m src_helpers.data.official GOEMOTIONS_DIR DAIR_DIR`` prints the table for ``official_data.json``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from src_helpers.config import RESOURCES

SPLITS = ("train", "dev", "test")
HASHED_COLUMNS = ("text", "labels", "ekman", "ekman_groups", "dair", "comment_id")
OFFICIAL_FILE = RESOURCES / "official_data.json"
Splits = Mapping[str, pd.DataFrame]


def _plain(o: object) -> object:
    """A JSON value for numpy scalars and arrays (and ``str`` of anything else) in a split's columns."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def split_sha256(df: pd.DataFrame) -> str:
    """sha256 of the hashed columns of one split (``HASHED_COLUMNS`` where present), in row order (index ignored)."""
    h = hashlib.sha256()
    for col in HASHED_COLUMNS:
        if col in df:
            h.update(json.dumps([col, df[col].tolist()], ensure_ascii=False, default=_plain).encode("utf-8"))
    return h.hexdigest()


def identity(splits: Splits) -> dict[str, dict]:
    """``{split: {"n": rows, "sha256": split_sha256}}`` of train/dev/test."""
    return {s: {"n": len(splits[s]), "sha256": split_sha256(splits[s])} for s in SPLITS}


@cache
def official_table() -> dict[str, dict[str, dict]]:
    """The official data sets' identities: ``{"goemotions": identity, "dair_emotion": identity}``."""
    return json.loads(OFFICIAL_FILE.read_text(encoding="utf-8"))


def official_name(splits: Splits) -> str | None:
    """The official data set these splits are (``"goemotions"``, ``"dair_emotion"``), or None. A local folder
    must match the sizes and hashes of one entry; data from the hub (the official release, parsed by another
    reader) its sizes, so rows cut from it after loading are still told apart."""
    hub = str(splits["train"].attrs.get("source", "")).startswith("hub:")
    sizes = {s: len(splits[s]) for s in SPLITS}
    for name, known in official_table().items():
        if sizes == {s: known[s]["n"] for s in SPLITS} and (hub or identity(splits) == known):
            return name
    return None


def data_id(datasets: Sequence[Splits]) -> str:
    """A short id of the data sets together, in any order (12 hex digits), for the folder of a run on other
    data."""
    identities = sorted(json.dumps(identity(s), sort_keys=True) for s in datasets)
    return hashlib.sha256(json.dumps(identities).encode()).hexdigest()[:12]


def describe(splits: Splits) -> str:
    """``local:goemotions_300 (300 / 300 / 300 rows)`` for messages."""
    sizes = " / ".join(str(len(splits[s])) for s in SPLITS)
    return f"{splits['train'].attrs.get('source', 'data')} ({sizes} rows)"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the identities of the official folders given (GoEmotions first, then DAIR) as JSON."""
    from src_helpers.data import dair
    from src_helpers.data import goemotions as data

    goemotions_dir, dair_dir = (argv if argv is not None else sys.argv[1:])[:2]
    table = {"goemotions": identity(data.load_goemotions(Path(goemotions_dir), source="local")),
             "dair_emotion": identity(dair.load_dair_emotion(Path(dair_dir), source="local"))}
    print(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
