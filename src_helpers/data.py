"""Load GoEmotions ("simplified" split) from a local folder, the Hugging Face hub, or the bundled sample.

Every split is a DataFrame with columns ``text`` (str), ``labels`` (tuple of fine label ids) and
``comment_id``. The official train/dev/test split is kept as it is.
"""

from __future__ import annotations

import csv
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .config import RESOURCES, SAMPLE_DIR, check_profile
from .ekman import add_ekman_columns, load_ekman_mapping

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "dev", "test")
HUB_NAME = "google-research-datasets/go_emotions"
DATA_DIR_ENV = "GOEMOTIONS_DIR"


class DataFormatError(ValueError):
    """A data file has a malformed row; the message names the file and line."""


def read_label_names(path: str | Path | None = None) -> list[str]:
    """The 28 fine emotion names from ``emotions.txt`` (one per line, id order)."""
    path = Path(path) if path else RESOURCES / "emotions.txt"
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise DataFormatError(f"{path}: duplicate emotion names")
    return names


def read_goemotions_tsv(path: str | Path, n_labels: int = 28) -> pd.DataFrame:
    """Parse one official TSV (``text<TAB>ids<TAB>comment_id``, CSV-quoted texts) and validate every row."""
    path = Path(path)
    rows: list[tuple[str, tuple[int, ...], str]] = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if len(row) != 3:
                raise DataFormatError(f"{where}: expected 3 tab-separated columns, got {len(row)}")
            text, ids, comment_id = row
            if not text.strip():
                raise DataFormatError(f"{where}: empty text")
            try:
                labels = tuple(int(x) for x in ids.split(","))
            except ValueError:
                raise DataFormatError(f"{where}: label ids must be comma-separated integers, got {ids!r}") from None
            bad = [i for i in labels if not 0 <= i < n_labels]
            if bad:
                raise DataFormatError(f"{where}: label ids {bad} outside 0..{n_labels - 1}")
            rows.append((text, labels, comment_id))
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return pd.DataFrame(rows, columns=["text", "labels", "comment_id"])


def load_local(data_dir: str | Path) -> tuple[dict[str, pd.DataFrame], list[str], dict[str, list[str]]]:
    """Splits, label names and Ekman mapping from a folder holding the official files."""
    data_dir = Path(data_dir)
    missing = [f"{s}.tsv" for s in SPLITS if not (data_dir / f"{s}.tsv").exists()]
    if missing:
        raise FileNotFoundError(f"{data_dir}: missing {missing} (expected the official GoEmotions TSVs)")
    names = read_label_names(data_dir / "emotions.txt" if (data_dir / "emotions.txt").exists() else None)
    mapping_file = data_dir / "ekman_mapping.json"
    mapping = load_ekman_mapping(mapping_file if mapping_file.exists() else None)
    splits = {s: read_goemotions_tsv(data_dir / f"{s}.tsv", len(names)) for s in SPLITS}
    return splits, names, mapping


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """True unless offline mode is set or the hub cannot be reached quickly."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_hub() -> dict[str, pd.DataFrame]:
    """The ``simplified`` config from the Hugging Face hub (needs internet)."""
    from datasets import load_dataset

    ds = load_dataset(HUB_NAME, "simplified")
    out = {}
    for split, hub_split in zip(SPLITS, ("train", "validation", "test"), strict=True):
        d = ds[hub_split]
        out[split] = pd.DataFrame({"text": d["text"], "labels": [tuple(x) for x in d["labels"]],
                                   "comment_id": d["id"]})
    return out


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The explicit folder, else ``$GOEMOTIONS_DIR``, else None."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"GoEmotions folder {path} does not exist (argument or ${DATA_DIR_ENV})")
    return path


def load_goemotions(data_dir: str | Path | None = None, source: str = "auto") -> dict[str, pd.DataFrame]:
    """Load train/dev/test with Ekman columns added (see ``ekman.add_ekman_columns``).

    ``source``: ``"local"`` (``data_dir`` or ``$GOEMOTIONS_DIR``), ``"hub"``, ``"sample"`` (bundled,
    hand-written) or ``"auto"``: local if a folder is given, else the hub when reachable, else the sample.
    ``df.attrs["source"]`` records what was used.
    """
    if source not in ("auto", "local", "hub", "sample"):
        raise ValueError(f"source must be auto/local/hub/sample, got {source!r}")
    folder = resolve_data_dir(data_dir) if source in ("auto", "local") else None
    if source == "local" and folder is None:
        raise FileNotFoundError(f"source='local' needs data_dir or ${DATA_DIR_ENV}")
    if folder is None and source == "auto":
        source = "hub" if hub_reachable() else "sample"
        if source == "sample":
            log.warning("No GoEmotions folder and no hub: using the bundled sample (%s)", SAMPLE_DIR)

    names, mapping = read_label_names(), load_ekman_mapping()
    if folder is not None:
        splits, names, mapping = load_local(folder)
        origin = str(folder)
    elif source == "hub":
        splits, origin = load_hub(), f"hub:{HUB_NAME}"
    else:
        splits, _, _ = load_local(SAMPLE_DIR)
        origin = "sample"
    out = {}
    for split, df in splits.items():
        df = add_ekman_columns(df, names, mapping)
        df.attrs.update(source=origin, split=split, label_names=list(names))
        out[split] = df
    return out


def subsample(df: pd.DataFrame, n: int, seed: int = 0, stratify: str = "ekman") -> pd.DataFrame:
    """At most ``n`` rows, stratified by ``stratify`` (keeps every class present)."""
    if len(df) <= n:
        return df
    frac = n / len(df)
    parts = [g.sample(max(1, round(len(g) * frac)), random_state=seed) for _, g in df.groupby(stratify)]
    out = pd.concat(parts).sort_index()
    out.attrs = dict(df.attrs)
    return out


QUICK_SIZES = {"train": 2000, "dev": 400, "test": 400}


def load_for_profile(profile: str, data_dir: str | Path | None = None,
                     quick_sizes: dict[str, int] | None = None) -> dict[str, pd.DataFrame]:
    """What the notebooks use: ``full`` = the whole real data (never the sample); ``quick`` = the sample,
    or a stratified subset of real data when a folder is given."""
    check_profile(profile)
    if profile == "full":
        folder = resolve_data_dir(data_dir)
        if folder is None and not hub_reachable():
            raise FileNotFoundError(
                f"profile 'full' needs the real data: pass data_dir, set ${DATA_DIR_ENV}, or go online")
        return load_goemotions(folder, source="local" if folder else "hub")
    folder = resolve_data_dir(data_dir)
    if folder is None:
        return load_goemotions(source="sample")
    sizes = quick_sizes or QUICK_SIZES
    return {s: subsample(df, sizes[s]) for s, df in load_goemotions(folder, source="local").items()}


def class_counts(splits: dict[str, pd.DataFrame], column: str = "ekman_label",
                 order: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of ``column`` per split (rows: classes, columns: splits)."""
    table = pd.DataFrame({s: df[column].value_counts() for s, df in splits.items()}).fillna(0).astype(int)
    return table.reindex(order) if order is not None else table
