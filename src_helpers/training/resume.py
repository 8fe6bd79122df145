"""The decision every trainer makes before it trains (torch-free): ``REUSE`` a finished run with the same settings
and data, ``RESUME`` its checkpoints, or start ``FRESH``; ``data_fingerprint`` says which data a run saw."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from src_helpers.config import portable_path
from src_helpers.data.official import split_sha256

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SETTINGS_ATTRS = ("augmented_with",)  # df.attrs entries of the train split recorded with the hash
REUSE, RESUME, FRESH = "reuse", "resume", "fresh"


def _sha256(digests: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()


def data_fingerprint(splits: Mapping[str, pd.DataFrame], **settings: object) -> dict:
    """A sha256 of the splits' texts, labels and ids (``training_sha256``: train and dev only, so a run may be
    evaluated on another test split), their sizes, source and the non-None ``settings``, named in messages."""
    digests = {s: split_sha256(splits[s]) for s in SPLITS}
    info: dict = {"sha256": _sha256(digests), "training_sha256": _sha256({s: digests[s] for s in ("train", "dev")})}
    info.update({f"n_{s}": len(splits[s]) for s in SPLITS})
    attrs = splits["train"].attrs
    if attrs.get("source"):  # sample/hub:... as they are; a local folder by its name only (no path of this machine)
        source = str(attrs["source"])
        info["source"] = source if source == "sample" or source.startswith("hub:") else Path(source).name
    info.update({k: attrs[k] for k in SETTINGS_ATTRS if attrs.get(k)})
    info.update({k: v for k, v in settings.items() if v is not None})
    return info


def describe_data(info: Mapping) -> str:
    """``data 1a2b3c4d5e6f (n_train=336, n_dev=70, ...)`` for messages."""
    rest = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("sha256", "training_sha256"))
    return f"data {str(info['sha256'])[:12]} ({rest})"


def same_data(stored: Mapping | None, current: Mapping, test_may_differ: bool = False) -> bool:
    """The same splits (``test_may_differ``: the same train and dev splits)."""
    if stored is None:
        return False
    key = "training_sha256" if test_may_differ and stored.get("sha256") != current["sha256"] else "sha256"
    return stored.get(key) == current[key]


@dataclass(frozen=True)
class Record:
    """The ``settings`` and ``data`` fingerprint (None: not recorded) that the file ``path`` recorded."""

    settings: Mapping
    data: Mapping | None
    path: Path


def decide(finished: Record | None, checkpoints: Record | None, settings: Mapping, data: Mapping,
           resume: bool = True, test_may_differ: bool = False) -> str:
    """``REUSE``, ``RESUME`` or ``FRESH`` for a run of ``settings`` on ``data``; a finished run whose data was not
    recorded is reused with a warning, such checkpoints are refused. ``resume=False``: always ``FRESH``."""
    how = "use another run_dir, delete it or pass resume=False to train from scratch"
    if not resume:
        return FRESH
    if finished is not None and finished.settings == settings:
        if finished.data is None:
            folder = portable_path(finished.path.parent)
            log.warning("%s/%s was written before runs recorded their data, so the data could not be checked: "
                        "reusing it as it is (pass resume=False or delete %s to retrain on %s)", folder,
                        finished.path.name, folder, describe_data(data))
        elif not same_data(finished.data, data):
            raise ValueError(f"{finished.path} was trained on {describe_data(finished.data)} but this call gives "
                             f"{describe_data(data)}: {how}")
        return REUSE
    if checkpoints is None:
        return FRESH
    where = checkpoints.path
    if checkpoints.settings != settings:
        stored = checkpoints.settings.get("labels")
        what = ("another configuration" if stored == settings.get("labels") else
                "an older format (no label set recorded)" if stored is None else f"label set {stored!r}")
        raise ValueError(f"{where} holds checkpoints of {what}: {how}")
    if checkpoints.data is None:
        raise ValueError(f"{where} holds checkpoints whose data was not recorded, so the data they were trained on "
                         f"cannot be checked: {how}")
    if not same_data(checkpoints.data, data, test_may_differ):
        raise ValueError(f"{where}: checkpoints trained on {describe_data(checkpoints.data)} but this call gives "
                         f"{describe_data(data)}: {how}")
    return RESUME
