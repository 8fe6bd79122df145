"""Reading and writing checkpoints safely, for the RNN loop and the fine-tuning ``Trainer`` (whether to resume at
all is ``resume.decide``).

* ``load_checkpoint``: ``torch.load`` that names a missing, truncated or empty file (``CheckpointError``);
* ``checkpoint_folder_problem``: why a ``Trainer`` ``checkpoint-N`` folder cannot be resumed from, or None;
* ``set_aside``: a damaged checkpoint renamed out of the loaders' way and kept, never deleted;
* ``save_file``: ``torch.save`` via a temporary file, so a failed save leaves the previous one intact; a full disk
  is a ``DiskFullError`` naming the file (``write_errors`` does the same for any block of writes).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint file or folder that cannot be read (missing, truncated, empty, wrong content).
    ``problem``: the message without the advice on how to recover; ``reason``: what is wrong, without the
    path (``"EOFError: ..."``); ``path``: the file, where there is one."""

    def __init__(self, message: str, problem: str | None = None, reason: str | None = None,
                 path: Path | None = None) -> None:
        super().__init__(message)
        self.problem = problem or message
        self.reason = reason or self.problem
        self.path = path


class DiskFullError(OSError):
    """No space left on the disk to write a file (``errno.ENOSPC``); the message names the file or folder."""


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
        reason = _reason(e)
        problem = f"checkpoint {path} is unreadable ({reason})"
        raise CheckpointError(f"{problem}: {hint}", problem, reason, path) from e
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        reason = f"it lacks {missing}"
        problem = f"checkpoint {path} is unreadable ({reason})"
        raise CheckpointError(f"{problem}: {hint}", problem, reason, path)
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


# ------------------------------------------------------------------------------------- setting aside
DAMAGED = "damaged"


def aside_path(path: str | Path, when: float | None = None) -> Path:
    """Where ``set_aside`` keeps the damaged ``path``: a file gets ``.damaged-<UTC time>`` appended (so
    ``*.pt`` no longer matches it), a folder ``damaged-`` in front (so ``checkpoint-*`` no longer matches it:
    the ``Trainer``'s checkpoint rotation would delete it) and ``.<UTC time>`` appended. A name already taken
    gets a counter."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    name = f"{DAMAGED}-{path.name}.{stamp}" if path.is_dir() else f"{path.name}.{DAMAGED}-{stamp}"
    aside, n = path.with_name(name), 1
    while aside.exists():
        aside, n = path.with_name(f"{name}-{n}"), n + 1
    return aside


def set_aside(path: str | Path, reason: str, then: str) -> str:
    """Rename the damaged checkpoint file or folder ``path`` (``aside_path``; kept, never deleted) and return
    the one-line warning to show: which checkpoint is unreadable and why (``reason``), where it is kept, and
    ``then`` (what the run does now: "the run starts over from scratch", "resuming from ...")."""
    path = Path(path)
    aside = aside_path(path)
    os.rename(path, aside)
    return f"checkpoint {path} is unreadable ({reason}): kept as {aside}; {then}"


# ------------------------------------------------------------------------------------------- saving
LOW_FREE_BYTES = 64 * 2**20  # less free space than this after a failed write: the disk is full
# torch's zip writer reports a failed write as a RuntimeError with one of these; safetensors and others
# name the OS error in their message
WRITE_FAILURES = ("PytorchStreamWriter failed", "unexpected pos", "file write failed", "No space left on device",
                  "StorageFull")


def _write_failure(err: BaseException, one_file: bool) -> bool:
    """A failed write: a writer's failure (``WRITE_FAILURES``), a full disk, or (``one_file``: the block writes
    nothing else) any ``OSError``."""
    if any(marker in str(err) for marker in WRITE_FAILURES):
        return True
    return isinstance(err, OSError) and (one_file or err.errno == errno.ENOSPC)


def _free_bytes(path: Path) -> int | None:
    """Free space on the disk of ``path`` (its nearest existing folder), None when it cannot be read."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _disk_full(err: BaseException, free: int | None) -> bool:
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    said_so = "No space left on device" in str(err) or "StorageFull" in str(err)
    return said_so or (free is not None and free < LOW_FREE_BYTES)


def write_error(err: BaseException, target: Path, what: str, free: int | None, note: str = "") -> BaseException:
    """The error to raise for the failed write ``err`` of ``what`` ``target`` (``"checkpoint"``,
    ``"checkpoints under"``...): a ``DiskFullError`` when the disk is full, else the original one's kind with
    ``target`` named. ``note``: a last sentence (what is intact, how to go on)."""
    free_text = "" if free is None else f", {free / 2**20:.1f} MiB free"
    if _disk_full(err, free):
        return DiskFullError(errno.ENOSPC, f"disk full: could not write {what} {target} ({_reason(err)}"
                                           f"{free_text}); free some space on that disk{note}")
    message = f"could not write {what} {target}: {_reason(err)}{note}"
    return OSError(err.errno, message) if isinstance(err, OSError) else RuntimeError(message)


@contextmanager
def write_errors(target: str | Path, what: str, partial: str | Path | None = None, note: str = "",
                 one_file: bool = False) -> Iterator[None]:
    """Writes under ``target`` whose failure (a full disk, torch's bare zip-writer ``RuntimeError``; with
    ``one_file``, when the block writes ``target`` alone, any ``OSError``) becomes an error naming ``target``
    (``write_error``); other errors pass unchanged. ``partial``: a temporary file removed after any failure."""
    target = Path(target)
    try:
        yield
    except Exception as err:
        failed = not isinstance(err, DiskFullError) and _write_failure(err, one_file)
        free = _free_bytes(target) if failed else None  # before the partial file's space is given back
        if partial is not None:
            Path(partial).unlink(missing_ok=True)
        if not failed:
            raise
        raise write_error(err, target, what, free, note) from err


def save_file(obj: object, path: str | Path, keep_previous: bool = False) -> None:
    """``torch.save(obj, path)`` via a temporary file renamed over ``path``: a kill or a failed write (a full disk:
    ``DiskFullError`` naming ``path``) leaves the previous ``path`` intact and no temporary file.
    ``keep_previous``: the old file becomes ``<stem>.prev.pt``."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    note = f"; the previous {path.name} is intact" if path.exists() else ""
    with write_errors(path, "checkpoint", partial=tmp, note=note, one_file=True):
        torch.save(obj, tmp)
    if keep_previous and path.exists():
        os.replace(path, path.with_name(f"{path.stem}.prev.pt"))
    os.replace(tmp, path)
