from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from src_helpers.artifacts import load_run, record_headline, save_run, summarize_runs
from src_helpers.pipeline import find_notebooks, output_name


def test_run_round_trip(tmp_path: Path) -> None:
    probs = np.array([[0.7, 0.1, 0.05, 0.05, 0.05, 0.03, 0.02], [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4]])
    save_run(tmp_path / "r1", {"model": "m", "target": "single", "lr": np.float32(0.5)},
             {"dev": {"accuracy": 0.5, "macro_f1": 0.4}, "test": {"accuracy": 0.6, "macro_f1": 0.45}},
             history=[{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}],
             ids=["x", "y"], y_true=np.array([0, 6]), y_pred=probs.argmax(1), probs=probs)
    run = load_run(tmp_path / "r1")
    assert run.config["lr"] == 0.5 and run.metrics["test"]["accuracy"] == 0.6
    assert run.history["train_loss"].tolist() == [1.0, 0.5]
    assert np.allclose(run.probs(), probs, atol=1e-5)
    assert run.predictions["id"].tolist() == ["x", "y"]
    table = summarize_runs(tmp_path)
    assert table.loc[0, "test_accuracy"] == 0.6 and table.loc[0, "dev_macro_f1"] == 0.4


def test_multi_hot_truth_is_written_as_ids(tmp_path: Path) -> None:
    y = np.array([[1, 0, 0, 0, 0, 1, 0]])
    save_run(tmp_path / "m", {}, {}, y_true=y, y_pred=y, probs=y.astype(float))
    assert load_run(tmp_path / "m").predictions["y_true"].tolist() == ["0 5"]


def test_predictions_file_bytes_are_reproducible(tmp_path: Path) -> None:
    import time

    y = np.array([0, 3])
    save_run(tmp_path / "a", {}, {}, ids=["x", "y"], y_true=y, y_pred=y, probs=np.eye(7)[y])
    time.sleep(1.1)  # gzip would otherwise stamp a new mtime
    save_run(tmp_path / "b", {}, {}, ids=["x", "y"], y_true=y, y_pred=y, probs=np.eye(7)[y])
    name = "test_predictions.csv.gz"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_mismatched_rows_and_missing_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        save_run(tmp_path / "bad", {}, {}, y_true=np.array([0]), probs=np.zeros((2, 7)))
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        load_run(tmp_path / "nothing")


def test_output_names() -> None:
    day = dt.date(2026, 11, 25)
    assert output_name("02_baseline", "quick", {"acc": 0.5}) == "02_baseline.ipynb"
    assert output_name("02_baseline", "full", {"acc": 0.63612, "mf1": 0.5301}, day) == \
        "02_baseline__2026-11-25__acc0.6361__mf10.5301.ipynb"
    assert output_name("01_data", "full", {"train": 43410}, day) == "01_data__2026-11-25__train43410.ipynb"


def test_headline_file(tmp_path: Path) -> None:
    path = record_headline(tmp_path, "02_x", {"acc": 0.5})
    assert json.loads(path.read_text()) == {"acc": 0.5}
    record_headline(tmp_path, "02_x", {"acc": 0.6, "augmf1": 0.4})  # a later cell adds to the headline
    assert json.loads(path.read_text()) == {"acc": 0.6, "augmf1": 0.4}


def test_find_notebooks(tmp_path: Path) -> None:
    for name in ("02_b.ipynb", "01_a.ipynb", "scratch.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_notebooks(folder=tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]
    assert [p.name for p in find_notebooks(["02"], folder=tmp_path)] == ["02_b.ipynb"]
    with pytest.raises(FileNotFoundError, match="starts with"):
        find_notebooks(["09"], folder=tmp_path)
