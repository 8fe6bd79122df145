from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from src_helpers.data.labels import DAIR_LABELS
from src_helpers.evaluation.metrics import multi_label_report, single_label_report
from src_helpers.experiments.run_folders import (
    FORMAT_VERSION,
    RunFolderError,
    load_run,
    record_headline,
    run_folders,
    save_run,
    summarize_runs,
)
from tools.pipeline import find_notebooks, output_name

Y = np.array([0, 6, 3, 3])
PROBS = np.eye(7)[Y] * 0.9 + 0.01


def scores(y: np.ndarray = Y, target: str = "single") -> dict:
    """A metrics.json entry as the trainers write it."""
    return single_label_report(y, y) if target == "single" else multi_label_report(y, y.astype(float), 0.5)


def tiny_run(folder: Path, target: str = "single") -> Path:
    """A complete four-row run folder (config, metrics, history, test and dev predictions)."""
    y = Y if target == "single" else np.eye(7, dtype=int)[Y]
    probs = PROBS if target == "single" else y * 0.9
    rows = {"ids": list("abcd"), "y_true": y, "y_pred": y, "probs": probs}
    return save_run(folder, {"model": "m", "target": target}, {"dev": scores(y, target), "test": scores(y, target)},
                    history=[{"epoch": 1, "dev_macro_f1": 1.0}], **rows, dev=rows)


def test_run_round_trip(tmp_path: Path) -> None:
    probs = np.array([[0.7, 0.1, 0.05, 0.05, 0.05, 0.03, 0.02], [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4]])
    save_run(tmp_path / "r1", {"model": "m", "target": "single", "lr": np.float32(0.5)},
             {"dev": {**scores(), "accuracy": 0.5, "macro_f1": 0.4}, "test": {**scores(), "accuracy": 0.6, "n": 2}},
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
    multi = scores(y, "multi")
    save_run(tmp_path / "m", {"target": "multi"}, {"dev": multi, "test": multi}, y_true=y, y_pred=y,
             probs=y.astype(float))
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
    with pytest.raises(RunFolderError, match="nothing: metrics.json: missing: no such run folder"):
        load_run(tmp_path / "nothing")


def _rewrite_json(path: Path, change: dict) -> None:
    data = json.loads(path.read_text())
    for split, entries in change.items():
        data[split] = entries if entries == {} else {**data[split], **entries}
    path.write_text(json.dumps(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _rewrite_predictions(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(edit(lines)) + "\n").encode()))


DAMAGES = {  # what is done to a complete run folder -> the file named and what the message says
    "no metrics.json": (lambda d: (d / "metrics.json").unlink(), "metrics.json", "missing"),
    "no config.json": (lambda d: (d / "config.json").unlink(), "config.json", "missing"),
    "metrics.json not JSON": (lambda d: (d / "metrics.json").write_text('{"dev": {'), "metrics.json",
                              "not valid JSON"),
    "empty test scores": (lambda d: _rewrite_json(d / "metrics.json", {"test": {}}), "metrics.json",
                          "test has no accuracy, macro_f1, per_class, confusion_matrix"),
    "NaN dev macro-F1": (lambda d: _rewrite_json(d / "metrics.json", {"dev": {"macro_f1": float("nan")}}),
                         "metrics.json", "dev macro_f1 is nan, not a finite number"),
    "truncated test predictions": (lambda d: _truncate(d / "test_predictions.csv.gz"), "test_predictions.csv.gz",
                                   "unreadable, truncated or damaged"),
    "not gzip": (lambda d: (d / "dev_predictions.csv.gz").write_text("id,y_true"), "dev_predictions.csv.gz",
                 "unreadable, truncated or damaged"),
    "a lost row": (lambda d: _rewrite_predictions(d / "test_predictions.csv.gz", lambda rows: rows[:-1]),
                   "test_predictions.csv.gz", "has 3 rows, metrics.json's test n is 4"),
    "a lost column": (lambda d: _rewrite_predictions(d / "dev_predictions.csv.gz",
                                                     lambda rows: [r.rsplit(",", 1)[0] for r in rows]),
                      "dev_predictions.csv.gz", "has no column ['prob_neutral']"),
    "a class id out of range": (lambda d: _rewrite_predictions(d / "test_predictions.csv.gz",
                                                               lambda rows: [*rows[:-1], "d,9,3" + rows[-1][5:]]),
                                "test_predictions.csv.gz", "column y_true holds values that are no class ids"),
    "a broken evaluation": (lambda d: (d / "evaluations").mkdir() or (d / "evaluations" / "x.json").write_text("{"),
                            "evaluations/x.json", "not valid JSON"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_run_folder_is_named(tmp_path: Path, damage: str) -> None:
    run_dir = tiny_run(tmp_path / "bigru_minilm")
    load_run(run_dir)  # complete: it loads
    do, file, says = DAMAGES[damage]
    do(run_dir)
    with pytest.raises(RunFolderError, match="bigru_minilm") as err:
        load_run(run_dir)
    assert err.value.file == file and says in str(err.value) and "\n" not in str(err.value)
    assert err.value.folder == run_dir


def test_a_multi_label_run_needs_its_multi_label_scores(tmp_path: Path) -> None:
    run_dir = tiny_run(tmp_path / "bigru_minilm_multi", "multi")
    assert load_run(run_dir).pred().shape == (4, 7)
    _rewrite_json(run_dir / "metrics.json", {"test": {"micro_f1": None}})
    with pytest.raises(RunFolderError, match="metrics.json: test micro_f1 is None, not a finite number"):
        load_run(run_dir)


def test_summary_stops_at_a_run_folder_it_cannot_read(tmp_path: Path) -> None:
    tiny_run(tmp_path / "tfidf_single")
    assert summarize_runs(tmp_path)["run"].tolist() == ["tfidf_single"]
    unfinished = tiny_run(tmp_path / "bigru_minilm")
    (unfinished / "metrics.json").unlink()
    with pytest.raises(RunFolderError, match=r"bigru_minilm: metrics.json: missing \(it holds config.json, "
                                             "history.csv, test_predictions.csv.gz"):
        summarize_runs(tmp_path)


def test_run_folders_and_folders_of_run_folders(tmp_path: Path) -> None:
    for name in ("tfidf_single", "goemotions_for_dair/tfidf_single", "goemotions_for_dair/bigru_minilm"):
        tiny_run(tmp_path / name)
    (tmp_path / ".ipynb_checkpoints").mkdir()  # hidden: no run, no error
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    assert run_folders(tmp_path) == [tmp_path / "tfidf_single"]
    assert run_folders(tmp_path, nested=True) == [tmp_path / "tfidf_single", *(
        tmp_path / "goemotions_for_dair" / n for n in ("bigru_minilm", "tfidf_single"))]
    (tmp_path / "goemotions_for_dair" / "rwkv_minilm" / "checkpoints").mkdir(parents=True)
    with pytest.raises(RunFolderError, match="rwkv_minilm: metrics.json: missing .it holds checkpoints"):
        run_folders(tmp_path)
    (tmp_path / "goemotions_for_dair" / "rwkv_minilm" / "checkpoints").rmdir()
    with pytest.raises(RunFolderError, match="rwkv_minilm: metrics.json: missing .not a run folder"):
        run_folders(tmp_path)
    (tmp_path / "goemotions_for_dair" / "rwkv_minilm").rmdir()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="empty: metrics.json: missing: the folder holds neither"):
        run_folders(tmp_path)


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


def test_a_run_folder_records_its_format_labels_and_data(tmp_path: Path) -> None:
    config = json.loads((tiny_run(tmp_path / "r") / "config.json").read_text())
    assert (config["format_version"], config["labels"], config["data"]) == (FORMAT_VERSION, "ekman", None)
    save_run(tmp_path / "d", {"format_version": 1, "data": {"sha256": "x"}}, {}, probs=np.eye(6), names=DAIR_LABELS)
    config = json.loads((tmp_path / "d" / "config.json").read_text())
    assert (config["format_version"], config["labels"], config["data"]) == (FORMAT_VERSION, "dair", {"sha256": "x"})


@pytest.mark.parametrize("version", [None, 1, 3])
def test_a_config_of_another_format_is_refused_with_the_migration_named(tmp_path: Path, version: int | None) -> None:
    folder = tiny_run(tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    config.pop("format_version") if version is None else config.update(format_version=version)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunFolderError, match=rf"old: config.json: format_version {version or 1}, this package reads "
                                             rf"2: upgrade the run folders with `python -m tools.migrate_run_folders`"):
        load_run(folder)
