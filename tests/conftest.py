"""Shared fixtures: tiny data files written by the tests, and the real data when it is present."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from src_helpers.config import REPO_ROOT

REAL_DATA = Path(os.environ.get("GOEMOTIONS_DIR") or REPO_ROOT.parent / "shared" / "data" / "goemotions")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never touch the network, and never write outside their tmp folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("SRC_HELPERS_OUTPUT_ROOT", str(tmp_path / "out"))
    monkeypatch.delenv("GOEMOTIONS_DIR", raising=False)


@pytest.fixture
def real_data_dir() -> Path:
    if not (REAL_DATA / "train.tsv").exists():
        pytest.skip(f"real GoEmotions data not found at {REAL_DATA}")
    return REAL_DATA


def write_tsv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows(rows)
    return path


@pytest.fixture
def tiny_goemotions(tmp_path: Path) -> Path:
    """A folder in the official layout with a handful of rows per split (ids index emotions.txt)."""
    folder = tmp_path / "goemotions"
    folder.mkdir()
    rows = [
        ("I am so angry right now", "2", "a1"),          # anger
        ("this is disgusting", "11", "a2"),               # disgust
        ('He said "run" and I was scared', "14", "a3"),   # fear, CSV-quoted text
        ("thanks, love it", "15,18", "a4"),               # joy (two joy labels)
        ("so sad and sorry", "24,25", "a5"),              # sadness
        ("wow, did not expect that", "26", "a6"),         # surprise
        ("the bus comes at nine", "27", "a7"),            # neutral
        ("annoyed but also curious", "3,7", "a8"),        # tie anger/surprise -> anger (id 3 < 7)
    ]
    for split in ("train", "dev", "test"):
        write_tsv(folder / f"{split}.tsv", [(t, i, f"{split}_{c}") for t, i, c in rows])
    return folder
