"""Notebook helpers for the neural-model notebooks: the TF-IDF peer to compare with, and result tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .artifacts import load_run
from .baseline import TfidfConfig, train_tfidf_baseline
from .config import paths_for, portable_path
from .metrics import bootstrap_ci


@dataclass
class Scored:
    """What the comparison needs from one model: reports and single-label test predictions."""

    name: str
    dev: dict
    test: dict
    y_pred: np.ndarray


def tfidf_peer(profile: str, splits: dict[str, pd.DataFrame], run_name: str = "tfidf_single",
               config: TfidfConfig | None = None) -> Scored:
    """The single-label TF-IDF baseline: read from notebook 02's run folder when it exists (same data
    profile), else trained here with the default configuration."""
    run_dir = paths_for(profile).runs / run_name
    test = splits["test"]
    if (run_dir / "metrics.json").exists():
        run = load_run(run_dir)
        preds = run.predictions.set_index(run.predictions["id"].astype(str))
        if len(preds) == len(test) and set(preds.index) == set(test["comment_id"].astype(str)):
            y_pred = preds.loc[test["comment_id"].astype(str), "y_pred"].to_numpy().astype(int)
            print(f"TF-IDF baseline read from {portable_path(run_dir)}")
            return Scored("tfidf (02)", run.metrics["dev"], run.metrics["test"], y_pred)
        print(f"{run_dir} is for other data; training the baseline here")
    r = train_tfidf_baseline(splits["train"], splits["dev"], test, "single", config or TfidfConfig())
    return Scored("tfidf", r.dev, r.test, r.test_pred)


def results_table(models: list[Scored], y_test: np.ndarray, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Dev and test accuracy / macro-F1 with percentile-bootstrap 95% intervals on test."""
    rows = []
    for m in models:
        ci = bootstrap_ci(y_test, m.y_pred, n_boot=n_boot, seed=seed)
        rows.append({"model": m.name, "dev_accuracy": m.dev["accuracy"], "dev_macro_f1": m.dev["macro_f1"],
                     "test_accuracy": ci["accuracy"]["value"],
                     "acc_95ci": f"[{ci['accuracy']['low']:.4f}, {ci['accuracy']['high']:.4f}]",
                     "test_macro_f1": ci["macro_f1"]["value"],
                     "mf1_95ci": f"[{ci['macro_f1']['low']:.4f}, {ci['macro_f1']['high']:.4f}]"})
    return pd.DataFrame(rows).set_index("model").round(4)
