"""Shared fixtures: tiny data files written by the tests, and the real data when it is present."""

from __future__ import annotations

import csv
import ipaddress
import os
import socket
from pathlib import Path

import pytest

from src_helpers import config
from src_helpers.config import REPO_ROOT

REAL_DATA = Path(os.environ.get("GOEMOTIONS_DIR") or REPO_ROOT.parent / "shared" / "data" / "goemotions")


class NetworkAccessError(RuntimeError):
    """A test tried to reach a host other than this machine."""


def _loopback(address: object) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths and the like
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # a host name: resolving and reaching it is network access
        return False


def _guarded(connect):
    def guarded_connect(self: socket.socket, address: object):
        if not _loopback(address):
            raise NetworkAccessError(f"tests never touch the network: connection to {address!r} refused")
        return connect(self, address)

    return guarded_connect


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never touch the network (in this process, connections beyond loopback raise; kernels and
    subprocesses get the offline variables), and never write outside their tmp folder."""
    monkeypatch.setattr(socket.socket, "connect", _guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(socket.socket.connect_ex))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("SRC_HELPERS_OUTPUT_ROOT", str(tmp_path / "out"))
    monkeypatch.setattr(config, "_announced", set())  # each test hears "not the official data" afresh
    monkeypatch.delenv("GOEMOTIONS_DIR", raising=False)
    monkeypatch.delenv("DAIR_EMOTION_DIR", raising=False)


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


@pytest.fixture(scope="module")
def dair_sample() -> dict:
    """The bundled hand-written DAIR.AI emotion sample (36/24/24 rows, every class in every split)."""
    from src_helpers.data.dair import load_dair_emotion

    return load_dair_emotion(source="sample")


@pytest.fixture(scope="module")
def goemotions_sample() -> dict:
    """The bundled hand-written GoEmotions sample (336/70/70 rows)."""
    from src_helpers.data.goemotions import load_goemotions

    return load_goemotions(source="sample")
