"""One-time upgrade of run folders to the current ``config.json`` format (``run_folders.FORMAT_VERSION``).

``python -m tools.migrate_run_folders [RUNS_ROOT]`` (default: the committed ``notebook_outputs/runs``) upgrades every
run folder of the root, also those in folders of run folders, from format 1 (every earlier layout) to format 2:
``format_version`` added, ``labels`` named (format 1 left Ekman's unnamed), ``data`` null where no fingerprint was
recorded, and the trainers' settings under their current names (``train_config.lr`` -> ``learning_rate``,
``ft.fp16`` -> ``precision``). It rewrites only ``config.json`` keys; no value is changed (except the former
``fp16`` flag written as its precision) and no other file is touched. Running it again changes nothing; a
folder of a format newer than this package's is refused.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from src_helpers.config import REPO_ROOT, portable_path
from src_helpers.experiments.run_folders import FORMAT_VERSION, RunFolderError, run_folders, write_json

DEFAULT_ROOT = REPO_ROOT / "notebook_outputs" / "runs"

# section of config.json -> {former option name: (current name, former value -> current value)}
RENAMES: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "train_config": {"lr": ("learning_rate", lambda v: v)},
    "ft": {"fp16": ("precision", lambda v: "fp16" if v else "fp32")},
}


def _renamed(section: dict, renames: dict[str, tuple[str, Callable[[Any], Any]]]) -> dict:
    """``section`` with its former option names replaced in place (a current name already there wins)."""
    out = {}
    for key, value in section.items():
        new, convert = renames.get(key, (key, lambda v: v))
        if new == key or new not in section:
            out[new] = convert(value)
    return out


def upgrade(config: dict, folder: Path) -> dict:
    """``config`` (a run folder's config.json) in the current format; as it is when it already is."""
    version = config.get("format_version", 1)
    if version == FORMAT_VERSION:
        return config
    if version != 1:
        raise RunFolderError(folder, "config.json", f"format_version {version!r} is unknown to this package (it "
                             f"writes {FORMAT_VERSION}); use the package version that wrote it")
    out = {"format_version": FORMAT_VERSION, **config}
    for section, renames in RENAMES.items():
        if isinstance(out.get(section), dict):
            out[section] = _renamed(out[section], renames)
    out.setdefault("labels", "ekman")  # format 1 named only other label sets
    out.setdefault("data", None)  # never recorded: no fingerprint is made up
    return out


def migrate(runs_root: str | Path = DEFAULT_ROOT) -> list[Path]:
    """Upgrade every run folder under ``runs_root``; returns the folders whose config.json was rewritten."""
    changed = []
    for folder in run_folders(runs_root, nested=True):
        path = folder / "config.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        new = upgrade(config, folder)
        if new != config:
            write_json(path, new)
            changed.append(folder)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Upgrade run folders' config.json to the current format (once).")
    p.add_argument("runs_root", nargs="?", default=str(DEFAULT_ROOT))
    a = p.parse_args(argv)
    changed = migrate(a.runs_root)
    for folder in changed:
        print(f"upgraded {portable_path(folder)}")
    print(f"{len(changed)} run folder(s) upgraded to format {FORMAT_VERSION} under {portable_path(a.runs_root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
