"""The report generator (``tools.report``, run as ``python -m tools.report``): the history book's index, the
README's results section, and the check that committed files hold exactly what the committed artifacts give."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from src_helpers.evaluation import tables
from src_helpers.evaluation.metrics import single_label_report
from src_helpers.evaluation.results import RunResult
from tools import readme_sections, report


def executed(folder: Path, name: str, profile: str = "full", headline: dict | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2026-11-25T08:37:02.6+00:00", "parameters": {"profile": profile}}
    if headline:
        nb.metadata["headline"] = headline
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


@pytest.mark.parametrize(("name", "scores"), [
    ("02_baseline_tfidf__2026-11-25__acc0.6396__mf10.5369__mlf10.5787.ipynb",
     {"acc": 0.6396, "mf1": 0.5369, "mlf1": 0.5787}),
    ("03_rnn_lstm_gru__2026-11-25__acc0.6746__bf16mf10.5566__bf16epochsec49__run2.ipynb",
     {"acc": 0.6746, "bf16mf1": 0.5566, "bf16epochsec": 49.0}),
    ("01_data_preprocessing__2026-11-25__n_train43410__n_dev5426.ipynb", {"n_train": 43410.0, "n_dev": 5426.0}),
    ("06_optuna_studies.ipynb", {}),
])
def test_headline_from_name(name: str, scores: dict) -> None:
    assert report.headline_from_name(name) == scores


def test_bad_names_are_errors_naming_the_file() -> None:
    with pytest.raises(ValueError, match="notes.ipynb: not an executed notebook"):
        report.headline_from_name("notes.ipynb")
    with pytest.raises(ValueError, match=r"02_x__2026-11-25__acc\.ipynb: 'acc' is neither"):
        report.headline_from_name("02_x__2026-11-25__acc.ipynb")


def test_index_prefers_the_unrounded_metadata_and_groups_by_notebook(tmp_path: Path) -> None:
    executed(tmp_path, "02_b__2026-11-25__acc0.6396.ipynb", headline={"acc": 0.639612})
    executed(tmp_path, "02_b__2026-11-26__acc0.65.ipynb")
    executed(tmp_path, "01_a__2026-11-25__n_train43410.ipynb")
    (tmp_path / "README.md").write_text("not a notebook")
    index = report.notebook_index(tmp_path)
    assert index["notebook"].tolist() == ["01_a", "02_b", "02_b"]
    assert index["headline"].tolist() == [{"n_train": 43410.0}, {"acc": 0.639612}, {"acc": 0.65}]
    assert set(index["date"]) == {"2026-11-25"} and set(index["profile"]) == {"full"}
    text = report.index_markdown(index)
    assert text.index("## 01_a") < text.index("## 02_b") and "n_train 43410 |" in text and "acc 0.6396 |" in text


def test_a_broken_notebook_is_named(tmp_path: Path) -> None:
    (tmp_path / "02_b__2026-11-25__acc0.6.ipynb").write_text("{")
    with pytest.raises(ValueError, match=r"02_b__2026-11-25__acc0.6.ipynb: not a notebook"):
        report.notebook_index(tmp_path)


def test_replace_section_keeps_the_rest_and_needs_the_markers() -> None:
    text = f"# Title\n\n{report.START}\nold table\n{report.END}\n\n## Next\n"
    new = report.replace_section(text, "new table\n")
    assert new == f"# Title\n\n{report.START}\nnew table\n{report.END}\n\n## Next\n"
    for broken in ("no markers", f"{report.END}\n{report.START}", f"{report.START}{report.START}{report.END}"):
        with pytest.raises(ValueError, match="README.md: needs one"):
            report.replace_section(broken, "x")


def test_committed_index_is_what_the_executed_notebooks_give() -> None:
    folder = report.REPO_ROOT / "notebook_outputs"
    committed = (folder / "INDEX.md").read_text(encoding="utf-8")
    assert committed == report.index_markdown(report.notebook_index(folder)), \
        "notebook_outputs/INDEX.md is out of date: run python -m tools.report"
    assert json.dumps(committed).count(".ipynb") >= 2 * len(list(folder.glob("[0-9][0-9]_*.ipynb")))


def test_committed_results_are_what_the_committed_runs_give(capsys: pytest.CaptureFixture[str]) -> None:
    """README's results section, notebook_outputs/results.md and results.csv: regenerated, never typed."""
    assert report.main(["--check"]) == 0, capsys.readouterr().out + " -> run python -m tools.report"
    said = capsys.readouterr().out
    assert said.startswith("up to date: ") and "README.md" in said and "docs/models.md" in said, said


def _edit_metrics(run: Path, split: str, scores: dict) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, split: scores and {**metrics[split], **scores}}))


@pytest.mark.parametrize(("damage", "file", "says"), [
    (lambda run: (run / "metrics.json").unlink(), "metrics.json", "missing (it holds config.json, history.csv"),
    (lambda run: (run / "test_predictions.csv.gz").write_bytes((run / "test_predictions.csv.gz").read_bytes()[:999]),
     "test_predictions.csv.gz", "unreadable, truncated or damaged (EOFError"),
    (lambda run: _edit_metrics(run, "test", {}), "metrics.json", "test has no accuracy, macro_f1"),
    (lambda run: _edit_metrics(run, "dev", {"macro_f1": float("nan")}), "metrics.json", "dev macro_f1 is nan"),
], ids=["no metrics.json", "truncated test predictions", "no test scores", "NaN dev macro-F1"])
def test_the_report_stops_at_a_damaged_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str], damage: Callable[[Path], None],
                                                  file: str, says: str) -> None:
    """A copy of two committed run folders, one damaged: the report names it in one line and exits 2."""
    runs = tmp_path / "runs"
    for name in ("bigru_minilm", "tfidf_single"):
        shutil.copytree(report.REPO_ROOT / "notebook_outputs" / "runs" / name, runs / name)
    damage(runs / "bigru_minilm")
    full = report.paths_for("full", report.REPO_ROOT)
    monkeypatch.setattr(report, "paths_for", lambda profile, root=None: dataclasses.replace(full, runs=runs))
    assert report.main(["--check", "--n-boot", "20"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: run folder {runs / 'bigru_minilm'}: {file}: ") and says in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_results_markdown_marks_the_dev_choice_and_shows_intervals() -> None:
    board = report.comparison.leaderboard(report.REPO_ROOT / "notebook_outputs" / "runs", n_boot=50, seed=0)
    text = report.results_markdown(board)
    chosen = board.index[board["best_on_dev"]][0]
    assert f"**{chosen}**" in text and text.count("**") == 4, "the dev choice, in the sentence and its row"
    row = next(line for line in text.splitlines() if line.startswith(f"| **{chosen}**"))
    assert f"{board.loc[chosen, 'test_accuracy']:.4f} [{board.loc[chosen, 'test_accuracy_low']:.3f}, " in row
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == len(board) + 2, "header, rule, rows"
    multi = report.comparison.leaderboard(report.REPO_ROOT / "notebook_outputs" / "runs", n_boot=50, seed=0,
                                          target="multi")
    with_multi = report.results_markdown(board, multi)
    multi_choice = multi.index[multi["best_on_dev"]][0]
    assert f"Multi-label, chosen on dev among {len(multi)} models" in with_multi and f"**{multi_choice}**" in with_multi


def test_the_results_say_how_optimistic_an_ensembles_dev_score_is() -> None:
    checks = {"ensemble_single": {"scores": [0.62, 0.63, 0.61], "best": "bigru_minilm", "best_dev": 0.6133}}
    text = report.cross_fitted_text(checks)
    assert "`ensemble_single` 0.6100-0.6300 (best other model `bigru_minilm`: 0.6133)" in text
    assert "seeds 0, 1, 2" in text and report.cross_fitted_text({}) == ""
    board = report.comparison.leaderboard(report.REPO_ROOT / "notebook_outputs" / "runs", n_boot=20, seed=0)
    assert report.cross_fitted_text(checks) in report.results_markdown(board, checks=checks)


# ------------------------------------------------------------------------------------------ named README sections
def test_named_sections_are_replaced_and_a_missing_one_is_named() -> None:
    text = "<!-- results:start -->\nold\n<!-- results:end -->\nprose\n<!-- speed:start -->\nold\n<!-- speed:end -->\n"
    readme = Path("README.md")
    new = report.place_sections({readme: text}, {"results": "R", "speed": "S\n"})[readme]
    assert new == text.replace("old", "R", 1).replace("old", "S")
    with pytest.raises(ValueError, match="section augmentation: its <!-- augmentation:start --> markers must be in "
                                         "exactly one of README.md, docs/\\*.md \\(found in no document\\)"):
        report.place_sections({readme: new}, {"augmentation": "A"})
    broken = text.replace("<!-- speed:end -->", "")
    with pytest.raises(ValueError, match="README.md: needs one <!-- speed:start --> line followed by one "
                                         "<!-- speed:end --> line"):
        report.place_sections({readme: broken}, {"speed": "S"})


def test_sections_go_to_the_document_that_holds_their_markers(tmp_path: Path) -> None:
    readme, page = tmp_path / "README.md", tmp_path / "docs" / "models.md"
    texts = {readme: "<!-- results:start -->\n<!-- results:end -->\n",
             page: "<!-- speed:start -->\n<!-- speed:end -->\n"}
    new = report.place_sections(texts, {"results": "R", "speed": "S"})
    assert "R" in new[readme] and "S" not in new[readme] and "S" in new[page] and "R" not in new[page]
    with pytest.raises(ValueError, match=r"section speed: .*\(found in README.md, models.md\)"):
        report.place_sections({readme: texts[page], page: texts[page]}, {"speed": "S"})


@pytest.mark.parametrize(("low", "high", "value", "says"), [
    (0.01, 0.03, 0.02, "a clear gain"), (-0.03, -0.01, -0.02, "a clear loss"),
    (-0.004, 0.026, 0.011, "not a clear gain"), (-0.026, 0.007, -0.009, "not a clear loss")])
def test_verdict_follows_the_interval(low: float, high: float, value: float, says: str) -> None:
    assert readme_sections.verdict(low, high, value).startswith(says)


def test_numbers_are_written_with_their_sign_and_direction() -> None:
    values = (0.0444, -0.019, 0.0002, -0.0004)
    assert [readme_sections.signed(v, 3) for v in values] == ["+0.044", "−0.019", "±0", "±0"]
    assert readme_sections.signed_interval(-0.0123, 0.0045, 0.0011) == "+0.0011 [−0.0123, +0.0045]"
    assert readme_sections.signed_interval(-0.00001, 0.02, 0.00002, digits=3) == "±0 [±0, +0.020]"
    assert readme_sections.times(2.0) == "2× faster" and readme_sections.times(0.5) == "2× slower"
    assert readme_sections.span(np.array([3.16, 12.04])) == "3.2–12" and readme_sections.span([4.0, 4.01]) == "4"


def fake_run(name: str, y: np.ndarray, noise: float, seed: int, dev_f1: float, seconds: float = 10.0) -> RunResult:
    """A single-label run whose test predictions are ``y`` with a share ``noise`` of random classes."""
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(len(y)) < noise, rng.integers(0, 7, len(y)), y)
    return RunResult(name=name, dev={"accuracy": dev_f1, "macro_f1": dev_f1}, test=single_label_report(y, pred),
                     test_probs=np.eye(7)[pred], test_pred=pred, y_test=y,
                     history=pd.DataFrame({"epoch": [1, 2, 3], "train_seconds": [seconds] * 3}))


def test_augmentation_conclusions_are_computed() -> None:
    y = np.random.default_rng(0).integers(0, 7, 700)
    runs = {"tfidf_single": fake_run("tfidf_single", y, 0.6, 1, 0.50),
            "tfidf_single_aug": fake_run("tfidf_single_aug", y, 0.1, 2, 0.52),
            "bigru_minilm": fake_run("bigru_minilm", y, 0.2, 3, 0.55),
            "bigru_minilm_aug": fake_run("bigru_minilm_aug", y, 0.2, 4, 0.60)}
    text = readme_sections.augmentation(runs, n_boot=200)
    assert "a clear gain (the interval excludes 0)" in text and "not a clear" in text
    assert "although the augmented one gives the BiGRU the better dev macro-F1" in text
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == 4, "header, rule, two models"


def test_speed_section_reports_means_over_seeds_and_computed_claims() -> None:
    y = np.random.default_rng(0).integers(0, 7, 700)
    seconds = dict(zip(readme_sections.SPEED, (100, 80, 70, 50), strict=True))
    runs = {}
    for i, (variant, s) in enumerate(seconds.items()):
        for seed in (0, 1, 2):
            name = variant + (f"_seed{seed}" if seed else "")
            dev = 0.40 if variant == "bilstm2_bf16_exact" else 0.55 + 0.01 * seed
            runs[name] = fake_run(name, y, 0.2, 10 * i + seed, dev, s + seed)
    text = readme_sections.speed(runs, train_rows=36000)
    assert "| fp32, bucketed, padded + packed | 101 ± 1 |" in text and "| **51 ± 1** |" in text
    assert "train 1.98× faster" in text and "That is 51 s per 36,000 examples" in text
    assert "outside it: bf16 autocast, exact-length batches" in text
    assert "Welch's t-test over seeds finds" in text and "of these 6 differences" in text


def test_tuning_throughput_section_is_computed_from_its_report(tmp_path: Path) -> None:
    setup = {"family": "rnn", "train_rows": 2000, "epochs": 2, "date": "2026-11-26", "cpu_count": 2}
    results = [{"workers": 1, "seconds": 480.0, "finished_trials": 8, "pruned": 1, "trials_per_hour": 60.0},
               {"workers": 2, "seconds": 240.0, "finished_trials": 9, "pruned": 3, "trials_per_hour": 135.0}]
    (tmp_path / readme_sections.TUNING).write_text(json.dumps({"setup": setup, "results": results}))
    text = readme_sections.tuning_throughput(tmp_path)
    assert "1 worker: 60 trials/h (8 trials, 1 pruned, in 480 s); 2 workers: 135 trials/h" in text
    assert "Two workers run 2.25× the trials per hour of one" in text and "2,000-row subset × 2 epochs" in text
    (tmp_path / readme_sections.TUNING).write_text(json.dumps({"setup": setup, "results": results[:1]}))
    with pytest.raises(ValueError, match=r"tuning_rnn\.json: results for 1 and 2 workers needed, found \[1\]"):
        readme_sections.tuning_throughput(tmp_path)


def test_dair_section_marks_the_val_choice_and_the_reference_result(tmp_path: Path) -> None:
    from src_helpers.evaluation import cross_domain as xd
    from src_helpers.experiments.run_folders import save_evaluation
    from tests.evaluation.test_comparison import transformer, write_run

    root = tmp_path / "runs"
    write_run(root, "bigru_minilm", {"model": "x", "target": "single", "model_config": {"arch": "gru"},
                                     "train_config": {"seed": 0}}, 0.6)
    with pytest.raises(FileNotFoundError, match="no DAIR run folder"):
        readme_sections.dair(root)
    for name, quality in (("dair_minilm", 0.9), ("dair_minilm_seed1", 0.2)):
        write_run(root, name, transformer(labels="dair", experiment={"name": "dair_minilm", "settings": {}}), quality)
    text = readme_sections.dair(root, n_boot=50)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[2].startswith("| **dair_minilm** |") and rows[3].startswith("| `dair_minilm_seed1` |")
    assert "bigru_minilm" not in text, "GoEmotions runs are not DAIR rows"
    assert "The MiniLM run val chooses, `dair_minilm`" in text
    assert "(reference results: ALBERT-base, earlier project 93.25%: below)" in text
    assert "Across data sets" not in text, "no cross-domain evaluation stored yet"
    rng = np.random.default_rng(0)
    dair_rows = pd.DataFrame({"ekman_label": [xd.SHARED[i % 5] for i in range(20)]})
    ekman = write_run(root / "goemotions_for_dair", "tfidf_single", {"model": "tfidf_logreg", "target": "single"}, 0.5)
    save_evaluation(ekman, "dair_test", xd.ekman_model_on_dair(rng.random((20, 7)), dair_rows))
    text = readme_sections.dair(root, n_boot=50)
    assert "| `goemotions_for_dair/tfidf_single` | goemotions → dair test | 20 |" in text


def test_the_number_of_resamples_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        report.main(["--check", "--n-boot", "0"])
    assert stop.value.code == 2 and "--n-boot: must be an integer >= 1, got '0'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ tables.inference_benchmarks
def bench(folder: Path, run: str, threads: int) -> Path:
    path = folder / f"inference_{run}_{threads}t.json"
    path.write_text(json.dumps({"model_dir": f"notebook_outputs/runs/{run}/model", "threads": threads,
                                "results": {"fp32": {"sentences_per_s": 100.0, "macro_f1": 0.6},
                                            "int8_dynamic": {"sentences_per_s": 250.0, "macro_f1": 0.59}}}))
    return path


def test_inference_benchmarks_one_row_per_file_and_path(tmp_path: Path) -> None:
    bench(tmp_path, "transformer_minilm_single", 2)
    bench(tmp_path, "transformer_minilm_multi", 1)
    (tmp_path / "train_speed_lstm.json").write_text("{}")  # another benchmark: not read
    table = tables.inference_benchmarks(tmp_path)
    assert table[["run", "threads", "path"]].values.tolist() == [
        ["transformer_minilm_multi", 1, "fp32"], ["transformer_minilm_multi", 1, "int8_dynamic"],
        ["transformer_minilm_single", 2, "fp32"], ["transformer_minilm_single", 2, "int8_dynamic"]]
    assert table["sentences_per_s"].tolist() == [100.0, 250.0, 100.0, 250.0]
    assert tables.inference_benchmarks(tmp_path / "none").empty


def test_inference_benchmarks_name_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "inference_x_1t.json").write_text('{"threads": 1}')
    with pytest.raises(ValueError, match=r"inference_x_1t\.json.*model_dir"):
        tables.inference_benchmarks(tmp_path)
    (tmp_path / "inference_x_1t.json").write_text("{")
    with pytest.raises(ValueError, match=r"inference_x_1t\.json:1"):
        tables.inference_benchmarks(tmp_path)


def test_the_committed_inference_benchmarks_read() -> None:
    table = tables.inference_benchmarks(readme_sections.BENCHMARKS)
    files = list(readme_sections.BENCHMARKS.glob("inference_*.json"))
    assert len(table) >= len(files) and set(table["path"]) >= ({"fp32", "int8_dynamic"} if files else set())
