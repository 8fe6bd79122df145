"""Optuna studies (``studies``, ``search_spaces``, ``study_storage``) in one process on the bundled sample: every
search space against its experiment, a tiny study per family end to end (study file, best parameters as JSON,
``retrain_best``), a study that continues where it stopped, pruning, and bad input (unknown family, unreachable
storage, a search-space typo). The worker processes (kill -9, two workers, PostgreSQL) are in
``test_studies_workers.py``."""

from __future__ import annotations

import json
import re
import shutil
import socket
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from src_helpers.config import REPO_ROOT, paths_for
from src_helpers.data.goemotions import load_for_profile, subsample
from src_helpers.evaluation.results import RunResult
from src_helpers.experiments import search_spaces, studies, study_storage
from src_helpers.experiments.registry import configure
from src_helpers.experiments.run_folders import load_run
from src_helpers.experiments.search_spaces import FAMILIES, UNTUNED, Budget
from src_helpers.experiments.study_storage import StorageError

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def splits() -> dict[str, pd.DataFrame]:
    return load_for_profile("quick")  # the bundled sample (conftest unsets $GOEMOTIONS_DIR)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sampled_trials(n: int, seed: int = 0) -> list[optuna.Trial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [study.ask() for _ in range(n)]


# ------------------------------------------------------------------------------------------ search spaces
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_space_gives_settings_the_experiment_accepts(family: str) -> None:
    for trial in sampled_trials(40):  # random draws reach every branch (LoRA on/off, each embedding init...)
        exp = search_spaces.trial_experiment(family, trial, "quick", Budget(train_rows=100, epochs=1))
        assert exp.name == FAMILIES[family] and exp.train_rows == 100
        if family != "tfidf":
            assert exp.train.epochs == 1, "the budget caps every trial's epochs"
        again = search_spaces.trial_experiment(family, trial.params, "quick", Budget(train_rows=100, epochs=1))
        assert again == exp, "a finished trial's params rebuild the same experiment"


def test_lora_trials_draw_their_own_higher_learning_rates() -> None:
    rates = {True: [], False: []}
    for trial in sampled_trials(60):
        settings = search_spaces.transformer_space(trial)
        rates[settings["train.lora"]].append(settings["train.learning_rate"])
    assert rates[True] and rates[False]
    assert min(rates[True]) >= 1e-4 and max(rates[True]) <= 2e-3, "adapters start at zero: they need a high rate"
    assert max(rates[False]) <= 3e-4


def test_budget_caps_epochs_and_keeps_a_smaller_suggestion() -> None:
    trial = sampled_trials(1)[0]
    search_spaces.transformer_space(trial)
    params = trial.params | {"epochs": 3}
    assert search_spaces.trial_experiment("transformer", params, "quick", Budget(epochs=2)).train.epochs == 2
    assert search_spaces.trial_experiment("transformer", params, "quick", Budget(epochs=5)).train.epochs == 3
    assert search_spaces.trial_experiment("transformer", params, "quick").train.epochs == 3, "no budget: the suggestion"


# ------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_tiny_study_per_family_end_to_end(family: str, splits: dict[str, pd.DataFrame]) -> None:
    folder, runs = paths_for("quick").studies, paths_for("quick").runs
    study = studies.run_study(family, splits, "quick", Budget(n_trials=2, train_rows=200, epochs=1))

    assert (folder / f"quick_{family}.db").is_file(), "the default storage: one SQLite file per study"
    assert not (folder / f"quick_{family}_trials").exists(), "trial folders are removed after each trial"
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:
        assert 0.0 <= t.value <= 1.0
        if family == "tfidf":
            assert t.intermediate_values == {}
        else:
            assert list(t.intermediate_values) == [1], "one epoch: dev macro-F1 reported at epoch 1"
            assert t.user_attrs["epochs_run"] == 1 and t.value == t.intermediate_values[1]

    path = folder / f"quick_{family}.best.json"
    best = studies.best_params(study, family, path)
    saved = json.loads(path.read_text())
    assert saved["trial"] == study.best_trial.number and saved["dev_macro_f1"] == max(t.value for t in trials)
    assert saved["params"] == best["params"] == study.best_params and saved["finished_trials"] == 2
    tuned = configure(FAMILIES[family], "quick", saved["overrides"])  # the JSON's overrides as configure takes them
    assert tuned == search_spaces.trial_experiment(family, study.best_params, "quick")

    result = studies.retrain_best(study, family, splits, "quick", max_epochs=1)
    assert result.name == f"tuned_{family}" and Path(result.run_dir) == runs / f"tuned_{family}"
    run = load_run(runs / f"tuned_{family}")
    assert run.predictions is not None and run.dev_predictions is not None
    assert list(run.predictions["id"]) == list(splits["test"]["comment_id"]), "evaluated on test, every row"
    assert list(run.dev_predictions["id"]) == list(splits["dev"]["comment_id"])
    assert result.test["macro_f1"] == pytest.approx(run.metrics["test"]["macro_f1"])
    settings = run.config["experiment"]["settings"]
    assert settings["train_rows"] is None, "retrained on the full train split, not the study's subset"
    for key, value in saved["overrides"].items():
        if key != "train.epochs":  # max_epochs=1 caps it in this smoke run
            assert settings[key] == value, f"the run folder trained the best trial's {key}"


@pytest.mark.slow
def test_a_study_continues_and_counts_finished_trials(splits: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "resume.db")
    first = studies.run_study("tfidf", splits, budget=Budget(n_trials=1, train_rows=120), study_name="s", storage=url)
    assert [t.number for t in first.trials] == [0]
    kept = first.trials[0]
    again = studies.run_study("tfidf", splits, budget=Budget(n_trials=2, train_rows=120), study_name="s", storage=url)
    assert [t.number for t in again.trials] == [0, 1], "the second call adds one trial to reach 2"
    assert (again.trials[0].params, again.trials[0].value) == (kept.params, kept.value)
    done = studies.run_study("tfidf", splits, budget=Budget(n_trials=2, train_rows=120), study_name="s", storage=url)
    assert len(done.trials) == 2, "a study at its budget runs no trial"


@pytest.mark.slow
def test_a_continued_study_draws_new_configurations(splits: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    """A worker started again on its study must not replay the configurations its first start drew."""
    url, budget = sqlite_url(tmp_path / "c.db"), Budget(n_trials=3, train_rows=120)
    assert len(studies.run_study("tfidf", splits, budget=budget, study_name="c", storage=url).trials) == 3
    again = studies.run_study("tfidf", splits, budget=Budget(n_trials=5, train_rows=120), study_name="c", storage=url)
    drawn = [json.dumps(t.params, sort_keys=True) for t in again.trials[1:]]  # trial 0: the enqueued untuned one
    assert len(again.trials) == 5
    assert len(set(drawn)) == len(drawn), f"a configuration drawn twice: {drawn}"


@pytest.mark.slow
def test_refine_reranks_the_best_configurations_on_the_full_split(splits: dict[str, pd.DataFrame], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url = sqlite_url(tmp_path / "refine.db")
    real = studies.run_study("tfidf", splits, budget=Budget(n_trials=4, train_rows=120), study_name="s", storage=url)
    study = optuna.create_study(study_name="r", storage=url, direction="maximize")
    for score, t in zip([0.1, 0.4, 0.3, 0.2], real.trials, strict=True):  # subset scores: untuned 0 last
        study.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=score,
                                                  user_attrs=t.user_attrs))
    seen = []

    def spy(exp, data, *args, **kwargs):
        seen.append((exp, data))
        return run_experiment(exp, data, *args, **kwargs)

    run_experiment = studies.run_experiment
    monkeypatch.setattr(studies, "run_experiment", spy)
    path = paths_for("quick").studies / "r.refine.json"  # where retrain_best(top_k=...) keeps it
    table = studies.refine(study, "tfidf", splits, top_k=2, path=path)

    assert studies.untuned_trial(study, "tfidf").number == 0
    assert sorted(table.index) == [0, 1, 2], "the study's 2 best trials and the untuned one"
    assert table["untuned"].to_dict() == {0: True, 1: False, 2: False}
    assert list(table["dev_macro_f1"]) == sorted(table["dev_macro_f1"], reverse=True), "best on the full split first"
    assert table.loc[1, "subset_dev_macro_f1"] == 0.4 and table.loc[0, "subset_dev_macro_f1"] == 0.1
    assert len(seen) == 3, "one full-split training per configuration"
    for exp, data in seen:
        assert exp.train_rows is None, "trained on the full train split, not the study's subset"
        assert data["test"] is splits["dev"], "test is never read: the trainers' test slot gets dev"
    assert json.loads(path.read_text())[0]["trial"] == table.index[0]

    seen.clear()
    again = studies.refine(study, "tfidf", splits, top_k=2, path=path)
    assert seen == [] and again.equals(table), "a finished stage is read back, not trained again"

    seen.clear()
    tuned = studies.retrain_best(study, "tfidf", splits, top_k=2)  # refine's table read back, its winner trained
    assert tuned.extra["refine"].equals(table) and len(seen) == 1 and seen[0][1]["test"] is splits["test"]
    settings = load_run(tuned.run_dir).config["experiment"]["settings"]
    assert settings["train.Cs"] == [table["params"].iloc[0]["C"]], "the refined winner is what gets tested"


def _study_of(url: str | None, name: str, family: str, scored: list[tuple[dict, float]]) -> optuna.Study:
    """A study of ``family``'s space holding COMPLETE trials with these parameters and subset scores."""
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    for params, value in scored:
        study.enqueue_trial(params)
        trial = study.ask()
        search_spaces.SPACES[family](trial)
        study.tell(trial, value)
    return study


@pytest.mark.slow
def test_a_configuration_with_a_finished_run_is_read_not_trained_again(
        splits: dict[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The untuned run of notebooks 02-05 and an earlier tuned run stand for their configurations in the second
    stage, and a winner with a finished run is returned, not retrained (the untuned one under its own name)."""
    untuned, runs, url = UNTUNED["rnn"], tmp_path / "runs", sqlite_url(tmp_path / "f.db")
    baseline = studies.run_experiment(search_spaces.trial_experiment("rnn", untuned, "quick"), splits, runs)
    assert baseline.name == "bigru_minilm", "the family's untuned run, as notebook 04 names it"
    seen = []

    def spy(exp, data, *args, **kwargs):
        seen.append(kwargs.get("run_name"))
        return run_experiment(exp, data, *args, **kwargs)

    run_experiment = studies.run_experiment
    monkeypatch.setattr(studies, "run_experiment", spy)
    kept = studies.retrain_best(_study_of(url, "u", "rnn", [(untuned, 0.5), (GOOD, 0.4)]), "rnn", splits, "quick", runs)
    assert seen == [] and kept.name == "bigru_minilm" and kept.dev == baseline.dev, "the untuned run itself"

    study = _study_of(url, "t", "rnn", [(untuned, 0.1), (GOOD, 0.4)])
    first = studies.retrain_best(study, "rnn", splits, "quick", runs)
    assert seen == ["tuned_t"] and first.name == "tuned_t"
    again = studies.retrain_best(study, "rnn", splits, "quick", runs)
    assert seen == ["tuned_t"] and again.dev == first.dev, "the finished tuned run is read back"
    assert studies.retrain_best(study, "rnn", splits, "quick", runs, resume=False).name == "tuned_t"
    assert seen == ["tuned_t"] * 2, "resume=False trains again"

    table = studies.refine(study, "rnn", splits, "quick", top_k=1, runs_dir=runs)
    assert seen == ["tuned_t"] * 2, "both configurations have finished runs: nothing trained"
    assert table["run"].to_dict() == {0: "bigru_minilm", 1: "tuned_t"}
    assert table.loc[0, "dev_macro_f1"] == baseline.dev["macro_f1"] and table.loc[0, "untuned"]
    assert table.loc[1, "dev_macro_f1"] == first.dev["macro_f1"]


@pytest.mark.slow
def test_the_second_stage_winner_of_an_rnn_is_tested_without_training_again(
        splits: dict[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from src_helpers.training import loop

    epochs = []
    train_one_epoch = loop.train_one_epoch
    monkeypatch.setattr(loop, "train_one_epoch", lambda *a, **k: epochs.append(1) or train_one_epoch(*a, **k))
    study = _study_of(sqlite_url(tmp_path / "w.db"), "w", "rnn", [(GOOD, 0.5), (GOOD | {"dropout": 0.3}, 0.4)])
    tuned = studies.retrain_best(study, "rnn", splits, "quick", tmp_path / "runs", top_k=2, max_epochs=2)

    table = tuned.extra["refine"]
    assert list(table["run"]) == [None, None] and len(epochs) == table["epochs_run"].sum() == 4, \
        "each candidate trained once, in the stage; the winner not again"
    assert tuned.name == "tuned_w" and tuned.dev["macro_f1"] == table["dev_macro_f1"].iloc[0], "study w's best"
    assert len(tuned.history) == table["epochs_run"].iloc[0]
    y_test, y_dev = splits["test"]["ekman"].to_numpy(), splits["dev"]["ekman"].to_numpy()
    assert np.array_equal(tuned.y_test, y_test) and not np.array_equal(y_test, y_dev), "tested on the test split"
    assert not (paths_for("quick").studies / "w_trials").exists(), "the stage's folders are gone"


def test_a_tuned_run_is_named_after_its_study() -> None:
    single = search_spaces.trial_experiment("rnn", GOOD, "full")
    multi = search_spaces.trial_experiment("rnn", GOOD, "full", overrides={"target": "multi"})
    assert studies.tuned_run_name("rnn", single) == "tuned_rnn", "no study named: the family's default study"
    assert studies.tuned_run_name("rnn", single, "full_rnn", "full") == "tuned_rnn"
    assert studies.tuned_run_name("rnn", multi, "full_rnn", "full") == "tuned_rnn_multi"
    assert studies.tuned_run_name("rnn", single, "full_rnn_epochs", "full") == "tuned_rnn_epochs", \
        "another study's best never overwrites the default study's tuned run"
    assert studies.tuned_run_name("rnn", single, "quick_rnn_epochs", "quick") == "tuned_rnn_epochs"


def test_a_study_without_its_untuned_trial_refines_its_best_only(tmp_path: Path) -> None:
    study = _study_of(sqlite_url(tmp_path / "u.db"), "u", "tfidf", [({**UNTUNED["tfidf"], "C": 3.0}, 0.5)])
    assert studies.untuned_trial(study, "tfidf") is None, "only the exact untuned parameters count"


# ------------------------------------------------------------------------------------------ pruning
def test_sampler_and_pruner_are_what_a_study_gets(tmp_path: Path) -> None:
    sampler, pruner = study_storage.sampler_and_pruner(seed=3, worker=1)
    assert isinstance(sampler, optuna.samplers.TPESampler) and isinstance(pruner, optuna.pruners.MedianPruner)
    study = study_storage.load_study("policy", sqlite_url(tmp_path / "policy.db"), seed=3, worker=1)
    assert type(study.pruner) is type(pruner) and vars(study.pruner) == vars(pruner)
    draw = [optuna.create_study(sampler=s).ask().suggest_float("x", 0, 1) for s in
            (study.sampler, study_storage.sampler_and_pruner(3, 1)[0], study_storage.sampler_and_pruner(3, 1, 2)[0])]
    assert draw[0] == draw[1] != draw[2], "the same seed: the same first point; a continued study draws anew"


GOOD = dict(arch="gru", hidden_dim=128, num_layers=1, pooling="meanmax", max_length=48, embeddings="minilm_frozen",
            loss="plain", learning_rate=5e-3, batch_size=32, warmup_ratio=0.0, dropout=0.1)


@pytest.mark.slow
def test_pruning_stops_a_trial_that_is_clearly_worse(splits: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    url, epochs = sqlite_url(tmp_path / "prune.db"), 3
    study = study_storage.load_study("prune", url)
    for _ in range(5):  # the median pruner's n_startup_trials
        study.enqueue_trial(GOOD)
    with warnings.catch_warnings():  # 1e-7 is outside the space's range on purpose: the model barely moves
        warnings.simplefilter("ignore")
        study.enqueue_trial(GOOD | {"learning_rate": 1e-7})
    study = studies.run_study("rnn", splits, budget=Budget(n_trials=6, epochs=epochs), study_name="prune", storage=url)

    good, bad = study.trials[:5], study.trials[5]
    assert [t.state for t in good] == [TrialState.COMPLETE] * 5
    assert all(len(t.intermediate_values) == epochs for t in good)
    assert bad.params["learning_rate"] == 1e-7
    assert bad.intermediate_values[1] < min(t.intermediate_values[1] for t in good), "clearly worse at epoch 1"
    assert bad.state == TrialState.PRUNED
    assert list(bad.intermediate_values) == [1, 2], "stopped at epoch 2, before its last: never at epoch 1 (warm-up)"
    table = studies.trials_table(study)
    assert table.loc[5, "state"] == "PRUNED" and list(table.loc[:4, "state"]) == ["COMPLETE"] * 5


# ------------------------------------------------------------------------------------------ bad input
def test_unknown_family_is_named(splits: dict[str, pd.DataFrame], tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match=r"unknown family 'cnn'; families: tfidf, rnn"):
        studies.run_study("cnn", splits, storage=sqlite_url(tmp_path / "x.db"))
    with pytest.raises(ValueError, match=r"unknown family 'cnn'"):
        search_spaces.trial_experiment("cnn", {})
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage and the choices on stderr, exit status 2
        studies.main(["--family", "cnn", "--storage", sqlite_url(tmp_path / "x.db")])
    assert exit_info.value.code == 2
    assert "invalid choice: 'cnn'" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists(), "nothing is created for an unknown family"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free now, and nothing listens there once closed


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # heartbeats: "experimental"
@pytest.mark.parametrize("url", [f"postgresql+psycopg://tuner:s3cret@127.0.0.1:{closed_port()}/studies",
                                 "nosuchdb://tuner:s3cret@127.0.0.1/studies"], ids=["closed-port", "bad-scheme"])
def test_unreachable_storage_is_named_with_its_password_hidden(url: str, splits: dict[str, pd.DataFrame]) -> None:
    shown = url.replace(":s3cret@", ":***@")
    with pytest.raises(StorageError, match="cannot open the study storage") as err:
        study_storage.open_storage(url)
    assert repr(shown) in str(err.value) and "s3cret" not in str(err.value)
    with pytest.raises(StorageError) as err:
        studies.run_study("rnn", splits, budget=Budget(n_trials=1, epochs=1), storage=url)
    assert repr(shown) in str(err.value) and "s3cret" not in str(err.value)


def test_search_space_typo_is_named(monkeypatch: pytest.MonkeyPatch, splits: dict[str, pd.DataFrame],
                                    tmp_path: Path) -> None:
    monkeypatch.setitem(search_spaces.SPACES, "rnn", lambda trial: {"model.hiden_dim": 64})
    with pytest.raises(ValueError, match=r"no setting 'model.hiden_dim' \(did you mean 'model.hidden_dim'\?\)"):
        search_spaces.trial_experiment("rnn", {})
    with pytest.raises(ValueError, match=r"'model.hiden_dim'"):
        studies.run_study("rnn", splits, budget=Budget(n_trials=1, epochs=1), storage=sqlite_url(tmp_path / "t.db"))


@pytest.mark.parametrize(("budget", "message"), [
    ({"n_trials": 0}, "n_trials must be an integer >= 1, got 0"),
    ({"n_trials": -3}, "n_trials must be an integer >= 1, got -3"),
    ({"n_trials": 2.5}, "n_trials must be an integer >= 1, got 2.5"),
    ({"timeout": -5}, "timeout must be a number > 0 or None, got -5"),
    ({"timeout": 0}, "timeout must be a number > 0 or None, got 0"),
    ({"train_rows": -5}, "train_rows must be an integer >= 1 or None, got -5"),
    ({"train_rows": 0}, "train_rows must be an integer >= 1 or None, got 0"),
    ({"epochs": 0}, "epochs must be an integer >= 1 or None, got 0"),
    ({"epochs": "3"}, "epochs must be an integer >= 1 or None, got '3'"),
])
def test_a_budget_out_of_range_is_refused_naming_the_argument(budget: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Budget(**budget)


@pytest.mark.parametrize(("flags", "message"), [
    (["--n-trials", "0"], "argument --n-trials: must be an integer >= 1, got '0'"),
    (["--n-trials", "-3"], "argument --n-trials: must be an integer >= 1, got '-3'"),
    (["--n-trials", "two"], "argument --n-trials: must be an integer >= 1, got 'two'"),
    (["--timeout", "-5"], "argument --timeout: must be a number > 0, got '-5'"),
    (["--train-rows", "-5"], "argument --train-rows: must be an integer >= 1, got '-5'"),
    (["--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
    (["--refine", "-2"], "argument --refine: must be an integer >= 1, got '-2'"),
    (["--threads", "0"], "argument --threads: must be an integer >= 1, got '0'"),
    (["--worker", "-1"], "argument --worker: must be an integer >= 0, got '-1'"),
    (["--seed", "-1"], "argument --seed: must be an integer >= 0, got '-1'"),
])
def test_cli_refuses_an_out_of_range_flag_before_opening_a_study(flags: list[str], message: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    url = sqlite_url(tmp_path / "cli.db")
    with pytest.raises(SystemExit) as exit_info:
        studies.main(["--family", "tfidf", "--storage", url, "--n-trials", "1", *flags])  # a later flag wins
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "cli.db").exists(), "refused before a study (and its waiting first trial) was created"


@pytest.mark.parametrize(("kwargs", "message"), [({"top_k": 0}, "top_k must be an integer >= 1, got 0"),
                                                 ({"top_k": -2}, "top_k must be an integer >= 1, got -2"),
                                                 ({"max_epochs": 0}, "max_epochs must be an integer >= 1 or None")])
def test_the_second_stage_refuses_out_of_range_arguments(kwargs: dict, message: str) -> None:
    study = _study_of(None, "k", "tfidf", [(UNTUNED["tfidf"], 0.5)])
    for stage in (studies.refine, studies.retrain_best):
        with pytest.raises(ValueError, match=re.escape(message)):
            stage(study, "tfidf", {}, **kwargs)


@pytest.mark.parametrize("family", list(search_spaces.FAMILIES))
def test_untuned_point_is_the_registered_experiment(family: str) -> None:
    """A study's first trial is the untuned experiment itself (TF-IDF: the C its grid chose on dev, 2.0)."""
    tuned = search_spaces.trial_experiment(family, UNTUNED[family], "full").settings()
    registered = configure(search_spaces.FAMILIES[family], "full").settings()
    if family == "tfidf":
        assert tuned.pop("train.Cs") == (2.0,) and 2.0 in registered.pop("train.Cs")
    assert tuned == registered


@pytest.mark.slow
def test_a_new_study_starts_with_the_untuned_configuration(splits: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    study = studies.run_study("tfidf", splits, budget=Budget(n_trials=2), storage=sqlite_url(tmp_path / "s.db"))
    first = study.trials[0]
    assert first.params == UNTUNED["tfidf"] and first.user_attrs["untuned"] is True
    assert not study.trials[1].user_attrs.get("untuned")


# ------------------------------------------------------------------------------------------ a study's identity
def held(url: str, name: str) -> int:
    return len(optuna.load_study(study_name=name, storage=url).get_trials())


@pytest.mark.slow
def test_a_study_records_its_family_and_data_and_continues_on_them(splits: dict[str, pd.DataFrame],
                                                                    tmp_path: Path) -> None:
    url, budget = sqlite_url(tmp_path / "same.db"), Budget(n_trials=1, train_rows=120)
    first = studies.run_study("tfidf", splits, budget=budget, study_name="s", storage=url)
    data = study_storage.study_data("tfidf", splits, "quick", budget)
    assert first.user_attrs == {"family": "tfidf", "data": data, "pruner": "median"}
    assert data["n_train"] < len(splits["train"]) and data["train_rows"] == 120, "the train subset trials see"
    again = studies.run_study("tfidf", splits, budget=Budget(n_trials=2, train_rows=120), study_name="s", storage=url)
    assert len(again.trials) == 2 and again.user_attrs == first.user_attrs


@pytest.mark.slow
def test_a_study_refuses_another_family_before_adding_a_trial(splits: dict[str, pd.DataFrame],
                                                               tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "family.db")
    studies.run_study("tfidf", splits, budget=Budget(n_trials=1, train_rows=120), study_name="full_rnn", storage=url)
    with pytest.raises(ValueError, match=r"study 'full_rnn' holds family 'tfidf' trials; asked for 'rnn'"):
        studies.run_study("rnn", splits, budget=Budget(n_trials=2, epochs=1), study_name="full_rnn", storage=url)
    assert held(url, "full_rnn") == 1, "no trial added"


@pytest.mark.parametrize("other", ["subset of the rows", "another train_rows"])
@pytest.mark.slow
def test_a_study_refuses_other_data_before_adding_a_trial(other: str, splits: dict[str, pd.DataFrame],
                                                          tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "data.db")
    studies.run_study("tfidf", splits, budget=Budget(n_trials=1), study_name="s", storage=url)
    if other == "subset of the rows":  # a data folder with fewer rows
        data, budget = {**splits, "train": subsample(splits["train"], 200)}, Budget(n_trials=2)
    else:
        data, budget = splits, Budget(n_trials=2, train_rows=200)
    with pytest.raises(ValueError, match=r"study 's' holds trials trained and scored on data \w{12} \(n_train=336, "
                                         r"n_dev=70, source=sample\); asked to continue on data \w{12} "
                                         r"\(n_train=(19\d|20\d), n_dev=70, source=sample") as err:
        studies.run_study("tfidf", data, budget=budget, study_name="s", storage=url)
    stored, asked = study_storage.study_data("tfidf", splits), study_storage.study_data("tfidf", data, "quick", budget)
    assert stored["sha256"][:12] in str(err.value) and asked["sha256"][:12] in str(err.value)
    assert held(url, "s") == 1, "no trial added"


def test_a_study_without_a_recorded_identity_is_refused(splits: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    """A study holding trials but no record of their family and data cannot be continued: neither is assumed."""
    url = sqlite_url(tmp_path / "old.db")
    _study_of(url, "old", "tfidf", [(UNTUNED["tfidf"], 0.5)])
    for family in ("tfidf", "rnn"):
        with pytest.raises(ValueError, match=r"study 'old' holds 1 trial\(s\) but no record of the family and data "
                                             r"they trained on: it cannot be continued"):
            studies.run_study(family, splits, budget=Budget(n_trials=2, epochs=1), study_name="old", storage=url)
    assert held(url, "old") == 1, "no trial added"


COMMITTED_STUDIES = sorted((REPO_ROOT / "notebook_outputs" / "studies").glob("full_*.db"))


@pytest.mark.parametrize("path", COMMITTED_STUDIES, ids=lambda p: p.stem)
def test_committed_studies_record_their_family_and_data(path: Path, splits: dict[str, pd.DataFrame],
                                                         tmp_path: Path) -> None:
    """Each committed study records its family and the official data its trials trained on (dev: all
    5,426 comments); continuing it with another family or on other data is refused. Read from a copy: the
    committed file is never opened for writing."""
    url, stem = sqlite_url(Path(shutil.copy(path, tmp_path))), path.stem.removeprefix("full_")
    family = next(f for f in FAMILIES if stem == f or stem.startswith(f"{f}_"))  # full_rnn_epochs: an rnn study
    study = optuna.load_study(study_name=path.stem, storage=url)
    assert study.user_attrs["family"] == family
    assert study.user_attrs["data"]["n_dev"] == 5426
    other = "rnn" if family != "rnn" else "tfidf"
    with pytest.raises(ValueError, match=rf"study '{path.stem}' holds family '{family}' trials; asked for '{other}'"):
        study_storage.check_identity(study, other, study_storage.study_data(other, splits))
    with pytest.raises(ValueError, match="trials on other data are not comparable"):
        study_storage.check_identity(study, family, study_storage.study_data(family, splits))


# ------------------------------------------------------------------------------------------ against references
def scored(name: str, dev_f1: float, acc: float, f1: float) -> RunResult:
    return RunResult(name=name, dev={"macro_f1": dev_f1}, test={"accuracy": acc, "macro_f1": f1},
                     test_probs=np.zeros((1, 7)), test_pred=np.zeros(1))


def test_reference_table_chooses_each_familys_run_on_dev_and_adds_the_references() -> None:
    untuned = {"rnn": scored("bigru_minilm", 0.61, 0.67, 0.60), "xlstm": scored("xlstm_minilm", 0.58, 0.67, 0.60),
               "transformer": scored("transformer_minilm_single", 0.61, 0.69, 0.61)}
    tuned = {"rnn": untuned["rnn"], "xlstm": scored("tuned_xlstm", 0.62, 0.66, 0.59),
             "transformer": scored("tuned_transformer", 0.60, 0.705, 0.61)}
    table = studies.reference_table(tuned, untuned, scored("tuned_transformer_multi", 0.63, float("nan"), 0.645))
    runs = table[table["family"] != "reference"]
    assert list(runs.index) == ["bigru_minilm", "tuned_xlstm", "xlstm_minilm", "tuned_transformer",
                                "transformer_minilm_single", "tuned_transformer_multi"], "a kept untuned run: one row"
    chosen = runs.index[runs["chosen_on_dev"] == True].tolist()  # noqa: E712 (NaN for the multi-label row)
    assert chosen == ["bigru_minilm", "tuned_xlstm", "transformer_minilm_single"], "dev decides, not test"
    assert runs.loc["tuned_transformer_multi", "multi_macro_f1"] == 0.645
    refs = table[table["family"] == "reference"]
    assert refs.loc["BERT-base, GoEmotions paper", "multi_macro_f1"] == 0.64
    assert refs.loc["BLSTM, earlier project", "test_accuracy"] == 0.6243 and refs["source"].notna().all()
    assert "ALBERT-base, earlier project" not in table.index, "DAIR's reference is not a GoEmotions one"
    assert studies.headline(tuned) == {"rnnmf1": 0.60, "xlstmmf1": 0.59, "transformermf1": 0.61, "rnnacc": 0.67}


def test_a_nan_dev_score_is_never_chosen_among_tuned_runs_or_configurations() -> None:
    untuned = {"rnn": scored("bigru_minilm", 0.61, 0.67, 0.60), "xlstm": scored("xlstm_minilm", 0.58, 0.67, 0.60)}
    broken, fine = scored("tuned_rnn", float("nan"), 0.7, 0.6), scored("tuned_xlstm", 0.62, 0.68, 0.59)
    with pytest.raises(ValueError, match=r"dev macro-F1 is NaN for \['tuned_rnn'\]"):
        studies.reference_table({"rnn": broken, "xlstm": fine}, untuned)
    with pytest.raises(ValueError, match=r"dev macro-F1 is NaN for \['bigru_minilm'\]"):
        studies.reference_table({"rnn": fine}, {"rnn": scored("bigru_minilm", float("nan"), 0.67, 0.60)})
    rows = {1: {"trial": 1, "dev_macro_f1": float("nan")}, 3: {"trial": 3, "dev_macro_f1": 0.5}}
    with pytest.raises(ValueError, match=r"dev macro-F1 of trial \[1\] is NaN"):
        studies._ranked(rows)
    rows[1]["dev_macro_f1"] = 0.6
    assert [r["trial"] for r in studies._ranked(rows)] == [1, 3]


def test_a_study_prunes_on_epochs_with_the_pruner_it_was_created_with(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = study_storage.load_study("s", storage, pruner="hyperband", max_epochs=6)
    assert isinstance(study.pruner, optuna.pruners.HyperbandPruner) and study.user_attrs["pruner"] == "hyperband"
    assert study.pruner._max_resource == 6 and study.pruner._min_resource == 1
    with pytest.raises(ValueError, match="study 's' prunes with 'hyperband'; asked for 'median'"):
        study_storage.load_study("s", storage)
    with pytest.raises(ValueError, match="pruner must be one of"):
        Budget(pruner="asha")


def test_a_study_from_before_pruners_were_recorded_keeps_the_median_pruner(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'old.db'}"
    old = optuna.create_study(study_name="old", storage=storage, direction="maximize")
    old.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(ValueError, match="study 'old' prunes with 'median'; asked for 'hyperband'"):
        study_storage.load_study("old", storage, pruner="hyperband", max_epochs=4)
    assert isinstance(study_storage.load_study("old", storage).pruner, optuna.pruners.MedianPruner)
    assert "pruner" not in optuna.load_study(study_name="old", storage=storage).user_attrs, \
        "an older (committed) study is read, its file not rewritten"
