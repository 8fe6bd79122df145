"""Published and earlier reference results (not runs of this project): ``resources/reference_results.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src_helpers.config import RESOURCES

FILE = RESOURCES / "reference_results.csv"
COLUMNS = ["name", "dataset", "target", "metric", "value", "source"]


def load(dataset: str | None = None, metric: str | None = None, path: str | Path = FILE) -> pd.DataFrame:
    """The reference results (index ``name``), those of ``dataset`` and ``metric`` when given."""
    table = pd.read_csv(path)
    if missing := [c for c in COLUMNS if c not in table]:
        raise ValueError(f"{path}: no column {missing} (expected {', '.join(COLUMNS)})")
    if table["name"].duplicated().any():
        raise ValueError(f"{path}: names appear twice: {sorted(set(table['name'][table['name'].duplicated()]))}")
    for column, wanted in (("dataset", dataset), ("metric", metric)):
        if wanted is not None:
            table = table[table[column] == wanted]
    return table[COLUMNS].set_index("name")


def value(name: str, path: str | Path = FILE) -> float:
    """One reference result's value by its name (a ``KeyError`` lists the names there are)."""
    table = load(path=path)
    if name not in table.index:
        raise KeyError(f"no reference result {name!r} in {path} (there are: {', '.join(table.index)})")
    return float(table.loc[name, "value"])


def lines(dataset: str = "goemotions", path: str | Path = FILE) -> dict[str, dict[str, float]]:
    """``{metric: {name: value}}`` of ``dataset``'s reference results (``figures.leaderboard_figure``'s lines)."""
    table = load(dataset, path=path)
    return {m: group["value"].astype(float).to_dict() for m, group in table.groupby("metric", sort=False)}
