"""What a resume or reuse checks, shared by the RNN trainer (``training``) and ``transformers_ft``.

* ``data_fingerprint``: a sha256 of the train/dev/test texts, labels and comment ids (columns ``text``,
  ``labels``, ``ekman``, ``ekman_groups``, ``dair``, ``comment_id`` where present, in row order), the split sizes and
  the subset/augmentation settings known for them (``df.attrs["augmented_with"]``, the caller's ``settings``).
  Only the hash decides whether two calls saw the same data: a subset or an augmentation changes rows, so it
  changes the hash; the other entries say in an error message what each side was. ``training_sha256`` hashes
  train and dev only, what training and the choice of its epoch depend on (``same_training_data``): the RNN
  trainer resumes a run whose test split differs, so a finished run can be evaluated on another test split.
* ``load_checkpoint``: ``torch.load`` that names the file when it is missing, truncated or empty
  (``CheckpointError``, with how to recover) instead of a bare torch ``RuntimeError``/``EOFError``.
* ``checkpoint_folder_problem``: why a ``Trainer`` ``checkpoint-N`` folder cannot be resumed from (an
  unreadable ``trainer_state.json``, ``*.safetensors`` or ``*.pt``/``*.pth``/``*.bin`` file), or None.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch

from .official import split_sha256

SPLITS = ("train", "dev", "test")
SETTINGS_ATTRS = ("augmented_with",)  # df.attrs entries of the train split recorded with the hash


class CheckpointError(RuntimeError):
    """A checkpoint file or folder that cannot be read (missing, truncated, empty, wrong content).
    ``problem``: the message without the advice on how to recover."""

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem or message


# ---------------------------------------------------------------------------------------------- data
def _source_name(source: object) -> str:
    """``sample``/``hub:...`` as they are; a local folder by its name only (no path of this machine)."""
    text = str(source)
    return text if text == "sample" or text.startswith("hub:") else Path(text).name


def _sha256(digests: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()


def data_fingerprint(splits: Mapping[str, pd.DataFrame], **settings: object) -> dict:
    """``{"sha256", "training_sha256", "n_train", "n_dev", "n_test", "source"?, "augmented_with"?, **settings}``
    of the splits (``settings`` that are None are left out)."""
    digests = {s: split_sha256(splits[s]) for s in SPLITS}
    info: dict = {"sha256": _sha256(digests), "training_sha256": _sha256({s: digests[s] for s in ("train", "dev")})}
    info.update({f"n_{s}": len(splits[s]) for s in SPLITS})
    attrs = splits["train"].attrs
    if attrs.get("source"):
        info["source"] = _source_name(attrs["source"])
    info.update({k: attrs[k] for k in SETTINGS_ATTRS if attrs.get(k)})
    info.update({k: v for k, v in settings.items() if v is not None})
    return info


def describe_data(info: Mapping) -> str:
    """``data 1a2b3c4d5e6f (n_train=336, n_dev=70, ...)`` for messages."""
    rest = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("sha256", "training_sha256"))
    return f"data {str(info['sha256'])[:12]} ({rest})"


def same_data(stored: Mapping | None, current: Mapping) -> bool:
    return stored is not None and stored.get("sha256") == current["sha256"]


def same_training_data(stored: Mapping | None, current: Mapping) -> bool:
    """The same train and dev splits (the test split may differ); False for a fingerprint written before
    fingerprints hashed them apart."""
    return stored is not None and stored.get("training_sha256") is not None and \
        stored["training_sha256"] == current.get("training_sha256")


# ------------------------------------------------------------------------------------------ loading
def _reason(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def load_checkpoint(path: str | Path, hint: str, map_location: str | torch.device | None = None,
                    keys: Sequence[str] = (), weights_only: bool = False) -> dict:
    """``torch.load(path)``, verified: a missing, unreadable (truncated, empty) file or one without ``keys``
    raises ``CheckpointError`` naming ``path``, followed by ``hint`` (how to recover)."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as e:  # noqa: BLE001  (torch raises RuntimeError, EOFError, UnpicklingError, OSError...)
        problem = f"checkpoint {path} is unreadable ({_reason(e)})"
        raise CheckpointError(f"{problem}: {hint}", problem) from e
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        problem = f"checkpoint {path} is unreadable (it lacks {missing})"
        raise CheckpointError(f"{problem}: {hint}", problem)
    return obj


def _file_problem(path: Path) -> str | None:
    try:
        if path.stat().st_size == 0:
            return "empty"
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt"):  # checks that the header covers the whole file
                pass
        elif path.suffix in (".pt", ".pth", ".bin"):
            with zipfile.ZipFile(path) as z:  # torch.save's zip format: a truncated file has no directory
                z.namelist()
    except Exception as e:  # noqa: BLE001
        return _reason(e)
    return None


def checkpoint_folder_problem(folder: str | Path, required: Sequence[str] = ("trainer_state.json",)) -> str | None:
    """Why the ``Trainer`` checkpoint ``folder`` cannot be resumed from (``"optimizer.pt: empty"``), or None."""
    folder = Path(folder)
    for name in required:
        if not (folder / name).is_file():
            return f"{name} is missing"
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        problem = _file_problem(path)
        if problem:
            return f"{path.name}: {problem}"
    return None
