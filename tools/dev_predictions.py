"""Dev predictions for run folders written before runs stored them: ``python -m tools.dev_predictions RUN [RUN ...]
--data-dir DIR``.

Each run's experiment (the registered one with the run's target, seed, thread count and device) is trained again
into a work folder, never into the run folder. Only when the new run reproduces the committed one exactly (the same
predicted labels on every test row; metrics.json's numbers, a dev-chosen threshold among them, equal within
``TOLERANCE``) is its ``dev_predictions.csv.gz`` copied into the committed folder; nothing else there changes.
Otherwise the folder is left untouched and the differences are named. One line per run says which.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src_helpers.config import PROFILES, portable_path
from src_helpers.data.goemotions import load_goemotions
from src_helpers.evaluation.comparison import _registry_run_names
from src_helpers.experiments.registry import Experiment, configure, finished, run_experiment, with_overrides
from src_helpers.experiments.run_folders import Run, RunFolderError, load_run
from tools import REPO_ROOT

RUNS_DIR = REPO_ROOT / "notebook_outputs" / "runs"
TOLERANCE = 1e-12  # metrics.json's floats: equal up to the rounding of their JSON text
HEADLINE = ("test.accuracy", "test.macro_f1", "test.micro_f1", "test.threshold", "dev.macro_f1", "dev.threshold")
DEV_FILE = "dev_predictions.csv.gz"


def experiment_of(run: Run, profile: str = "full") -> Experiment:
    """The experiment that made ``run``: the one its config names, else the registered one with its run name, with
    the run's target, the seed its name carries and the threads and device its ``train_config`` records."""
    name = (run.config.get("experiment") or {}).get("name") or _registry_run_names().get(
        re.sub(r"_seed\d+$", "", run.name))
    if name is None:
        raise ValueError(f"run folder {run.path}: no registered experiment has its run name and its config names none")
    seed = re.search(r"_seed(\d+)$", run.name)
    exp = configure(name, profile, {"target": run.config.get("target", "single"),
                                    "train.seed": int(seed[1]) if seed else 0})
    recorded = run.config.get("train_config") or {}
    runtime = {f"train.{k}": recorded[k] for k in ("num_threads", "device") if f"train.{k}" in exp.settings()
               and recorded.get(k) is not None}
    return with_overrides(exp, runtime)


def _flat(value: object, key: str = "") -> dict[str, object]:
    """Nested JSON as ``{"test.per_class.joy.f1": value}``."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
    if items is None:
        return {key: value}
    return {k: v for name, inner in items for k, v in _flat(inner, f"{key}.{name}" if key else str(name)).items()}


def _close(a: object, b: object) -> bool:
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE) if numbers else a == b


def differences(old: Run, new: Run) -> list[str]:
    """How ``new`` differs from ``old``: test rows predicted otherwise, metrics beyond ``TOLERANCE`` (none: same)."""
    a, b = old.table("test"), new.table("test")
    if a["id"].astype(str).tolist() != b["id"].astype(str).tolist():
        return [f"other test ids ({len(a)} committed rows, {len(b)} new)"]
    out = []
    rows = a["id"].astype(str)[a["y_pred"].astype(str) != b["y_pred"].astype(str)].tolist()
    if rows:
        out.append(f"{len(rows)} of {len(a)} test rows predicted otherwise (ids {', '.join(rows[:5])}"
                   f"{', ...' if len(rows) > 5 else ''})")
    was, now = _flat(old.metrics), _flat(new.metrics)
    changed = [k for k, v in was.items() if k in now and not _close(v, now[k])]
    if changed:
        shown = [k for k in HEADLINE if k in changed] or changed[:3]
        deltas = ", ".join(f"{k} {was[k]} -> {now[k]}" for k in shown)
        out.append(f"{len(changed)} metrics differ: {deltas}" + (f" and {len(changed) - len(shown)} more"
                                                                  if len(changed) > len(shown) else ""))
    return out


def complete(run_dir: Path, splits: dict[str, pd.DataFrame], work_dir: Path, profile: str = "full") -> str:
    """Train ``run_dir``'s experiment again in ``work_dir``; a run that reproduces it gives ``run_dir`` its dev
    predictions (``DEV_FILE``), anything else leaves it untouched. One line says which."""
    old = load_run(run_dir)
    if old.dev_predictions is not None:
        return f"{old.name}: has {DEV_FILE} already, nothing done"
    exp = experiment_of(old, profile)
    if finished(exp, splits, profile, run_dir.parent, old.name) is None:
        raise ValueError(f"run folder {run_dir}: not a run of experiment {exp.name!r} with its registered settings "
                         f"on these data (other test ids or settings)")
    print(f"== {old.name}: training experiment {exp.name!r} again in {work_dir}", flush=True)
    run_experiment(exp, splits, work_dir, resume=True, run_name=old.name, profile=profile)
    new = load_run(work_dir / old.name)
    if found := differences(old, new):
        return f"{old.name}: NOT reproduced, run folder left untouched: {'; '.join(found)}"
    shutil.copyfile(new.path / DEV_FILE, run_dir / DEV_FILE)
    probs = float(np.abs(old.probs() - new.probs()).max())
    return (f"{old.name}: reproduced (same {len(old.predictions)} test predictions, metrics within {TOLERANCE:g}, "
            f"test probabilities within {probs:.1g}); wrote {portable_path(run_dir / DEV_FILE)} "
            f"({len(new.dev_predictions)} dev rows)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folder names in --runs-dir (or their paths)")
    parser.add_argument("--data-dir", type=Path, help="the GoEmotions folder the runs trained on "
                        "(default: the bundled sample)")
    parser.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help="the committed run folders")
    parser.add_argument("--work-dir", type=Path, help="where the runs train again; kept, so a stopped run resumes "
                        "there (default: a temporary folder, removed at the end)")
    parser.add_argument("--profile", choices=PROFILES, default="full", help="the profile the runs were made with")
    args = parser.parse_args(argv)
    splits = load_goemotions(args.data_dir, source="local" if args.data_dir else "sample")
    with tempfile.TemporaryDirectory(prefix="dev_predictions_") as tmp:
        work_dir = args.work_dir or Path(tmp)
        lines = []
        for run in args.runs:
            run_dir = Path(run) if Path(run).is_dir() else args.runs_dir / run
            try:
                lines.append(complete(run_dir, splits, work_dir, args.profile))
            except (RunFolderError, ValueError, KeyError) as err:
                lines.append(f"{Path(run).name}: error: {err}")
            print(lines[-1], flush=True)
    print("\n".join(["== summary", *lines]))
    return 0 if all(re.match(r"\S+: (reproduced|has)", line) for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
