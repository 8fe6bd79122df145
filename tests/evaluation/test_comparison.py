"""The final comparison (``comparison``): the catalog of run folders, the leaderboard's rules and multi-label
siblings, significance against the model chosen on dev, cost against quality, and its figures; on fake run folders
the tests write, and once on the committed ones."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from src_helpers.config import REPO_ROOT
from src_helpers.data.labels import DAIR, EKMAN, LabelSet
from src_helpers.evaluation import calibration, comparison, ensemble, figures, references, tables
from src_helpers.evaluation import cross_domain as xd
from src_helpers.evaluation.results import RunResult, evaluate
from src_helpers.evaluation.tables import inference_benchmarks
from src_helpers.experiments.registry import EXPERIMENTS, configure
from src_helpers.experiments.run_folders import RecordError, RunFolderError, load_result, save_evaluation, save_run

matplotlib.use("Agg")

N = 140  # test (and dev) rows of every fake run
COMMITTED = REPO_ROOT / "notebook_outputs" / "runs"


def truth(target: str, n_classes: int) -> np.ndarray:
    """The same rows for every run (paired comparisons need them): class ids or multi-hot rows."""
    ids = np.arange(N) % n_classes
    if target == "single":
        return ids
    y = np.eye(n_classes, dtype=int)[ids]
    y[::4, (ids[::4] + 1) % n_classes] = 1
    return y


def noisy_probs(y: np.ndarray, n_classes: int, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities pointing at the truth for about a ``quality`` share of rows, at random elsewhere."""
    target = np.eye(n_classes)[y] if y.ndim == 1 else y.astype(float)
    informed = rng.random(len(y)) < quality
    probs = np.where(informed[:, None], 0.8 * target + 0.2 * rng.random(target.shape), rng.random(target.shape))
    return probs / probs.sum(1, keepdims=True) if y.ndim == 1 else probs


def result(name: str, quality: float, target: str = "single", labels: LabelSet = EKMAN, seed: int = 0) -> RunResult:
    """A run whose dev and test predictions are right about as often as ``quality`` says."""
    rng = np.random.default_rng(seed)
    k = len(labels.classes)
    y = truth(target, k)
    dev_probs, test_probs = noisy_probs(y, k, quality, rng), noisy_probs(y, k, quality, rng)
    ev = evaluate(y, dev_probs, y, test_probs, target, labels)
    return RunResult(name=name, target=target, labels=labels, dev=ev.dev, test=ev.test, threshold=ev.threshold,
                     dev_probs=dev_probs, dev_pred=ev.dev_pred, y_dev=y, test_probs=test_probs,
                     test_pred=ev.test_pred, y_test=y)


def write_run(root: Path, name: str, config: dict, quality: float, history: list[dict] | None = None,
              dev: bool = False, seed: int = 0) -> Path:
    """A run folder as the trainers write it (``run_folders.save_run``)."""
    labels = DAIR if config.get("labels") == "dair" else EKMAN
    r = result(name, quality, config.get("target", "single"), labels, seed)
    ids = [f"t{i}" for i in range(N)]
    stored_dev = {"ids": ids, "y_true": r.y_dev, "y_pred": r.dev_pred, "probs": r.dev_probs} if dev else None
    return save_run(root / name, config, {"dev": r.dev, "test": r.test}, history, ids, r.y_test, r.test_pred,
                    r.test_probs, labels.classes, stored_dev)


def rnn(arch: str, seed: int = 0, target: str = "single") -> dict:
    return {"model": "x", "target": target, "model_config": {"arch": arch}, "train_config": {"seed": seed},
            "n_parameters": 1000}


def transformer(target: str = "single", experiment: dict | None = None, **extra: object) -> dict:
    return {"model": "transformer:minilm", "target": target, "ft": {"seed": 0},
            "result": {"total_params": 5000, "train_seconds": 120.0}, **extra,
            **({"experiment": experiment} if experiment else {})}


def tuned_settings(target: str) -> dict:
    """A tuned fine-tuning's recorded settings: the registered ones with another learning rate."""
    settings = json.loads(json.dumps(configure("transformer_minilm_single", "full").settings(), default=str))
    settings.pop("train.num_threads", None)
    return {**settings, "train.learning_rate": 3e-5, "target": target}


RNN_HISTORY = [{"epoch": e, "dev_macro_f1": f, "train_seconds": s} for e, f, s in ((1, 0.3, 10.0), (2, 0.4, 20.0),
                                                                                    (3, 0.45, 12.0))]
FT_HISTORY = [{"epoch": 1, "dev_macro_f1": 0.4}, {"epoch": 2, "dev_macro_f1": 0.5}]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fake run folders of every kind: families, a multi-label sibling per family where the project has one, an
    extra seed, a train-subset run, a DAIR run, tuned runs and a folder of run folders."""
    root = tmp_path_factory.mktemp("runs")
    write_run(root, "tfidf_single", {"model": "tfidf_logreg", "target": "single", "seed": 0}, 0.35)
    write_run(root, "tfidf_multi", {"model": "tfidf_logreg", "target": "multi", "seed": 0}, 0.4)
    write_run(root, "bigru_minilm", rnn("gru"), 0.6, RNN_HISTORY)
    write_run(root, "bigru_minilm_seed1", rnn("gru", seed=1), 0.6, RNN_HISTORY, seed=1)
    write_run(root, "xlstm_minilm", rnn("xlstm"), 0.55, RNN_HISTORY)
    write_run(root, "transformer_minilm_single", transformer(), 0.75, FT_HISTORY)
    write_run(root, "transformer_minilm_multi", transformer("multi"), 0.75, FT_HISTORY[:1])
    write_run(root, "transformer_minilm_single_subset4000_ep1", transformer(), 0.3, FT_HISTORY[:1])
    write_run(root, "dair_minilm", transformer(labels="dair"), 0.9, FT_HISTORY, dev=True)
    for target, name in (("single", "tuned_transformer"), ("multi", "tuned_transformer_multi")):
        experiment = {"name": "transformer_minilm_single", "settings": tuned_settings(target)}
        write_run(root, name, transformer(target, experiment), 0.8, FT_HISTORY, dev=True)
    write_run(root / "goemotions_for_dair", "tfidf_single", {"model": "tfidf_logreg", "target": "single"}, 0.35)
    return root


# ------------------------------------------------------------------------------------------ catalog
def test_catalog_reads_every_finished_run(runs: Path) -> None:
    table = comparison.catalog(runs)
    assert set(table.index) == {"tfidf_single", "tfidf_multi", "bigru_minilm", "bigru_minilm_seed1", "xlstm_minilm",
                                "transformer_minilm_single", "transformer_minilm_multi", "dair_minilm",
                                "transformer_minilm_single_subset4000_ep1", "tuned_transformer",
                                "tuned_transformer_multi"}
    assert table.loc["tfidf_single", "family"] == "tfidf"
    assert table.loc["bigru_minilm", "family"] == "rnn"
    assert table.loc["xlstm_minilm", "family"] == "xlstm"
    assert table.loc["tuned_transformer", "family"] == "transformer"
    assert table.loc["dair_minilm", "dataset"] == "dair"
    assert table.loc["bigru_minilm", "dataset"] == "goemotions"
    assert table.loc["tfidf_multi", "target"] == "multi"
    assert list(table.index[table["tuned"]]) == ["tuned_transformer", "tuned_transformer_multi"]
    assert table.loc["bigru_minilm", "about"] == EXPERIMENTS["bigru_minilm"].about
    assert table.loc["bigru_minilm_seed1", "experiment"] == "bigru_minilm"
    assert table.loc["tuned_transformer", "about"] == "tuned transformer_minilm_single: learning_rate=3e-05"
    assert table.loc["transformer_minilm_single_subset4000_ep1", "train_rows"] == 4000
    assert pd.isna(table.loc["bigru_minilm", "train_rows"])
    assert table.loc["bigru_minilm_seed1", "seed"] == 1 and table.loc["bigru_minilm", "seed"] == 0
    assert (table["n_test"] == N).all()
    assert list(table.index[table["has_dev"]]) == ["dair_minilm", "tuned_transformer", "tuned_transformer_multi"]
    assert table.loc["bigru_minilm", "n_parameters"] == 1000
    assert table.loc["transformer_minilm_single", "n_parameters"] == 5000
    assert np.isnan(table.loc["tfidf_single", "n_parameters"])


def test_catalog_training_time(runs: Path) -> None:
    table = comparison.catalog(runs)
    rnn_row, ft_row, tfidf_row = (table.loc[n] for n in ("bigru_minilm", "transformer_minilm_single", "tfidf_single"))
    assert (rnn_row["s_per_epoch"], rnn_row["train_minutes"], rnn_row["time_source"]) == (12.0, 42 / 60, "history")
    assert (ft_row["s_per_epoch"], ft_row["train_minutes"], ft_row["time_source"]) == (60.0, 2.0, "config result")
    assert np.isnan(tfidf_row["s_per_epoch"]) and tfidf_row["time_source"] == "none"


def test_catalog_lists_the_folders_of_run_folders_it_skips(runs: Path) -> None:
    skipped = comparison.catalog(runs).attrs["skipped"]
    assert skipped == {"goemotions_for_dair": "holds 1 run folders (tfidf_single), is none itself"}


def _copy_of_the_runs(runs: Path, tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(runs, root)
    return root


@pytest.mark.parametrize(("damage", "folder", "file"), [
    (lambda root: (root / "bilstm_minilm" / "checkpoints").mkdir(parents=True), "bilstm_minilm", "metrics.json"),
    (lambda root: (root / "bigru_minilm" / "metrics.json").unlink(), "bigru_minilm", "metrics.json"),
    (lambda root: (root / "goemotions_for_dair" / "tfidf_single" / "metrics.json").unlink(), "tfidf_single",
     "metrics.json"),
    (lambda root: (root / "xlstm_minilm" / "test_predictions.csv.gz").unlink(), "xlstm_minilm",
     "test_predictions.csv.gz"),
    (lambda root: (root / "xlstm_minilm" / "test_predictions.csv.gz").write_bytes(
        (root / "xlstm_minilm" / "test_predictions.csv.gz").read_bytes()[:300]), "xlstm_minilm",
     "test_predictions.csv.gz"),
    (lambda root: (root / "tfidf_multi" / "metrics.json").write_text('{"dev": {"macro_f1": 0.4}, "test": {}}'),
     "tfidf_multi", "metrics.json"),
], ids=["unfinished: checkpoints only", "no metrics.json", "no metrics.json in a folder of run folders",
        "no test predictions", "truncated test predictions", "no test scores"])
def test_an_unfinished_or_damaged_run_stops_the_catalog(runs: Path, tmp_path: Path, damage: Callable[[Path], None],
                                                        folder: str, file: str) -> None:
    """No run folder is left out without a word: the error names the folder and the missing or damaged file."""
    root = _copy_of_the_runs(runs, tmp_path)
    damage(root)
    for reads in (comparison.catalog, lambda r: comparison.leaderboard(r, n_boot=20)):
        with pytest.raises(RunFolderError, match=rf"/{folder}: {re.escape(file)}: ") as err:
            reads(root)
        assert err.value.folder.name == folder and err.value.file == file


def test_a_nan_dev_score_is_never_chosen(runs: Path, tmp_path: Path) -> None:
    good, broken = result("tfidf_single", 0.35), result("bigru_minilm", 0.6)
    broken.dev["macro_f1"] = float("nan")
    for order in ([broken, good], [good, broken]):
        with pytest.raises(ValueError, match=r"dev macro-F1 is NaN for \['bigru_minilm'\]"):
            tables.best_on_dev(order)
        with pytest.raises(ValueError, match="bigru_minilm"):
            comparison.significance({r.name: r for r in order})
    root = _copy_of_the_runs(runs, tmp_path)
    metrics = json.loads((root / "bigru_minilm" / "metrics.json").read_text())
    metrics["dev"]["macro_f1"] = float("nan")
    (root / "bigru_minilm" / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(RunFolderError, match="bigru_minilm: metrics.json: dev macro_f1 is nan"):
        comparison.leaderboard(root, n_boot=20)


@pytest.mark.parametrize(("name", "config", "message"), [
    ("bigru_minilm", {"model": "x", "target": "single", "model_config": {"arch": "transformer-xl"}}, "arch"),
    ("bigru_minilm", {"model": "mystery", "target": "single"}, "no known model family"),
    ("my_own_model", {"model": "tfidf_logreg", "target": "single"}, "no registered experiment"),
])
def test_catalog_names_a_folder_it_cannot_read(tmp_path: Path, name: str, config: dict, message: str) -> None:
    write_run(tmp_path, name, config, 0.5)
    with pytest.raises(ValueError, match=message) as err:
        comparison.catalog(tmp_path)
    assert name in str(err.value)


def test_catalog_names_a_garbled_folder(tmp_path: Path) -> None:
    write_run(tmp_path, "bigru_minilm", rnn("gru"), 0.5)
    (tmp_path / "bigru_minilm" / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="bigru_minilm"):
        comparison.catalog(tmp_path)
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        comparison.catalog(tmp_path / "no_such_folder")


# ------------------------------------------------------------------------------------------ leaderboard
@pytest.mark.parametrize(("single", "multi"), [
    ("bigru_minilm", "bigru_minilm_multi"), ("transformer_minilm_single", "transformer_minilm_multi"),
    ("tfidf_single", "tfidf_multi"), ("tuned_transformer", "tuned_transformer_multi"),
    ("bigru_minilm_seed1", "bigru_minilm_multi_seed1"),
])
def test_multi_sibling_follows_the_run_names(single: str, multi: str) -> None:
    assert comparison.multi_sibling(single) == multi


def test_multi_sibling_is_the_registry_run_name() -> None:
    for name in ("bigru_minilm", "tfidf_single", "transformer_minilm_single"):
        exp = configure(name, "full", {"train.seed": 2})
        assert comparison.multi_sibling(exp.run_name) == configure(name, "full", {"train.seed": 2,
                                                                                  "target": "multi"}).run_name


def test_leaderboard_rows_rules_and_siblings(runs: Path) -> None:
    board = comparison.leaderboard(runs, n_boot=100)
    assert set(board.index) == {"tfidf_single", "bigru_minilm", "xlstm_minilm", "transformer_minilm_single",
                                "tuned_transformer"}
    assert list(board["test_macro_f1"]) == sorted(board["test_macro_f1"], reverse=True)
    excluded = board.attrs["excluded"]
    assert excluded == {"bigru_minilm_seed1": comparison.RULES["seed"].format(1),
                        "transformer_minilm_single_subset4000_ep1": comparison.RULES["subset"].format(4000),
                        "dair_minilm": comparison.RULES["dataset"]}
    assert board.loc["tfidf_single", "multi_run"] == "tfidf_multi"
    assert board.loc["transformer_minilm_single", "multi_run"] == "transformer_minilm_multi"
    assert board.loc["tuned_transformer", "multi_run"] == "tuned_transformer_multi"
    assert board.loc[["bigru_minilm", "xlstm_minilm"], "multi_run"].isna().all()
    assert list(board.index[board["best_on_dev"]]) == [board["dev_macro_f1"].idxmax()]
    for metric in ("test_accuracy", "test_macro_f1", "multi_macro_f1"):
        rows = board[board[metric].notna()]
        assert (rows[f"{metric}_low"] <= rows[metric]).all() and (rows[metric] <= rows[f"{metric}_high"]).all()


def test_leaderboard_values_and_intervals_are_the_results_tables(runs: Path) -> None:
    board = comparison.leaderboard(runs, n_boot=100, seed=3)
    results = comparison.load(runs, ["bigru_minilm", "transformer_minilm_multi"])
    table = tables.results_table(list(results.values()), n_boot=100, seed=3)
    row = board.loc["bigru_minilm"]
    assert round(row["test_macro_f1"], 4) == table.loc["bigru_minilm", "test_macro_f1"]
    assert f"[{row['test_accuracy_low']:.4f}, {row['test_accuracy_high']:.4f}]" == table.loc["bigru_minilm",
                                                                                               "acc_95ci"]
    multi = board.loc["transformer_minilm_single"]
    assert round(multi["multi_macro_f1"], 4) == table.loc["transformer_minilm_multi", "test_macro_f1"]
    assert f"[{multi['multi_macro_f1_low']:.4f}, {multi['multi_macro_f1_high']:.4f}]" == table.loc[
        "transformer_minilm_multi", "mf1_95ci"]


def test_leaderboard_include_and_exclude(runs: Path) -> None:
    board = comparison.leaderboard(runs, n_boot=50, exclude=["xlstm_minilm", "tuned_transformer"])
    assert "xlstm_minilm" not in board.index and "tuned_transformer" not in board.index
    assert board.attrs["excluded"]["xlstm_minilm"] == comparison.RULES["caller"]
    assert board.attrs["excluded"]["tuned_transformer_multi"] == comparison.RULES["multi"]
    chosen = comparison.leaderboard(runs, n_boot=50, include=["transformer_minilm_single_subset4000_ep1",
                                                              "tfidf_single"])
    assert set(chosen.index) == {"transformer_minilm_single_subset4000_ep1", "tfidf_single"}
    with pytest.raises(ValueError, match="multi-label"):
        comparison.leaderboard(runs, n_boot=50, include=["tfidf_multi"])
    with pytest.raises(KeyError, match="no_such_run"):
        comparison.leaderboard(runs, n_boot=50, exclude=["no_such_run"])


# ------------------------------------------------------------------------------------------ significance
def test_significance_of_a_clearly_better_and_an_identical_model() -> None:
    good = result("good", 0.9)
    twin = RunResult(**{**vars(good), "name": "twin", "dev": {**good.dev, "macro_f1": good.dev["macro_f1"] - 0.01}})
    results = {"good": good, "twin": twin, "tfidf_single": result("tfidf_single", 0.3, seed=1)}
    table = comparison.significance(results, n_boot=200)
    assert set(table["best"]) == {"good"}, "chosen on dev macro-F1"
    assert list(table.index) == ["twin", "tfidf_single"]
    assert table["baseline"].to_dict() == {"twin": False, "tfidf_single": True}
    weak = table.loc["tfidf_single"]
    assert weak["macro_f1_gain"] > 0.3 and weak["macro_f1_low"] > 0
    for p in ("macro_f1_p", "accuracy_p", "mcnemar_p", "macro_f1_p_bh"):
        assert weak[p] < 0.05, p
    assert weak["best_only"] > weak["other_only"]
    same = table.loc["twin"]
    assert (same["macro_f1_gain"], same["accuracy_gain"], same["best_only"], same["other_only"]) == (0, 0, 0, 0)
    for p in ("macro_f1_p", "accuracy_p", "mcnemar_p"):
        assert same[p] == 1.0, p


def test_significance_checks_its_runs() -> None:
    results = {"a": result("a", 0.9), "b": result("b", 0.5, seed=1)}
    with pytest.raises(KeyError, match="tfidf_single"):
        comparison.significance(results, n_boot=20)
    with pytest.raises(KeyError, match="nobody"):
        comparison.significance(results, best="nobody", baseline="b", n_boot=20)
    assert list(comparison.significance(results, best="b", baseline="a", n_boot=20).index) == ["a"]
    results["b"].dev = {**results["b"].dev, "macro_f1": 0.99}  # best on dev, worse on test: dev decides
    assert set(comparison.significance(results, baseline="a", n_boot=20)["best"]) == {"b"}


# ------------------------------------------------------------------------------------------ cost and quality
def test_pareto_front() -> None:
    df = pd.DataFrame({"cost": [1.0, 2.0, 3.0, np.nan, 1.0, 5.0], "quality": [0.5, 0.6, 0.55, 0.9, 0.5, 0.7]},
                      index=list("abcdef"))
    front = comparison.pareto_front(df, "cost", "quality")
    assert front.to_dict() == {"a": True, "b": True, "c": False, "d": False, "e": True, "f": True}
    with pytest.raises(KeyError, match="speed"):
        comparison.pareto_front(df, "speed", "quality")


def test_cost_quality_reads_the_inference_benchmarks(runs: Path, tmp_path: Path) -> None:
    report = {"model_dir": "notebook_outputs/runs/transformer_minilm_single/model", "threads": 1,
              "results": {"fp32": {"sentences_per_s": 140.0}, "int8_dynamic": {"sentences_per_s": 360.0}}}
    (tmp_path / "inference_transformer_minilm_single_1t.json").write_text(json.dumps(report))
    table, board = comparison.catalog(runs), comparison.leaderboard(runs, n_boot=20)
    bench = inference_benchmarks(tmp_path)
    cost = comparison.cost_quality(table, board, bench)
    assert list(cost.index) == list(board.index)
    assert cost.loc["transformer_minilm_single", "sentences_per_s"] == 140.0
    assert cost.loc["transformer_minilm_single", "ms_per_sentence"] == pytest.approx(1000 / 140)
    assert cost["sentences_per_s"].isna().sum() == len(board) - 1
    assert cost.loc["bigru_minilm", "s_per_epoch"] == 12.0
    assert cost["test_macro_f1"].equals(board["test_macro_f1"])
    assert comparison.cost_quality(table, board, bench, path="int8_dynamic").loc[
        "transformer_minilm_single", "sentences_per_s"] == 360.0
    assert comparison.cost_quality(table, board, bench, threads=2)["sentences_per_s"].isna().all()


# ------------------------------------------------------------------------------------------ other views
def test_cross_domain_table(runs: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    rng = np.random.default_rng(0)
    dair_rows = pd.DataFrame({"ekman_label": [xd.SHARED[i % 5] for i in range(20)]})
    goemotions_rows = pd.DataFrame({"ekman_label": [EKMAN.classes[i % 7] for i in range(21)]})
    ekman = write_run(root / "goemotions_for_dair", "tfidf_single", {"model": "tfidf_logreg", "target": "single"}, 0.5)
    dair = write_run(root, "dair_minilm", transformer(labels="dair"), 0.9)
    save_evaluation(ekman, "dair_test", xd.ekman_model_on_dair(rng.random((20, 7)), dair_rows))
    save_evaluation(dair, "goemotions_test", xd.dair_model_on_goemotions(rng.random((21, 6)), goemotions_rows))
    save_evaluation(dair, "something_else", {"note": "not a cross-domain report"})
    table = comparison.cross_domain_table(root)
    assert list(table.index) == ["dair_minilm", "goemotions_for_dair/tfidf_single"]
    assert table["evaluation"].tolist() == ["goemotions_test", "dair_test"]
    assert table["trained_on"].tolist() == ["dair", "goemotions"]
    assert table.loc["dair_minilm", "n"] == 15 and table.loc["goemotions_for_dair/tfidf_single", "n"] == 20
    assert list(table.attrs["skipped"]) == ["dair_minilm/evaluations/something_else.json"]
    assert comparison.cross_domain_table(runs).empty


def test_training_curves(runs: Path) -> None:
    curves = comparison.training_curves(runs, ["bigru_minilm", "transformer_minilm_single", "tfidf_single"])
    rnn_part = curves[curves["run"] == "bigru_minilm"]
    assert rnn_part["seconds"].tolist() == [10.0, 30.0, 42.0]
    assert rnn_part["dev_macro_f1"].tolist() == [0.3, 0.4, 0.45]
    ft_part = curves[curves["run"] == "transformer_minilm_single"]
    assert ft_part["seconds"].tolist() == [60.0, 120.0] and set(ft_part["time_source"]) == {"config result"}
    assert list(curves.attrs["skipped"]) == ["tfidf_single"]


# ------------------------------------------------------------------------------------------ figures
def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_are_written(runs: Path, tmp_path: Path) -> None:
    board = comparison.leaderboard(runs, n_boot=50)
    results = comparison.load(runs, board.index)
    refs = {"test_accuracy": {"earlier BLSTM": 0.3, "earlier SVM": 0.25}, "multi_macro_f1": {"paper": 0.64}}
    fig = figures.leaderboard_figure(board, refs, path=tmp_path / "board.png")
    assert len(fig.axes) == 3, "accuracy, macro-F1 and multi-label macro-F1"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(refs["test_accuracy"])
    assert fig.axes[1].get_legend() is None
    assert [t.get_text() for t in fig.axes[2].get_legend().get_texts()] == ["paper"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(board.index)
    with pytest.raises(ValueError, match=r"references for \['test_accuracy'\], which is not a panel"):
        figures.leaderboard_figure(board.drop(columns=["test_accuracy"]), refs)
    figures.per_class_heatmap(tables.per_class_f1(list(results.values())).T, path=tmp_path / "per_class.png")
    grid = figures.confusion_grid({n: r.test["confusion_matrix"] for n, r in results.items()}, EKMAN.classes,
                                path=tmp_path / "confusions.png")
    assert sum(ax.get_visible() for ax in grid.axes) == len(results)
    curves = comparison.training_curves(runs, ["bigru_minilm", "transformer_minilm_single"])
    figures.curves_overlay(curves, path=tmp_path / "curves.png")
    cost = comparison.cost_quality(comparison.catalog(runs), board)
    fronts = {c: comparison.pareto_front(cost, c, "test_macro_f1") for c in ("s_per_epoch", "ms_per_sentence")}
    fig = figures.cost_quality_figure(cost, list(fronts), fronts=fronts, path=tmp_path / "cost.png")
    assert len(fig.axes) == 2 and "tfidf_single" in fig.axes[0].texts[-1].get_text(), \
        "rows without a cost are named under their panel, not dropped silently"
    for name in ("board", "per_class", "confusions", "curves", "cost"):
        assert is_png(tmp_path / f"{name}.png"), name



def test_comparison_figures_draw_the_reference_results_by_default(runs: Path, tmp_path: Path) -> None:
    board = comparison.leaderboard(runs, n_boot=20)
    paths = comparison.comparison_figures(runs, board, tmp_path / "images", prefix="09")
    assert sorted(p.name for p in paths.values()) == sorted(f"09_{k}.png" for k in (
        "leaderboard", "per_class_f1", "confusions", "curves", "cost_quality"))
    assert all(is_png(p) for p in paths.values())
    drawn = {}
    real = figures.leaderboard_figure
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures, "leaderboard_figure", lambda b, refs, **kw: drawn.update(refs) or real(b, refs, **kw))
        comparison.comparison_figures(runs, board, tmp_path / "again")
        assert drawn == references.lines("goemotions")
        drawn.clear()
        comparison.comparison_figures(runs, board, tmp_path / "mine", references={"test_accuracy": {"mine": 0.5}})
        assert drawn == {"test_accuracy": {"mine": 0.5}}

def test_curves_overlay_puts_untimed_runs_on_an_epoch_panel() -> None:
    curves = pd.DataFrame({"run": ["a", "a", "b", "b"], "epoch": [1, 2, 1, 2], "dev_macro_f1": [0.3, 0.4, 0.2, 0.5],
                           "seconds": [5.0, 10.0, np.nan, np.nan], "time_source": ["history"] * 2 + ["none"] * 2})
    fig = figures.curves_overlay(curves)
    assert [ax.get_xlabel() for ax in fig.axes] == ["training time (s, cumulative)", "epoch (no time recorded)"]


# ------------------------------------------------------------------------------------------ the committed runs
def test_the_committed_runs() -> None:
    table = comparison.catalog(COMMITTED)
    folders = {p.name for p in COMMITTED.iterdir() if p.is_dir()}
    assert set(table.index) | set(table.attrs["skipped"]) == folders, "every folder is a row or listed as skipped"
    assert {"tfidf", "rnn", "xlstm", "rwkv", "transformer"} <= set(table["family"])
    board = comparison.leaderboard(COMMITTED, n_boot=50)
    assert set(board.index) | set(board.attrs["excluded"]) | set(board["multi_run"].dropna()) == set(table.index)
    siblings = board["multi_run"].dropna().to_dict()
    for single, multi in (("tfidf_single", "tfidf_multi"), ("bigru_minilm", "bigru_minilm_multi"),
                          ("transformer_minilm_single", "transformer_minilm_multi")):
        if single in board.index and multi in table.index:
            assert siblings[single] == multi
    assert not any("subset" in n or "_seed" in n for n in board.index)
    assert (table.loc[board.index, "dataset"] == "goemotions").all()
    for name in board.index:
        stored = json.loads((COMMITTED / name / "metrics.json").read_text())["test"]
        assert board.loc[name, "test_macro_f1"] == stored["macro_f1"], name


# ------------------------------------------------------------------------------------------ ensembles as run folders
def ensemble_runs(root: Path) -> Path:
    """Runs an ensemble chooses from (GoEmotions, seed 0, dev predictions) and runs it must leave out."""
    write_run(root, "bigru_minilm", rnn("gru"), 0.6, RNN_HISTORY, dev=True, seed=1)
    write_run(root, "xlstm_minilm", rnn("xlstm"), 0.6, RNN_HISTORY, dev=True, seed=2)
    write_run(root, "bigru_minilm_seed1", rnn("gru", seed=1), 0.6, RNN_HISTORY, dev=True, seed=3)
    write_run(root, "tfidf_single", {"model": "tfidf_logreg", "target": "single", "seed": 0}, 0.35)
    write_run(root, "dair_minilm", transformer(labels="dair"), 0.9, FT_HISTORY, dev=True)
    write_run(root, "bigru_minilm_multi", rnn("gru", target="multi"), 0.6, RNN_HISTORY, dev=True, seed=4)
    write_run(root, "transformer_minilm_multi", transformer("multi"), 0.6, FT_HISTORY, dev=True, seed=5)
    return root


def test_ensemble_candidates_and_the_runs_left_out(tmp_path: Path) -> None:
    root = ensemble_runs(tmp_path)
    assert ensemble.candidates(root, "single") == (["bigru_minilm", "xlstm_minilm"], {
        "bigru_minilm_seed1": comparison.RULES["seed"].format(1), "dair_minilm": comparison.RULES["dataset"],
        "tfidf_single": "no dev predictions stored"})
    assert ensemble.candidates(root, "multi") == (["bigru_minilm_multi", "transformer_minilm_multi"], {})
    with pytest.raises(ValueError, match="target"):
        ensemble.candidates(root, "both")


def test_an_ensemble_run_folder_is_a_run_like_any_other(tmp_path: Path) -> None:
    root = ensemble_runs(tmp_path)
    ens, path = ensemble.write_ensemble_run(root, "single", max_size=5)
    ens_multi, path_multi = ensemble.write_ensemble_run(root, "multi", max_size=3)
    assert (path, path_multi) == (root / "ensemble_single", root / "ensemble_multi")
    r, r_multi = load_result(path), load_result(path_multi)
    assert r.config["model"] == "ensemble" and r.config["members"] == dict(zip(ens.members, ens.weights, strict=True))
    assert set(ens.members) <= {"bigru_minilm", "xlstm_minilm"}
    np.testing.assert_allclose(r.test_probs, ens.predict_proba("test"), atol=1e-5)
    assert (r.dev, r.test) == (ensemble.ensemble_result(ens).dev, ensemble.ensemble_result(ens).test)
    assert r.extra["dev_ids"] == r.extra["test_ids"] == [f"t{i}" for i in range(N)]
    assert r_multi.target == "multi" and r_multi.threshold == list(ens_multi.thresholds)
    assert r_multi.config["thresholds"] == dict(zip(EKMAN.classes, ens_multi.thresholds, strict=True))
    table = comparison.catalog(root)
    assert table.loc["ensemble_single", "family"] == "ensemble"
    assert table.loc["ensemble_single", "about"].startswith("ensemble chosen on dev: ")
    board = comparison.leaderboard(root, n_boot=20)
    assert {"ensemble_single", "bigru_minilm", "xlstm_minilm"} <= set(board.index)
    assert board.loc["ensemble_single", "multi_run"] == "ensemble_multi"
    assert board.loc["ensemble_single", "test_macro_f1"] == r.test["macro_f1"]
    assert board.loc["ensemble_single", "multi_macro_f1"] == r_multi.test["macro_f1"]
    tests = comparison.significance(comparison.load(root, board.index), best="ensemble_single",
                                    baseline="bigru_minilm", n_boot=20)
    assert set(tests.index) == set(board.index) - {"ensemble_single"} and tests["mcnemar_p"].notna().all()
    assert np.isfinite(calibration.calibration_table([r]).loc["ensemble_single", "temperature"])
    assert ensemble.candidates(root, "single")[1]["ensemble_single"] == "an ensemble (never a member)"


@pytest.mark.parametrize(("names", "message"), [
    (["bigru_minilm", "ensemble_single"], "'ensemble_single' is an ensemble"),
    (["bigru_minilm", "tfidf_single"], "'tfidf_single' has no dev predictions"),
    (["bigru_minilm", "bigru_minilm_multi"], r"\['bigru_minilm_multi'\] are not single-label"),
    (["bigru_minilm"], "at least two"),
    (["bigru_minilm", "no_such_run"], "no_such_run"),
])
def test_ensemble_of_named_runs_that_cannot_join(tmp_path: Path, names: list[str], message: str) -> None:
    root = ensemble_runs(tmp_path)
    ensemble.write_ensemble_run(root, "single", max_size=3)
    with pytest.raises(ValueError, match=message):
        ensemble.write_ensemble_run(root, "single", names, name="another")
    assert not (root / "another").exists()


def test_an_ensemble_folder_is_replaced_only_when_asked(tmp_path: Path) -> None:
    root = ensemble_runs(tmp_path)
    _, path = ensemble.write_ensemble_run(root, "single", max_size=3)
    written = {p: p.stat().st_mtime_ns for p in path.iterdir()}
    assert ensemble.write_ensemble_run(root, "single", max_size=3)[1] == path
    assert {p: p.stat().st_mtime_ns for p in path.iterdir()} == written, "the same choice rewrites nothing"
    write_run(root, "rwkv_minilm", rnn("rwkv"), 0.95, RNN_HISTORY, dev=True, seed=6)  # a new, much better run
    with pytest.raises(RecordError, match="holds another ensemble"):
        ensemble.write_ensemble_run(root, "single", max_size=3)
    assert {p: p.stat().st_mtime_ns for p in path.iterdir()} == written
    with pytest.raises(ValueError, match="another model, not of an ensemble"):
        ensemble.write_ensemble_run(root, "single", max_size=3, name="bigru_minilm", overwrite=True)
    assert load_result(root / "bigru_minilm").config["model_config"] == {"arch": "gru"}
    ens, _ = ensemble.write_ensemble_run(root, "single", max_size=3, overwrite=True)
    assert "rwkv_minilm" in ens.members and load_result(path).config["members"] == dict(
        zip(ens.members, ens.weights, strict=True))


def test_the_multi_label_leaderboard_has_a_row_per_multi_label_model(runs: Path) -> None:
    board = comparison.leaderboard(runs, n_boot=50, target="multi")
    assert set(board.index) == {"tfidf_multi", "transformer_minilm_multi", "tuned_transformer_multi"}
    assert {"test_macro_f1_low", "test_micro_f1"} <= set(board.columns) and "test_accuracy" not in board
    assert list(board.index[board["best_on_dev"]]) == [board["dev_macro_f1"].idxmax()]
    assert board.attrs["excluded"]["bigru_minilm"] == comparison.RULES["caller"]
    assert board.attrs["excluded"]["dair_minilm"] == comparison.RULES["dataset"]
    fewer = comparison.leaderboard(runs, n_boot=50, target="multi", exclude=["tfidf_multi"])
    assert "tfidf_multi" not in fewer.index


def test_the_multi_label_selection_names_unknown_runs_and_takes_an_empty_include_as_none(runs: Path) -> None:
    table = comparison.catalog(runs)
    with pytest.raises(KeyError, match="no_such_run"):
        comparison.selection(table, exclude=["no_such_run"], target="multi")
    assert comparison.selection(table, include=[], target="multi")[0] == []
