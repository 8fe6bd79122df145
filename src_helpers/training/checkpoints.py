"""Checkpoints read and written safely: verified loads (``CheckpointError``), damaged checkpoints set aside (kept,
never deleted), atomic saves whose failures name the file (``DiskFullError`` for a full disk)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; ``reason``: what is wrong, without the path; ``path``: the file."""

    def __init__(self, message: str, reason: str, path: Path) -> None:
        super().__init__(message)
        self.reason, self.path = reason, path


class DiskFullError(OSError):
    """No space left on the disk to write a file (``errno.ENOSPC``); the message names the file or folder."""


# ------------------------------------------------------------------------------------------ loading
def brief_error(err: BaseException) -> str:
    """``Type: first line of the message`` of ``err``."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def load_checkpoint(path: str | Path, hint: str, map_location: str | torch.device | None = None,
                    keys: Sequence[str] = (), weights_only: bool = False) -> dict:
    """``torch.load(path)``; an unreadable file or one without ``keys``: ``CheckpointError`` naming it + ``hint``."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as e:  # noqa: BLE001  (torch raises RuntimeError, EOFError, UnpicklingError, OSError...)
        reason, cause = brief_error(e), e
    else:
        missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
        if not missing:
            return obj
        reason, cause = f"it lacks {missing}", None
    raise CheckpointError(f"checkpoint {path} is unreadable ({reason}): {hint}", reason, path) from cause


def checkpoint_folder_problem(folder: str | Path) -> str | None:
    """Why the ``Trainer`` checkpoint ``folder`` cannot be resumed from (``"optimizer.pt: empty"``), or None."""
    folder = Path(folder)
    if not (folder / "trainer_state.json").is_file():
        return "trainer_state.json is missing"
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            if path.stat().st_size == 0:
                return f"{path.name}: empty"
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
            return f"{path.name}: {brief_error(e)}"
    return None


# ------------------------------------------------------------------------------------- setting aside
def aside_path(path: str | Path, when: float | None = None) -> Path:
    """Where ``set_aside`` keeps ``path``, out of the ``*.pt`` / ``checkpoint-*`` lookups: ``last.pt.damaged-<UTC>``."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    name = f"damaged-{path.name}.{stamp}" if path.is_dir() else f"{path.name}.damaged-{stamp}"
    aside, n = path.with_name(name), 1
    while aside.exists():
        aside, n = path.with_name(f"{name}-{n}"), n + 1
    return aside


def set_aside(path: str | Path, reason: str, then: str) -> str:
    """Rename the damaged checkpoint ``path`` (``aside_path``); the warning: why, where it is kept, and ``then``."""
    aside = aside_path(path)
    os.rename(path, aside)
    return f"checkpoint {path} is unreadable ({reason}): kept as {aside}; {then}"


# ------------------------------------------------------------------------------------------- saving
LOW_FREE_BYTES = 64 * 2**20  # less free space than this after a failed write: the disk is full
# torch's zip writer reports a failed write as a RuntimeError with one of these; others name the OS error
WRITE_FAILURES = ("PytorchStreamWriter failed", "unexpected pos", "file write failed", "No space left on device",
                  "StorageFull")


@contextmanager
def write_errors(target: str | Path, what: str, partial: str | Path | None = None, note: str = "",
                 one_file: bool = False) -> Iterator[None]:
    """A failed write under ``target`` (with ``one_file``, any ``OSError``) becomes an error naming ``what`` ``target``
    (``DiskFullError`` when the disk is full). ``partial``: a temporary file removed after any failure."""
    target = Path(target)
    try:
        yield
    except Exception as err:
        enospc = isinstance(err, OSError) and err.errno == errno.ENOSPC
        failed = not isinstance(err, DiskFullError) and (any(m in str(err) for m in WRITE_FAILURES)
                                                         or isinstance(err, OSError) and (one_file or enospc))
        free = None
        if failed:  # free space on the disk of target's nearest existing path, before the partial file's is given back
            with suppress(OSError):
                free = shutil.disk_usage(next((p for p in (target, *target.parents) if p.exists()), target)).free
        if partial is not None:
            Path(partial).unlink(missing_ok=True)
        if not failed:
            raise
        said_so = "No space left on device" in str(err) or "StorageFull" in str(err)
        if enospc or said_so or (free is not None and free < LOW_FREE_BYTES):
            free_text = "" if free is None else f", {free / 2**20:.1f} MiB free"
            raise DiskFullError(errno.ENOSPC, f"disk full: could not write {what} {target} ({brief_error(err)}"
                                              f"{free_text}); free some space on that disk{note}") from err
        message = f"could not write {what} {target}: {brief_error(err)}{note}"
        raise (OSError(err.errno, message) if isinstance(err, OSError) else RuntimeError(message)) from err


def save_file(obj: object, path: str | Path, keep_previous: bool = False) -> None:
    """``torch.save`` to a temporary file renamed over ``path`` (``keep_previous``: the old one as ``*.prev.pt``)."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    note = f"; the previous {path.name} is intact" if path.exists() else ""
    with write_errors(path, "checkpoint", partial=tmp, note=note, one_file=True):
        torch.save(obj, tmp)
    if keep_previous and path.exists():
        os.replace(path, path.with_name(f"{path.stem}.prev.pt"))
    os.replace(tmp, path)
