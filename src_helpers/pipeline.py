"""Run the numbered notebooks headless with papermill: ``python -m src_helpers.pipeline --profile quick``.

``quick`` runs are smoke runs and land in the git-ignored ``.smoke/notebook_outputs/``. ``full`` runs are
history: ``notebook_outputs/<notebook>__<date>__<headline scores>.ipynb``, a new file per run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .artifacts import HEADLINE_PREFIX
from .config import PROFILES, REPO_ROOT, paths_for

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def find_notebooks(only: Sequence[str] = (), folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Numbered notebooks in order; ``only`` keeps those whose name starts with one of the prefixes."""
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
        if not found:
            raise FileNotFoundError(f"no notebook in {folder} starts with any of {list(only)}")
    return found


def output_name(stem: str, profile: str, headline: dict[str, float] | None, day: dt.date | None = None) -> str:
    """File name of the executed copy: scores go in the name of full runs."""
    if profile != "full":
        return f"{stem}.ipynb"
    parts = [stem, (day or dt.date.today()).isoformat()]
    for key, value in (headline or {}).items():
        parts.append(f"{key}{value:.4g}" if isinstance(value, float) else f"{key}{value}")
    return "__".join(parts) + ".ipynb"


def run_notebook(path: Path, profile: str, data_dir: str | None = None, extra: dict | None = None,
                 kernel: str = "python3") -> Path:
    """Execute one notebook with papermill; return the path of the executed copy."""
    import papermill as pm

    out_dir = paths_for(profile).ensure().notebooks_out
    headline_file = out_dir / f"{HEADLINE_PREFIX}{path.stem}.json"
    headline_file.unlink(missing_ok=True)
    tmp = out_dir / f".running_{path.name}"
    params = {"profile": profile, "data_dir": data_dir, **(extra or {})}
    try:
        pm.execute_notebook(str(path), str(tmp), parameters=params, kernel_name=kernel,
                            cwd=str(path.parent), progress_bar=True)
    except Exception:
        failed = out_dir / f"FAILED_{path.name}"
        if tmp.exists():
            tmp.replace(failed)
        print(f"notebook {path.name} failed; executed copy with the error: {failed}", file=sys.stderr)
        raise
    headline = json.loads(headline_file.read_text()) if headline_file.exists() else None
    headline_file.unlink(missing_ok=True)
    final = out_dir / output_name(path.stem, profile, headline)
    tmp.replace(final)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default=os.environ.get("EMOTION_PROFILE", "quick"))
    parser.add_argument("--data-dir", default=None, help="folder with the official GoEmotions TSVs "
                        "(default: $GOEMOTIONS_DIR; quick runs use the bundled sample when unset)")
    parser.add_argument("--only", nargs="*", default=(), help="notebook name prefixes, e.g. 01 02")
    args = parser.parse_args(argv)
    notebooks = find_notebooks(args.only)
    for i, nb in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {nb.name} (profile {args.profile})", flush=True)
        out = run_notebook(nb, args.profile, args.data_dir)
        print(f"    -> {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
