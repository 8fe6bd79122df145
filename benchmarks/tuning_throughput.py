"""Trials per hour of an Optuna study with 1 and 2 worker processes (``python -m src_helpers.experiments.studies``).

Each setting starts a fresh study (SQLite in a temp folder), launches the workers at once, each with one torch
thread and its own ``--worker`` index, and times the wall clock until the study holds ``--n-trials`` finished
trials. So the scaling of workers on this machine is measured, not assumed.

    python benchmarks/tuning_throughput.py --family rnn --data-dir ../shared/data/goemotions \\
        --train-rows 2000 --epochs 2 --n-trials 8 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src_helpers.config import portable_path  # noqa: E402
from src_helpers.experiments.studies import FINISHED  # noqa: E402


def run(workers: int, a: argparse.Namespace, tmp: Path) -> dict:
    """One fresh study finished by ``workers`` processes: wall seconds, trials each worker ran, trials/hour."""
    storage = f"sqlite:///{tmp / f'bench_{workers}w.db'}"
    profile = ["--profile", "full", "--data-dir", a.data_dir] if a.data_dir else ["--profile", "quick"]
    env = {**os.environ, "SRC_HELPERS_OUTPUT_ROOT": str(tmp), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "src_helpers.experiments.studies", "--family", a.family, *profile,
           "--study", f"bench_{workers}w",
           "--storage", storage, "--n-trials", str(a.n_trials), "--threads", "1", "--seed", "0"]
    cmd += ["--train-rows", str(a.train_rows)] if a.train_rows else []
    cmd += ["--epochs", str(a.epochs)] if a.epochs else []
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*cmd, "--worker", str(w)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for w in range(workers)]
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - t0
    if any(codes):
        raise RuntimeError(f"a worker failed (exit codes {codes}): run {' '.join(cmd)} to see why")
    study = optuna.load_study(study_name=f"bench_{workers}w", storage=storage)
    finished = study.get_trials(deepcopy=False, states=FINISHED)
    return {"workers": workers, "seconds": round(seconds, 1), "finished_trials": len(finished),
            "pruned": sum(t.state.name == "PRUNED" for t in finished),
            "trials_per_hour": round(len(finished) * 3600 / seconds, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="rnn")
    p.add_argument("--data-dir", default=None, help="real data (full profile); default: the bundled sample")
    p.add_argument("--train-rows", type=int, default=None)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--n-trials", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", default=None, help="JSON file (default: benchmarks/results/tuning_<family>.json)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(w, a, Path(tmp)) for w in a.workers]
    for r in results:
        print(r)
    out = Path(a.out or ROOT / "benchmarks" / "results" / f"tuning_{a.family}.json")
    setup = {"family": a.family, "data": portable_path(a.data_dir) if a.data_dir else "sample",
             "train_rows": a.train_rows, "epochs": a.epochs, "n_trials": a.n_trials, "date": str(date.today()),
             "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
             "optuna": optuna.__version__}
    out.write_text(json.dumps({"setup": setup, "results": results}, indent=2) + "\n")
    print("wrote", portable_path(out))


if __name__ == "__main__":
    main()
