"""Augmentation speed: augmented texts per second with 1 and 2 worker processes, and a cached re-run.

    .venv/bin/python benchmarks/augment.py --data-dir $GOEMOTIONS_DIR [--recipe eda] [--full]

Sources are the first ``--n-texts`` train texts of the minority classes (fear, disgust), one TextAttack
call each (4 variants per call). For each worker count it reports the start-up time (building the
augmenter / spawning the processes, which import TextAttack and load WordNet) and the steady-state
rate, and checks that both give identical variants. Then ``augment_train`` on a subset is timed twice
(fresh cache, then cached); ``--full`` also times the cached re-run on the whole train split with the
project's cache (it computes it first when missing: minutes). Writes ``benchmarks/results/augment_*.json``
unless ``--no-save``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

from src_helpers.data.augment import AugmentConfig, augment_train
from src_helpers.data.goemotions import load_for_profile
from src_helpers.data.textattack_recipes import Generator


def time_generator(jobs: list[tuple], config: AugmentConfig, n_workers: int) -> tuple[dict, list]:
    with Generator(config, n_workers, progress=False) as gen:
        t0 = time.perf_counter()
        gen(jobs[:n_workers])  # start-up: augmenter / worker processes ready
        t1 = time.perf_counter()
        out = gen(jobs)
        t2 = time.perf_counter()
    n = sum(len(v) for v in out)
    return {"workers": n_workers, "startup_s": round(t1 - t0, 2), "calls": len(jobs), "texts": n,
            "steady_s": round(t2 - t1, 2), "texts_per_s": round(n / (t2 - t1), 1),
            "texts_per_s_incl_startup": round(n / (t2 - t0), 1)}, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("GOEMOTIONS_DIR"))
    p.add_argument("--recipe", default="eda")
    p.add_argument("--n-texts", type=int, default=300)
    p.add_argument("--full", action="store_true", help="also time the cached re-run on the whole train split")
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args()

    train = load_for_profile("full" if args.data_dir else "quick", args.data_dir)["train"]
    config = AugmentConfig(recipe=args.recipe)
    minority = train[train["ekman_label"].isin(["fear", "disgust"])].head(args.n_texts)
    jobs = [(t, i, 1, 0, config.seed) for t, i in zip(minority["text"], minority["comment_id"], strict=True)]
    result = {"recipe": args.recipe, "date": dt.datetime.now().isoformat(timespec="seconds"),
              "cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_start": os.getloadavg()}
    rows, outputs = [], {}
    for n in (1, 2):
        row, outputs[n] = time_generator(jobs, config, n)
        rows.append(row)
        print(row, flush=True)
    result["generation"] = rows
    result["identical_1_vs_2_workers"] = outputs[1] == outputs[2]

    subset = pd.concat([train[train["ekman_label"] == "joy"].head(800), minority.head(120)])
    subset.attrs = dict(train.attrs)
    with tempfile.TemporaryDirectory() as cache:
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            augment_train(subset, config, n_workers=2, cache_dir=cache, progress=False)
            times.append(round(time.perf_counter() - t0, 2))
    result["subset_rows"] = len(subset)
    result["subset_first_run_s"], result["subset_cached_run_s"] = times
    if args.full:
        augment_train(train, config, n_workers=2)  # fills the project cache when missing
        t0 = time.perf_counter()
        out = augment_train(train, config, n_workers=2, progress=False)
        result["full_cached_run_s"] = round(time.perf_counter() - t0, 2)
        result["full_rows_after"] = len(out)
    result["load_avg_end"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    if not args.no_save:
        folder = Path(__file__).parent / "results"
        folder.mkdir(exist_ok=True)
        path = folder / f"augment_{args.recipe}_{dt.date.today().isoformat()}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print("saved", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
