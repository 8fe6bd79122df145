from __future__ import annotations

import numpy as np

from src_helpers.artifacts import save_run
from src_helpers.baseline import TfidfConfig
from src_helpers.config import paths_for
from src_helpers.data import load_goemotions
from src_helpers.experiments import Scored, results_table, tfidf_peer
from src_helpers.metrics import single_label_report


def test_tfidf_peer_reads_notebook_02_run_or_trains_inline() -> None:
    splits = load_goemotions(source="sample")
    test = splits["test"]
    # no run folder yet (tmp output root): trained inline
    inline = tfidf_peer("quick", splits, config=TfidfConfig(Cs=(1.0,), max_iter=300))
    assert inline.name == "tfidf" and len(inline.y_pred) == len(test)
    y = test["ekman"].to_numpy()
    fake = np.roll(y, 1)  # a run folder with other predictions, rows stored in another order
    order = np.arange(len(test))[::-1]
    save_run(paths_for("quick").runs / "tfidf_single", {"model": "tfidf"},
             {"dev": inline.dev, "test": single_label_report(y, fake)}, ids=test["comment_id"].to_numpy()[order],
             y_true=y[order], y_pred=fake[order], probs=np.eye(7)[fake[order]])
    read = tfidf_peer("quick", splits)
    assert read.name == "tfidf (02)" and np.array_equal(read.y_pred, fake)


def test_results_table_has_intervals_around_the_value() -> None:
    y = np.array([0, 1, 2, 3, 4, 5, 6] * 10)
    pred = y.copy()
    pred[:14] = 6
    report = single_label_report(y, pred)
    table = results_table([Scored("m", report, report, pred)], y, n_boot=200)
    low, high = (float(v) for v in table.loc["m", "acc_95ci"].strip("[]").split(", "))
    assert low <= table.loc["m", "test_accuracy"] == round(report["accuracy"], 4) <= high
    assert list(table.columns) == ["dev_accuracy", "dev_macro_f1", "test_accuracy", "acc_95ci", "test_macro_f1",
                                   "mf1_95ci"]
