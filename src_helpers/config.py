"""Paths, profiles and where things live (one place, so notebooks and tests agree)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESOURCES = Path(__file__).resolve().parent / "resources"
SAMPLE_DIR = RESOURCES / "goemotions_sample"

PROFILES = ("quick", "full")


@dataclass(frozen=True)
class Paths:
    """Output folders for one profile.

    ``full`` writes the history the project keeps (``images/``, ``notebook_outputs/``, Optuna studies in
    ``notebook_outputs/studies/``); ``quick`` is a smoke run and writes everything under the git-ignored ``.smoke/``.
    """

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
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return profile


def paths_for(profile: str, root: Path | None = None) -> Paths:
    """Folders for ``profile``; ``root`` defaults to the repo (``SRC_HELPERS_OUTPUT_ROOT`` overrides)."""
    check_profile(profile)
    root = Path(root or os.environ.get("SRC_HELPERS_OUTPUT_ROOT") or REPO_ROOT)
    if profile == "full":
        return Paths(profile, root / "images", root / "notebook_outputs" / "runs", root / "notebook_outputs")
    smoke = root / ".smoke"
    return Paths(profile, smoke / "images", smoke / "runs", smoke / "notebook_outputs")


def portable_path(value: str | Path) -> str:
    """A path as committed files may show it: relative to the repository when inside it, else its bare name
    (never an absolute path of the machine that wrote it)."""
    path = Path(value)
    if not path.is_absolute():
        return str(value)
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else path.name


def default_profile() -> str:
    """Profile from ``EMOTION_PROFILE`` (default ``quick``)."""
    return check_profile(os.environ.get("EMOTION_PROFILE", "quick"))
