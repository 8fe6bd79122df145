"""Where an executed notebook comes from: the commit, the versions, the machine and the wall time of its run.

``tools.pipeline`` stores ``record(...)`` under the executed copy's ``metadata["provenance"]`` and shows it in the
copy's first cell (``cell``), so every result in the history book traces to the code that made it;
``notebook_outputs/INDEX.md`` lists the commit beside each copy.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from . import REPO_ROOT

TAG = "provenance"  # the tag of the first cell of an executed copy
PACKAGES = ("torch", "transformers", "scikit-learn", "optuna")


def git_state(root: Path = REPO_ROOT) -> tuple[str | None, bool | None]:
    """The commit checked out in ``root`` and whether tracked files differ from it; (None, None) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(changed)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """The NVIDIA GPUs ``nvidia-smi`` lists; [] when there is none (no torch import: the runner stays light)."""
    if not shutil.which("nvidia-smi"):
        return []
    out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                         text=True, check=False)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def versions() -> dict[str, str | None]:
    """Python's version and the installed versions of ``PACKAGES`` (None when one is missing)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def record(profile: str, started: dt.datetime, finished: dt.datetime, root: Path = REPO_ROOT,
           git: tuple[str | None, bool | None] | None = None) -> dict:
    """Everything a reader needs to trace one executed copy to its code and machine (JSON-ready); ``git``: the
    ``git_state`` taken when the run started (default: now)."""
    commit, dirty = git or git_state(root)
    return {"commit": commit, "dirty": dirty, "profile": profile, "versions": versions(),
            "cpu": cpu_name(), "cpu_count": _cpu_count(), "gpu": gpu_names(), "platform": sys.platform,
            "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
            "wall_seconds": round((finished - started).total_seconds(), 1)}


def _cpu_count() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def short_commit(prov: dict | None) -> str:
    """``abc1234`` (``abc1234+`` when the tree had changes); ``–`` when the copy records no commit."""
    if not prov or not prov.get("commit"):
        return "–"
    return prov["commit"][:7] + ("+" if prov.get("dirty") else "")


def cell_source(prov: dict) -> str:
    """The Markdown of an executed copy's first cell."""
    v = prov["versions"]
    packages = ", ".join(f"{k} {v[k]}" for k in v if k != "python" and v[k])
    minutes = prov["wall_seconds"] / 60
    tree = " (with uncommitted changes)" if prov.get("dirty") else ""
    return "\n".join([
        "**How this copy was made** (written by the notebook runner)",
        "",
        "| | |",
        "| --- | --- |",
        f"| commit | `{prov.get('commit') or 'unknown'}`{tree} |",
        f"| profile | {prov['profile']} |",
        f"| Python | {v['python']}; {packages} |",
        f"| machine | {prov['cpu']} ({prov['cpu_count']} cores); GPU: {', '.join(prov['gpu']) or 'none'} |",
        f"| run | {prov['started']} to {prov['finished']} UTC ({minutes:.1f} min) |",
    ])


def add_to(nb, prov: dict) -> None:
    """Store ``prov`` in the notebook's metadata and show it in a first Markdown cell tagged ``TAG`` (in place;
    a cell of an earlier record is replaced)."""
    import nbformat

    nb.cells = [c for c in nb.cells if TAG not in c.get("metadata", {}).get("tags", [])]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(cell_source(prov), metadata={"tags": [TAG]}))
    nb.metadata["provenance"] = prov


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
