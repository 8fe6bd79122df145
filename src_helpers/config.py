"""Paths, profiles and where things live (one place, so notebooks and tests agree)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from src_helpers.validation import check_choice

REPO_ROOT = Path(__file__).resolve().parents[1]
RESOURCES = Path(__file__).resolve().parent / "resources"
SAMPLE_DIR = RESOURCES / "goemotions_sample"

PROFILES = ("quick", "full")


@dataclass(frozen=True)
class Paths:
    """A profile's output folders: ``full``, the kept record; ``quick`` (a smoke run), the git-ignored ``.smoke/``."""

    profile: str
    images: Path
    runs: Path
    notebooks_out: Path

    @property
    def studies(self) -> Path:
        return self.notebooks_out / "studies"

    def ensure(self) -> Paths:
        for p in (self.images, self.runs, self.notebooks_out, self.studies):
            p.mkdir(parents=True, exist_ok=True)
        return self


def check_profile(profile: str) -> str:
    return check_choice("profile", profile, PROFILES)


OTHER_DATA = ".other_data"  # full runs on data other than the official releases (git-ignored, read by nothing)
_announced: set[str] = set()


def paths_for(profile: str, root: Path | None = None, *, data: Mapping | Sequence[Mapping] | None = None) -> Paths:
    """Folders for ``profile`` under ``root`` (default: ``$SRC_HELPERS_OUTPUT_ROOT``, else the repo). A full run on
    ``data`` (splits, or a list of them) other than the official releases writes to ``.other_data/<data id>/``."""
    check_profile(profile)
    root = Path(root or os.environ.get("SRC_HELPERS_OUTPUT_ROOT") or REPO_ROOT)
    base = root / ".smoke"
    if profile == "full":
        from src_helpers.data.official import data_id, describe, official_name

        datasets = [] if data is None else [data] if isinstance(data, Mapping) else list(data)
        if not (others := [d for d in datasets if official_name(d) is None]):
            return Paths(profile, root / "images", root / "notebook_outputs" / "runs", root / "notebook_outputs")
        base = root / OTHER_DATA / data_id(others)
        if base.name not in _announced:  # said once per data set
            _announced.add(base.name)
            print(f"not the official data ({', '.join(describe(d) for d in others)}): this full run writes to "
                  f"{OTHER_DATA}/{base.name}/, not to the project's results", file=sys.stderr, flush=True)
    return Paths(profile, base / "images", base / "runs", base / "notebook_outputs")


def portable_path(value: str | Path) -> str:
    """A path as committed files show it: relative to the repository when inside it, else its bare name."""
    path = Path(value)
    if not path.is_absolute():
        return str(value)
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else path.name
