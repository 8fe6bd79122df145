"""Optuna studies: each model family (``search_spaces``) tuned on dev macro-F1 under a ``Budget``, resumable by many
workers; ``refine`` re-ranks the best on the full train split, ``retrain_best`` trains the winner and tests it once.
CLI (one worker): ``python -m src_helpers.experiments.studies --family rnn --profile full --n-trials 20``."""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.study import MaxTrialsCallback
from optuna.trial import FixedTrial, FrozenTrial, TrialState

from src_helpers.config import paths_for, portable_path
from src_helpers.data.textio import read_json
from src_helpers.evaluation.metrics import choose_best
from src_helpers.evaluation.references import load as load_references
from src_helpers.evaluation.results import RunResult
from src_helpers.evaluation.tables import train_time
from src_helpers.experiments.registry import FAMILIES, Experiment, finished, run_experiment
from src_helpers.experiments.run_folders import write_json
from src_helpers.experiments.search_spaces import (
    BUDGET_RANGES,
    PRUNERS,
    SPACES,
    UNTUNED,
    Budget,
    check_family,
    trial_experiment,
)
from src_helpers.experiments.study_storage import check_identity, load_study, study_data, tuning_splits
from src_helpers.validation import COUNT, INDEX, add_dataclass_flags, check_range, cli, dataclass_from_args

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def objective(family: str, splits: dict[str, pd.DataFrame], profile: str, budget: Budget,
              trials_dir: Path) -> Callable[[optuna.Trial], float]:
    """The function a study maximises: the trial's dev macro-F1, reported per epoch for pruning (test never read)."""
    dev_as_test = tuning_splits(splits)

    def run(trial: optuna.Trial) -> float:
        exp = trial_experiment(family, trial, profile, budget)

        def report(epoch: int, row: dict) -> None:
            trial.report(row["dev_macro_f1"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"dev macro-F1 {row['dev_macro_f1']:.4f} at epoch {epoch}")

        run_name = f"trial_{trial.number:04d}"
        try:
            result = run_experiment(exp, dev_as_test, trials_dir, resume=False, on_epoch_end=report, run_name=run_name)
        finally:
            shutil.rmtree(trials_dir / run_name, ignore_errors=True)  # trials keep only what the study stores
        trial.set_user_attr("dev_accuracy", result.dev.get("accuracy"))
        if len(result.history):
            trial.set_user_attr("epochs_run", len(result.history))
        return result.dev["macro_f1"]

    return run


def run_study(family: str, splits: dict[str, pd.DataFrame], profile: str = "quick", budget: Budget | None = None,
              study_name: str | None = None, storage: str | None = None, seed: int = 0, worker: int = 0,
              callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (), **storage_kwargs) -> optuna.Study:
    """Run (or continue) the study of ``family`` until ``budget.n_trials`` trials finish or ``budget.timeout`` ends."""
    budget, family = budget or Budget(), check_family(family)
    study_name = study_name or f"{profile}_{family}"
    studies = paths_for(profile, data=splits).ensure().studies
    study = load_study(study_name, storage or f"sqlite:///{studies / f'{study_name}.db'}", seed, worker,
                       budget.pruner, budget.epochs, **storage_kwargs)
    check_identity(study, family, study_data(family, splits, profile, budget))
    trials_dir = studies / f"{study_name}_trials"
    running = {f"trial_{t.number:04d}" for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for folder in trials_dir.glob("trial_*"):  # a killed worker leaves its trial's folder
        if folder.name not in running:
            shutil.rmtree(folder, ignore_errors=True)
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(UNTUNED[family], user_attrs={"untuned": True}, skip_if_exists=True)
    if len(study.get_trials(deepcopy=False, states=FINISHED)) < budget.n_trials:
        study.optimize(objective(family, splits, profile, budget, trials_dir), timeout=budget.timeout,
                       callbacks=[MaxTrialsCallback(budget.n_trials, states=FINISHED), *callbacks], gc_after_trial=True)
    _remove_if_empty(trials_dir)
    return study


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, dev macro-F1, the last epoch reported, duration and parameters."""
    table = study.trials_dataframe(attrs=("number", "state", "value", "duration", "params", "user_attrs"))
    table["duration"] = table["duration"].dt.total_seconds().round(1)
    table.columns = [c.removeprefix("params_").removeprefix("user_attrs_") for c in table.columns]
    return table.rename(columns={"value": "dev_macro_f1", "duration": "seconds"}).set_index("number")


def best_params(study: optuna.Study, family: str, path: str | Path | None = None) -> dict[str, Any]:
    """The best trial's parameters, dev macro-F1 and overrides (written as JSON to ``path`` if given)."""
    best = study.best_trial
    out = {"study": study.study_name, "family": family, "experiment": FAMILIES[family], "trial": best.number,
           "dev_macro_f1": best.value, "params": best.params, "overrides": SPACES[family](FixedTrial(best.params)),
           "finished_trials": len(study.get_trials(deepcopy=False, states=FINISHED))}
    if path is not None:
        write_json(Path(path), out)
    return out


def top_trials(study: optuna.Study, k: int) -> list[FrozenTrial]:
    """The study's ``k`` best COMPLETE trials with distinct parameters, best first."""
    distinct: dict[str, FrozenTrial] = {}
    for t in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: -t.value):
        distinct.setdefault(json.dumps(t.params, sort_keys=True, default=str), t)
    return list(distinct.values())[:k]


def untuned_trial(study: optuna.Study, family: str) -> FrozenTrial | None:
    """The study's first COMPLETE trial with the family's untuned parameters (``UNTUNED``), or None."""
    return next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if t.params == UNTUNED[family]), None)


def tuned_run_name(family: str, exp: Experiment, study_name: str | None = None, profile: str = "quick") -> str:
    """``tuned_<family>[_multi]`` for the family's default study ``<profile>_<family>``; another study's best is
    ``tuned_<study name without the profile>[_multi]`` (study ``full_rnn_epochs``: ``tuned_rnn_epochs``)."""
    stem = family if study_name in (None, f"{profile}_{family}") else study_name.removeprefix(f"{profile}_")
    return f"tuned_{stem}" + ("_multi" if exp.target == "multi" else "")


def finished_run(family: str, exp: Experiment, splits: dict[str, pd.DataFrame], profile: str = "quick",
                 runs_dir: str | Path | None = None, study_name: str | None = None) -> RunResult | None:
    """A finished run of ``exp`` on these splits (the untuned run or the tuned one), so it is not trained twice."""
    names = dict.fromkeys([exp.run_name, tuned_run_name(family, exp, study_name, profile)])
    return next((r for n in names if (r := finished(exp, splits, profile, runs_dir, run_name=n)) is not None), None)


def refine(study: optuna.Study, family: str, splits: dict[str, pd.DataFrame], profile: str = "quick",
           top_k: int = 3, path: str | Path | None = None, max_epochs: int | None = None,
           runs_dir: str | Path | None = None) -> pd.DataFrame:
    """The ``top_k`` and untuned configurations on the full train split, ranked on dev (``path``: JSON, resumable)."""
    check_range("top_k", top_k, COUNT)
    check_range("max_epochs", max_epochs, COUNT, optional=True)
    path = Path(path) if path else None
    done = {row["trial"]: row for row in (read_json(path) if path and path.is_file() else [])}
    folder = paths_for(profile, data=splits).ensure().studies / f"{study.study_name}_trials"
    candidates = top_trials(study, top_k)
    if (default := untuned_trial(study, family)) is not None and all(t.params != default.params for t in candidates):
        candidates.append(default)
    for trial in [t for t in candidates if t.number not in done]:
        exp = trial_experiment(family, trial.params, profile, Budget(epochs=max_epochs))  # the full split
        run_name, start = f"refine_{trial.number:04d}", time.perf_counter()
        result = finished_run(family, exp, splits, profile, runs_dir, study.study_name)
        run = None if result is None else result.name  # a finished run read, not trained
        if result is None:
            result = run_experiment(exp, tuning_splits(splits), folder, resume=True, run_name=run_name)
            if exp.family != "rnn":  # an RNN's checkpoints stay until the stage ends (its winner is tested from them)
                shutil.rmtree(folder / run_name, ignore_errors=True)
        seconds = train_time(result.history, result.config)[1] * 60  # all epochs, also of a resumed training
        seconds = time.perf_counter() - start if math.isnan(seconds) else seconds  # TF-IDF records none
        done[trial.number] = {"trial": trial.number, "untuned": trial.params == UNTUNED[family],
                              "subset_dev_macro_f1": trial.value, "dev_macro_f1": result.dev["macro_f1"],
                              "epochs_run": len(result.history), "seconds": round(seconds, 1), "run": run,
                              "params": trial.params}
        if path:
            write_json(path, sorted(done.values(), key=lambda r: -r["dev_macro_f1"]))
    rows = _ranked(done)
    winner = f"refine_{rows[0]['trial']:04d}" if rows else None
    for stage_dir in folder.glob("refine_*"):  # the winner's training is kept for retrain_best
        if stage_dir.name != winner:
            shutil.rmtree(stage_dir, ignore_errors=True)
    _remove_if_empty(folder)
    return pd.DataFrame(rows, columns=["trial", "untuned", "subset_dev_macro_f1", "dev_macro_f1", "epochs_run",
                                       "seconds", "run", "params"]).set_index("trial")


def _ranked(done: Mapping[int, dict]) -> list[dict]:
    """``refine``'s rows, best first; a NaN dev macro-F1 is a ``ValueError`` naming its trial."""
    if broken := [row["trial"] for row in done.values() if math.isnan(row["dev_macro_f1"])]:
        raise ValueError(f"refine: the full-split dev macro-F1 of trial {broken} is NaN: a broken training, "
                         "so no configuration is chosen (delete its row from the refine JSON to train it again)")
    return sorted(done.values(), key=lambda r: -r["dev_macro_f1"])


def retrain_best(study: optuna.Study, family: str, splits: dict[str, pd.DataFrame], profile: str = "quick",
                 runs_dir: str | Path | None = None, resume: bool = True, overrides: Mapping[str, Any] | None = None,
                 max_epochs: int | None = None, top_k: int = 1) -> RunResult:
    """The best configuration (``top_k`` > 1: ``refine``'s winner, its table in ``extra["refine"]``) trained on the
    full train split and tested once as ``tuned_run_name`` (``resume``: a finished one is returned)."""
    check_range("top_k", top_k, COUNT)
    check_range("max_epochs", max_epochs, COUNT, optional=True)
    table, params, stage_dir = None, study.best_params, None
    if top_k > 1:
        studies = paths_for(profile, data=splits).ensure().studies
        table = refine(study, family, splits, profile, top_k, studies / f"{study.study_name}.refine.json",
                       max_epochs, runs_dir)
        params = dict(table["params"].iloc[0])
        stage_dir = studies / f"{study.study_name}_trials" / f"refine_{table.index[0]:04d}"
    exp = trial_experiment(family, params, profile, Budget(epochs=max_epochs), overrides)
    runs_dir = Path(runs_dir) if runs_dir else paths_for(profile, data=splits).ensure().runs
    result = finished_run(family, exp, splits, profile, runs_dir, study.study_name) if resume else None
    run_dir = runs_dir / tuned_run_name(family, exp, study.study_name, profile)
    if result is None:
        if stage_dir and (stage_dir / "checkpoints" / "last.pt").is_file() and resume and not overrides:
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # an RNN winner resumes after its training
            run_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(stage_dir / "checkpoints", run_dir / "checkpoints")
        result = run_experiment(exp, splits, runs_dir, resume=resume, run_name=run_dir.name,
                                keep_checkpoints=profile == "full")
    if table is not None:  # refine's stage folder goes, its table stays with the result
        shutil.rmtree(stage_dir, ignore_errors=True)
        _remove_if_empty(stage_dir.parent)
        result.extra["refine"] = table
    return result


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def reference_table(tuned: Mapping[str, RunResult], untuned: Mapping[str, RunResult],
                    tuned_multi: RunResult | None = None, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each family's tuned and untuned run (the better on dev ``chosen_on_dev``), ``tuned_multi``, ``reference``."""
    columns = ["family", "chosen_on_dev", "dev_macro_f1", "test_accuracy", "test_macro_f1", "multi_macro_f1", "source"]
    rows: dict[str, dict] = {}
    for family, run in tuned.items():
        pair = {r.name: r for r in (run, untuned.get(family)) if r is not None}
        chosen = choose_best({n: r.dev["macro_f1"] for n, r in pair.items()})
        for name, r in pair.items():
            rows[name] = {"family": family, "chosen_on_dev": name == chosen, "dev_macro_f1": r.dev["macro_f1"],
                          "test_accuracy": r.test["accuracy"], "test_macro_f1": r.test["macro_f1"]}
    if tuned_multi is not None:
        rows[tuned_multi.name] = {"family": "transformer", "dev_macro_f1": tuned_multi.dev["macro_f1"],
                                  "multi_macro_f1": tuned_multi.test["macro_f1"]}
    for name, ref in (load_references("goemotions") if reference is None else reference).iterrows():
        rows[name] = {"family": "reference", ref["metric"]: ref["value"], "source": ref["source"]}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("model")


def headline(tuned: Mapping[str, RunResult]) -> dict[str, float]:
    """Scores for the executed notebook's name: each family's tuned test macro-F1, the GRU's test accuracy."""
    out = {f"{f}mf1": float(r.test["macro_f1"]) for f, r in tuned.items()}
    return out | ({"rnnacc": float(tuned["rnn"].test["accuracy"])} if "rnn" in tuned else {})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="An Optuna worker: tune one model family on dev macro-F1.")
    p.add_argument("--family", required=True, choices=tuple(FAMILIES))
    p.add_argument("--profile", choices=("quick", "full"), default="quick")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--study", default=None, help="study name (default: <profile>_<family>)")
    p.add_argument("--storage", default=None, help="SQLAlchemy URL or journal:<file> (default: studies/<study>.db)")
    add_dataclass_flags(p, Budget, BUDGET_RANGES, {"pruner": PRUNERS})
    p.add_argument("--seed", type=cli(INDEX), default=0)
    p.add_argument("--worker", type=cli(INDEX), default=0, help="worker index (varies the sampler's seed)")
    p.add_argument("--heartbeat", type=cli(COUNT), default=60, help="seconds between a running trial's heartbeats")
    p.add_argument("--grace", type=cli(COUNT), default=None, help="seconds without heartbeat before a trial is FAILED")
    p.add_argument("--threads", type=cli(COUNT), default=None, help="torch threads per trial")
    p.add_argument("--retrain", action="store_true", help="after the study: train the best on the full train split")
    p.add_argument("--refine", type=cli(COUNT), default=1, metavar="K",
                   help="with --retrain: first train the K best configurations on the full split, choose on dev")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from src_helpers.data.goemotions import load_for_profile

    a = parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    splits = load_for_profile(a.profile, a.data_dir)
    budget = dataclass_from_args(Budget, a)
    name = a.study or f"{a.profile}_{a.family}"
    ran: list[int] = []  # the trials this worker finished (the others' are in the study too)
    study = run_study(a.family, splits, a.profile, budget, name, a.storage, a.seed, a.worker, grace_period=a.grace,
                      callbacks=[lambda _, trial: ran.append(trial.number)], heartbeat_interval=a.heartbeat)
    summary = best_params(study, a.family, paths_for(a.profile, data=splits).studies / f"{name}.best.json")
    keys = ("study", "trial", "dev_macro_f1", "finished_trials", "params")
    print(json.dumps({"worker": a.worker, "ran": ran} | {k: summary[k] for k in keys}, indent=2, default=str))
    if a.retrain:
        result = retrain_best(study, a.family, splits, a.profile, top_k=a.refine)
        if "refine" in result.extra:
            print(result.extra["refine"].drop(columns="params").to_string())
        print(f"{result.name}: dev macro-F1 {result.dev['macro_f1']:.4f}, test macro-F1 "
              f"{result.test['macro_f1']:.4f} ({portable_path(result.run_dir)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
