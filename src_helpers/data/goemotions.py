"""GoEmotions ("simplified") from a folder, the hub or the bundled sample; the source choice ``dair`` shares."""

from __future__ import annotations

import csv
import logging
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from src_helpers.config import RESOURCES, SAMPLE_DIR, check_profile
from src_helpers.data.ekman import add_ekman_columns, load_ekman_mapping
from src_helpers.data.textio import DataFormatError, content_lines, read_text
from src_helpers.validation import check_choice

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "dev", "test")
HUB_NAME = "google-research-datasets/go_emotions"
DATA_DIR_ENV = "GOEMOTIONS_DIR"


def read_label_names(path: str | Path | None = None) -> list[str]:
    """The 28 fine emotion names from ``emotions.txt`` (one per line, id order)."""
    path = Path(path) if path else RESOURCES / "emotions.txt"
    names = [line.strip() for line in content_lines(path, read_text(path))]
    for lineno, name in enumerate(names, start=1):
        if name in names[: lineno - 1]:
            raise DataFormatError(f"{path}:{lineno}: duplicate emotion name {name!r} (first at line "
                                  f"{names.index(name) + 1})")
    return names


def read_goemotions_tsv(path: str | Path, n_labels: int = 28) -> pd.DataFrame:
    """One official TSV (``text<TAB>ids<TAB>comment_id``, CSV-quoted); a bad row: ``DataFormatError`` at file:line."""
    path = Path(path)
    content = read_text(path)
    lines = content_lines(path, content)
    rows: list[tuple[str, tuple[int, ...], str]] = []
    first_line: dict[str, int] = {}
    reader = csv.reader((line + "\n" for line in lines), delimiter="\t", strict=True)
    start = 1  # the line where the current row starts (reader.line_num is where it ends)
    old_limit = csv.field_size_limit(max(csv.field_size_limit(), len(content) + 1))  # process-global: restored
    try:
        for row in reader:
            parsed = _parse_row(path, start, reader.line_num, row, n_labels)
            comment_id = parsed[2]
            if comment_id in first_line:
                raise DataFormatError(f"{path}:{start}: duplicate comment id {comment_id!r} "
                                      f"(first at line {first_line[comment_id]})")
            first_line[comment_id] = start
            rows.append(parsed)
            start = reader.line_num + 1
    except csv.Error as e:
        raise DataFormatError(f"{path}:{start}: malformed quoting ({e}); a text that starts with a quote "
                              "must end with one, with inner quotes doubled") from None
    finally:
        csv.field_size_limit(old_limit)
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return pd.DataFrame(rows, columns=["text", "labels", "comment_id"])


def _parse_row(path: Path, start: int, end: int, row: list[str], n_labels: int) -> tuple[str, tuple[int, ...], str]:
    """(text, label ids, comment id) of the row read from lines ``start``..``end`` of ``path``."""
    where = f"{path}:{start}"
    if end != start:
        raise DataFormatError(f'{where}: row spans lines {start}-{end}: an unbalanced quote (") merged them into '
                              "one row")
    if len(row) != 3:
        raise DataFormatError(f"{where}: expected 3 tab-separated columns, got {len(row)}")
    if any(c in field for field in row for c in "\t\r\n"):
        raise DataFormatError(f"{where}: a field holds a tab or line break (an unbalanced quote?)")
    text, ids, comment_id = row
    if not text.strip():
        raise DataFormatError(f"{where}: empty text")
    try:
        labels = tuple(int(x) for x in ids.split(","))
    except ValueError:
        raise DataFormatError(f"{where}: label ids must be comma-separated integers, got {ids!r}") from None
    if bad := [i for i in labels if not 0 <= i < n_labels]:
        raise DataFormatError(f"{where}: label ids {bad} outside 0..{n_labels - 1}")
    if repeated := sorted({i for i in labels if labels.count(i) > 1}):
        raise DataFormatError(f"{where}: label id {repeated[0]} repeated in {ids!r} (it would count twice "
                              "toward the primary class)")
    return text, labels, comment_id


def require_files(folder: Path, names: Iterable[str], what: str) -> None:
    """``FileNotFoundError`` naming the files of ``names`` missing from ``folder``."""
    if missing := [n for n in names if not (folder / n).exists()]:
        raise FileNotFoundError(f"{folder}: missing {missing} (expected {what})")


def load_local(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """train/dev/test with Ekman columns from a folder of the official files (and its own ``emotions.txt`` etc.)."""
    data_dir = Path(data_dir)
    require_files(data_dir, [f"{s}.tsv" for s in SPLITS], "the official GoEmotions TSVs")
    own = {f: data_dir / f if (data_dir / f).exists() else None for f in ("emotions.txt", "ekman_mapping.json")}
    names, mapping = read_label_names(own["emotions.txt"]), load_ekman_mapping(own["ekman_mapping.json"])
    splits, seen = {}, {}
    for s in SPLITS:
        path = data_dir / f"{s}.tsv"
        splits[s] = add_ekman_columns(read_goemotions_tsv(path, len(names)), names, mapping)
        for lineno, comment_id in enumerate(splits[s]["comment_id"], start=1):  # row i is line i + 1
            if comment_id in seen:
                raise DataFormatError(f"{path}:{lineno}: comment id {comment_id!r} is also in {seen[comment_id]} "
                                      "(a comment belongs to one split)")
            seen[comment_id] = f"{path}:{lineno}"
    return splits


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """True unless offline mode is set or the hub cannot be reached quickly."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_splits(name: str, config: str) -> dict:
    """train/dev/test of a hub data set (needs internet): ``{split: datasets.Dataset}``."""
    from datasets import load_dataset

    ds = load_dataset(name, config)
    return {split: ds[hub] for split, hub in zip(SPLITS, ("train", "validation", "test"), strict=True)}


def load_hub() -> dict[str, pd.DataFrame]:
    """The ``simplified`` config from the Hugging Face hub, with Ekman columns."""
    names = read_label_names()
    return {split: add_ekman_columns(pd.DataFrame({"text": d["text"], "labels": [tuple(x) for x in d["labels"]],
                                             "comment_id": d["id"]}), names)
            for split, d in hub_splits(HUB_NAME, "simplified").items()}


def resolve_data_dir(data_dir: str | Path | None = None, argument: str = "data_dir", env: str = DATA_DIR_ENV,
                     what: str = "GoEmotions") -> Path | None:
    """The explicit folder, else ``$<env>``, else None; absolute, ``~`` expanded. A missing folder is an error."""
    chosen = data_dir or os.environ.get(env)
    if not chosen:
        return None
    path = Path(chosen).expanduser().absolute()
    if not path.is_dir():
        given = f"{argument} {str(data_dir)!r}" if data_dir else f"${env} {chosen!r}"
        raise FileNotFoundError(f"{given}: {what} folder {path} does not exist")
    return path


def load_splits(data_dir: str | Path | None, source: str, env: str, what: str, sample_dir: Path,
                read_local: Callable[[Path], dict[str, pd.DataFrame]], hub_name: str,
                read_hub: Callable[[], dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """train/dev/test from ``source``: ``"local"`` (``data_dir``, else ``$<env>``), ``"hub"``, ``"sample"`` or
    ``"auto"`` (local when a folder is given, else the hub when reachable, else the sample, with a warning)."""
    check_choice("source", source, ("auto", "local", "hub", "sample"))
    folder = resolve_data_dir(data_dir, env=env, what=what) if source in ("auto", "local") else None
    if source == "local" and folder is None:
        raise FileNotFoundError(f"source='local' needs data_dir or ${env}")
    if folder is None and source == "auto" and not hub_reachable():
        source = "sample"
        log.warning("No %s folder and no hub: using the bundled sample (%s)", what, sample_dir)
    if folder is not None:
        splits, origin = read_local(folder), f"local:{folder.name}"  # the folder's name only: notebooks print it
    elif source != "sample":  # "hub", or "auto" with the hub reachable
        splits, origin = read_hub(), f"hub:{hub_name}"
    else:
        splits, origin = read_local(sample_dir), "sample"
    for split, df in splits.items():
        df.attrs.update(source=origin, split=split)
    return splits


def load_goemotions(data_dir: str | Path | None = None, source: str = "auto") -> dict[str, pd.DataFrame]:
    """train/dev/test with Ekman columns (see ``load_splits``; local: ``data_dir`` or ``$GOEMOTIONS_DIR``)."""
    return load_splits(data_dir, source, DATA_DIR_ENV, "GoEmotions", SAMPLE_DIR, load_local, HUB_NAME, load_hub)


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


def profile_splits(profile: str, folder: Path | None, load: Callable[..., dict[str, pd.DataFrame]],
                   what: str, env: str, stratify: str, quick_sizes: dict[str, int] | None = None
                   ) -> dict[str, pd.DataFrame]:
    """``load``'s splits for a profile: ``full`` = the whole real data (the folder, else the hub; never the
    sample); ``quick`` = the bundled sample, or a subset of the folder's data stratified by ``stratify``."""
    check_profile(profile)
    if profile == "full":
        if folder is None and not hub_reachable():
            raise FileNotFoundError(f"profile 'full' needs the real {what} data: pass data_dir, set ${env}, "
                                    "or go online")
        return load(folder, source="local" if folder else "hub")
    if folder is None:
        return load(source="sample")
    sizes = quick_sizes or QUICK_SIZES
    return {s: subsample(df, sizes[s], stratify=stratify) for s, df in load(folder, source="local").items()}


def load_for_profile(profile: str, data_dir: str | Path | None = None,
                     quick_sizes: dict[str, int] | None = None) -> dict[str, pd.DataFrame]:
    """GoEmotions as the notebooks use it (see ``profile_splits``)."""
    return profile_splits(profile, resolve_data_dir(data_dir), load_goemotions, "GoEmotions", DATA_DIR_ENV,
                          "ekman", quick_sizes)


def class_counts(splits: dict[str, pd.DataFrame], column: str = "ekman_label",
                 order: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of ``column`` per split (rows: classes, columns: splits)."""
    table = pd.DataFrame({s: df[column].value_counts() for s, df in splits.items()}).fillna(0).astype(int)
    return table.reindex(order) if order is not None else table
