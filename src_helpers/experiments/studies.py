"""Hyper-parameter studies with Optuna: every model family tuned on dev macro-F1, resumable, many workers.

A study tunes one *family*, starting from its named experiment (``FAMILIES``): each trial is that experiment with
the settings its search space suggests (``SPACES``, dotted overrides as in ``experiments``) plus the study's
budget (a stratified train subset, fewer epochs), trained and scored on **dev** (the trainers' test slot gets the
dev split too, so a study never touches test). Every epoch reports dev macro-F1 to the trial and a
``MedianPruner`` stops trials below the median of earlier trials at the same epoch (they end PRUNED).

Why the median pruner: a study here has tens of trials of at most a few epochs. Hyperband needs many trials
per bracket to be better than that and, with so few epochs, its brackets degenerate; the median rule prunes from
the 6th trial on (``n_startup_trials=5``) and never at the first epoch (``n_warmup_steps=2``, as epochs count
from 1), when GRU/LSTM runs with a long warm-up still look alike. The sampler is TPE, seeded (``seed + worker``:
two workers with one seed would propose the same first trials; plus the trials the study holds, so a worker
started again does not replay its first start's draws).

Storage (``open_storage``): by default one SQLite file per study in ``paths_for(profile, data=splits).studies``
(committed as history for ``full``), opened with ``load_if_exists``, so running the notebook or the CLI again
continues the study. Any SQLAlchemy URL works the same way (``postgresql+psycopg://user@host/db`` for workers on many
machines). RDB storages get heartbeats: a worker killed mid-trial leaves a RUNNING trial whose heartbeat stops;
the next worker marks it FAILED after ``grace_period`` seconds and Optuna's ``RetryFailedTrialCallback`` enqueues
it again. ``journal:<file>`` uses Optuna's journal file storage (many processes on one machine, also on NFS); it
has no heartbeats, so a killed worker's trial stays RUNNING there. SQLite takes a few concurrent workers on one
machine (writes are serialised; each waits up to 60 s for the lock); beyond that use PostgreSQL.

A study holds one family's trials on one data set: it records its family and the fingerprint of the data its
trials train and are scored on (``study_data``: the budget's train subset and dev) in its storage, and continuing
it with another family, other data or another ``train_rows`` is refused before any trial is added
(``check_identity``). A study written before studies recorded them (the committed ``full_*`` ones) is refused
until its identity is recorded once, on the data and ``train_rows`` its trials trained on (``record_identity``,
the CLI's ``--record-identity``).

A study's trial budget counts finished trials (COMPLETE or PRUNED) across all workers and restarts
(``MaxTrialsCallback``), so ``n_trials`` is the size of the study, not of one call. A new study's first trial
is the family's untuned configuration (``UNTUNED``), so the gain of tuning is measured under the study's budget.

CLI (a worker): ``python -m src_helpers.experiments.studies --family rnn --profile full --n-trials 20 --train-rows 8000
--epochs 4 [--storage URL] [--worker 1]``; ``--retrain`` trains the best configuration on the full train split,
``--refine 3`` first re-ranks the 3 best and the untuned configuration on the full split (``refine``: a subset's
ranking need not hold there). A configuration with a finished run on these data (``finished_run``: the untuned
run of notebooks 02-05, an earlier tuned run) is read, never trained twice.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import re
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
from src_helpers.experiments.registry import (
    STUDY_STARTS,
    Experiment,
    configure,
    experiment_splits,
    finished,
    run_experiment,
)
from src_helpers.experiments.run_folders import write_json
from src_helpers.training.resume import data_fingerprint, describe_data, same_data
from src_helpers.validation import COUNT, INDEX, POSITIVE, check_range, cli

log = logging.getLogger(__name__)

FAMILIES: dict[str, str] = STUDY_STARTS  # family -> the named experiment a study starts from (its untuned run)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class StorageError(RuntimeError):
    """A study storage that cannot be opened (the URL is named, its password hidden)."""


# ------------------------------------------------------------------------------------------ search spaces
def tfidf_space(trial: optuna.Trial) -> dict[str, Any]:
    """C over two decades around the untuned grid's choice (2.0); word n-grams up to 1-3 (more rarely helps on
    ~15-word comments); char n-gram windows of the usual 2-6 range; ``min_df`` trims typos; class weights
    trade accuracy for the rare classes' F1 (which macro-F1 rewards)."""
    char_lo = trial.suggest_int("char_ngram_min", 1, 3)
    return {"train.Cs": (trial.suggest_float("C", 0.1, 20.0, log=True),),
            "train.word_ngrams": (1, trial.suggest_int("word_ngram_max", 1, 3)),
            "train.char_ngrams": (char_lo, char_lo + trial.suggest_int("char_ngram_span", 2, 4)),
            "train.min_df": trial.suggest_int("min_df", 1, 5),
            "train.class_weight": trial.suggest_categorical("class_weight", [None, "balanced"])}


def _training_space(trial: optuna.Trial) -> dict[str, Any]:
    """What every neural family shares: learning rate (log scale, around AdamW's usual 1e-3), batch size,
    warm-up, and one way to favour rare classes (none, class weights, or label smoothing)."""
    loss = trial.suggest_categorical("loss", ["plain", "class_weights", "label_smoothing"])
    return {"train.learning_rate": trial.suggest_float("learning_rate", 3e-4, 5e-3, log=True),
            "train.batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "train.warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.15),
            "train.class_weights": loss == "class_weights",
            "train.label_smoothing": 0.1 if loss == "label_smoothing" else 0.0,
            "model.dropout": trial.suggest_float("dropout", 0.1, 0.5)}


def _embedding_space(trial: optuna.Trial) -> dict[str, Any]:
    """Embedding initialisation: MiniLM's vectors frozen (the untuned choice) or fine-tuned (2.4x slower steps
    on CPU), or a word vocabulary with random 128-d vectors (notebook 03's ablation lost to MiniLM)."""
    init = trial.suggest_categorical("embeddings", ["minilm_frozen", "minilm_trained", "random"])
    if init == "random":
        return {"text.tokenizer": "word", "text.embeddings": None, "model.embedding_dim": 128,
                "model.freeze_embeddings": False}
    return {"text.tokenizer": "minilm", "text.embeddings": "minilm", "model.embedding_dim": 384,
            "model.freeze_embeddings": init == "minilm_frozen"}


def rnn_space(trial: optuna.Trial) -> dict[str, Any]:
    """LSTM or GRU; width 128-512 (256 untuned) and 1-2 layers (comments are short); every pooling (mean+max
    won by hand); max length 48-96 tokens (64 cuts 0.3% of comments)."""
    return {"model.arch": trial.suggest_categorical("arch", ["gru", "lstm"]),
            "model.hidden_dim": trial.suggest_categorical("hidden_dim", [128, 256, 384, 512]),
            "model.num_layers": trial.suggest_int("num_layers", 1, 2),
            "model.pooling": trial.suggest_categorical("pooling", ["meanmax", "mean", "max", "last"]),
            "text.max_length": trial.suggest_categorical("max_length", [48, 64, 96]),
            **_embedding_space(trial), **_training_space(trial)}


def causal_space(trial: optuna.Trial) -> dict[str, Any]:
    """xLSTM / RWKV: width 64-256 (128 untuned), 2-3 blocks (xLSTM's sLSTM block sits at position 1), one or
    both reading directions (the untuned run read left to right only), pooling."""
    return {"model.input_dim": trial.suggest_categorical("input_dim", [64, 128, 256]),
            "model.num_layers": trial.suggest_int("num_layers", 2, 3),
            "model.bidirectional": trial.suggest_categorical("bidirectional", [False, True]),
            "model.pooling": trial.suggest_categorical("pooling", ["meanmax", "mean", "last"]),
            **_training_space(trial)}


def transformer_space(trial: optuna.Trial) -> dict[str, Any]:
    """Fine-tuning: learning rate 1e-5-3e-4 for all weights; LoRA adapters get their own range, 1e-4-2e-3
    (``lora_learning_rate``: they start at zero and train about 1% of the weights; the first study's LoRA trials,
    drawn from the full fine-tuning range at <= 8e-5, never left chance level); 1-4 epochs, warm-up, weight
    decay, batch size, class weights, frozen word embeddings (20% faster on CPU), LoRA rank/alpha."""
    lora = trial.suggest_categorical("lora", [False, True])
    lr = trial.suggest_float("lora_learning_rate", 1e-4, 2e-3, log=True) if lora else \
        trial.suggest_float("learning_rate", 1e-5, 3e-4, log=True)
    out = {"train.learning_rate": lr,
           "train.epochs": trial.suggest_int("epochs", 1, 4),
           "train.warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.15),
           "train.weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1),
           "train.batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
           "train.class_weights": trial.suggest_categorical("class_weights", [False, True]),
           "train.freeze_embeddings": trial.suggest_categorical("freeze_embeddings", [False, True]),
           "train.lora": lora}
    if lora:
        out |= {"train.lora_r": trial.suggest_categorical("lora_r", [4, 8, 16, 32]),
                "train.lora_alpha": trial.suggest_categorical("lora_alpha", [8, 16, 32, 64])}
    return out


# The untuned experiments as points of each space: a study's first trial, so it shows what tuning gains under
# the same budget (subset and epochs) as every other trial.
_UNTUNED_TRAINING = {"loss": "plain", "learning_rate": 2e-3, "batch_size": 64, "warmup_ratio": 0.05}
UNTUNED: dict[str, dict[str, Any]] = {
    "tfidf": {"C": 2.0, "word_ngram_max": 2, "char_ngram_min": 2, "char_ngram_span": 3, "min_df": 2,
              "class_weight": None},
    "rnn": {"arch": "gru", "hidden_dim": 256, "num_layers": 1, "pooling": "meanmax", "max_length": 64,
            "embeddings": "minilm_frozen", "dropout": 0.3, **_UNTUNED_TRAINING},
    "xlstm": {"input_dim": 128, "num_layers": 2, "bidirectional": False, "pooling": "meanmax", "dropout": 0.2,
              **_UNTUNED_TRAINING},
    "rwkv": {"input_dim": 128, "num_layers": 2, "bidirectional": False, "pooling": "meanmax", "dropout": 0.2,
             **_UNTUNED_TRAINING},
    "transformer": {"lora": False, "learning_rate": 1e-4, "epochs": 2, "warmup_ratio": 0.06, "weight_decay": 0.01,
                    "batch_size": 32, "class_weights": False, "freeze_embeddings": True},
}

Space = Callable[[optuna.Trial], dict[str, Any]]
SPACES: dict[str, Space] = {"tfidf": tfidf_space, "rnn": rnn_space, "xlstm": causal_space, "rwkv": causal_space,
                            "transformer": transformer_space}


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")
    return family


# ------------------------------------------------------------------------------------------ budgets
@dataclass(frozen=True)
class Budget:
    """What a study may spend: ``n_trials`` finished trials in all (all workers), ``timeout`` seconds per
    worker call, a stratified ``train_rows`` subset and ``epochs`` epochs per trial (None: the experiment's
    own; a space that tunes epochs, the transformer's, keeps a smaller suggestion)."""

    n_trials: int = 20
    timeout: float | None = None
    train_rows: int | None = None
    epochs: int | None = None

    def __post_init__(self) -> None:
        check_range("n_trials", self.n_trials, COUNT)
        check_range("timeout", self.timeout, POSITIVE, optional=True)
        check_range("train_rows", self.train_rows, COUNT, optional=True)
        check_range("epochs", self.epochs, COUNT, optional=True)

    def overrides(self, family: str, suggested: Mapping[str, Any]) -> dict[str, Any]:
        """The budget as overrides of a trial's ``suggested`` ones: the subset and the epochs."""
        out: dict[str, Any] = {"train_rows": self.train_rows} if self.train_rows else {}
        if self.epochs and family != "tfidf":
            out["train.epochs"] = min(self.epochs, suggested.get("train.epochs", self.epochs))
        return out


def trial_experiment(family: str, params: Mapping[str, Any] | optuna.Trial, profile: str = "quick",
                     budget: Budget | None = None) -> Experiment:
    """The family's experiment with a trial's suggestions (or a finished trial's ``params``) and the budget."""
    trial = params if isinstance(params, optuna.Trial | FixedTrial) else FixedTrial(dict(params))
    overrides = SPACES[check_family(family)](trial)
    if budget is not None:
        overrides |= budget.overrides(family, overrides)
    return configure(FAMILIES[family], profile, overrides)


# ------------------------------------------------------------------------------------------ storage
def _hide_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def default_storage(study_name: str, profile: str = "quick", data: Mapping | None = None) -> str:
    """``sqlite:///<studies>/<study_name>.db`` for ``profile`` (and ``data``: see ``config.paths_for``)."""
    folder = paths_for(profile, data=data).ensure().studies
    return f"sqlite:///{folder / f'{study_name}.db'}"


def _retry_stale_trials(max_retry: int) -> dict[str, Any]:
    """The retry callback under the installed Optuna's names: ``RetryHeartbeatStaleTrialCallback`` as
    ``heartbeat_stale_trial_callback`` since 4.9 (``RetryFailedTrialCallback`` / ``failed_trial_callback``,
    deprecated there, before)."""
    if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):
        with warnings.catch_warnings():  # "experimental": the interface may change (the test pins what we use)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        return {"heartbeat_stale_trial_callback": callback}
    return {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=max_retry)}


def open_storage(url: str, heartbeat_interval: int = 60, grace_period: int | None = None,
                 max_retry: int = 2) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``: ``journal:<file>`` (journal file) or an SQLAlchemy URL (SQLite,
    PostgreSQL, MySQL) with heartbeats and retries of stale trials. A storage that cannot be opened is a
    ``StorageError`` naming it."""
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if url.startswith("sqlite:///"):
        try:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot open the study storage {url!r}: {err}") from err
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                                              grace_period=grace_period or 2 * heartbeat_interval,
                                              **_retry_stale_trials(max_retry))
        except Exception as err:  # SQLAlchemy's errors for bad URLs, missing drivers, refused connections
            if attempt < 2 and _creation_race(err):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise StorageError(f"cannot open the study storage {_hide_password(url)!r}: "
                               f"{type(err).__name__}: {str(err).splitlines()[0]}") from err
    raise AssertionError("unreachable")


def _creation_race(err: Exception) -> bool:
    """Workers that open a new storage at the same instant race to create its tables and version rows (Optuna
    does not lock that): the losers see "already exists" or a unique-key error; opening again finds them."""
    return type(err).__name__ == "IntegrityError" or "already exists" in str(err)


def load_study(study_name: str, storage: str, seed: int = 0, worker: int = 0, **storage_kwargs) -> optuna.Study:
    """Create the study or continue it (maximising dev macro-F1; seeded TPE; median pruner).

    The sampler's seed is ``seed``, ``worker`` and the number of trials the study already holds: a worker that
    starts again on a continued study draws new configurations instead of replaying the ones its first start
    drew (TPE's first, random trials depend on the seed only)."""
    storage_ = _open_quietly(storage, **storage_kwargs)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)  # epochs count from 1
    study = optuna.create_study(study_name=study_name, storage=storage_, direction="maximize", load_if_exists=True,
                                pruner=pruner)
    held = len(study.get_trials(deepcopy=False))
    sampler = optuna.samplers.TPESampler(seed=seed + worker + 100_003 * held)
    return optuna.load_study(study_name=study_name, storage=storage_, sampler=sampler, pruner=pruner)


def _open_quietly(storage: str, **storage_kwargs: Any) -> optuna.storages.BaseStorage:
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna (and what we want)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return open_storage(storage, **storage_kwargs)


# ------------------------------------------------------------------------------------------ identity
def _tuning_splits(splits: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The splits as a study's trainers get them: dev in the test slot too, so a study never reads test."""
    return {"train": splits["train"], "dev": splits["dev"], "test": splits["dev"]}


def study_data(family: str, splits: dict[str, pd.DataFrame], profile: str = "quick",
               budget: Budget | None = None) -> dict[str, Any]:
    """The fingerprint (``resume.data_fingerprint``) of what a study's trials train and are scored on: the
    budget's stratified train subset (``train_rows``) and dev. Test is no part of it (never read by a study)."""
    exp = trial_experiment(family, UNTUNED[check_family(family)], profile, budget)
    info = data_fingerprint(experiment_splits(exp, _tuning_splits(splits)), train_rows=exp.train_rows)
    info.pop("n_test")  # the dev split again
    return info


class _Probe:
    """Stands in for a trial: records the names of the parameters a space draws; ``picks`` choose the option of
    each categorical parameter in turn (the first one past them), and ``sizes`` record how many each had."""

    def __init__(self, picks: list[int]) -> None:
        self.picks, self.sizes, self.names = picks, [], set()

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.names.add(name)
        self.sizes.append(len(choices))
        return choices[self.picks[len(self.sizes) - 1] if len(self.sizes) <= len(self.picks) else 0]

    def suggest_int(self, name: str, low: float, high: float, **_: Any) -> float:
        self.names.add(name)
        return low

    suggest_float = suggest_int


@functools.cache
def space_parameters(space: Space) -> frozenset[str]:
    """Every parameter ``space`` can draw, through all its branches (each combination of categorical options)."""
    names: set[str] = set()
    picks: list[int] = []
    while True:
        probe = _Probe(picks)
        space(probe)  # type: ignore[arg-type]
        names |= probe.names
        picks = picks + [0] * (len(probe.sizes) - len(picks))  # the whole path taken
        while picks and picks[-1] + 1 >= probe.sizes[len(picks) - 1]:
            picks.pop()
        if not picks:
            return frozenset(names)
        picks[-1] += 1


def trial_families(study: optuna.Study) -> list[str]:
    """The families whose search space can draw every parameter of each trial the study holds (a waiting trial's
    enqueued ones too), by name: a space may since have moved a parameter to another branch (the transformer's
    first LoRA trials drew ``learning_rate``); all families for a study without trials. Between spaces with the
    same parameters (xLSTM, RWKV), a family named by a part of the study's name (``full_xlstm``) decides."""
    held = [p for t in study.get_trials(deepcopy=False) if (p := t.params or t.system_attrs.get("fixed_params"))]
    fits = [f for f in FAMILIES if all(p.keys() <= space_parameters(SPACES[f]) for p in held)]
    named = [f for f in fits if f in study.study_name.split("_")]
    return named if held and len(named) == 1 else fits


def _other_family(study: optuna.Study, held: Sequence[str], family: str) -> ValueError:
    held_ = f"family {' or '.join(map(repr, held))}" if held else "no known family's"
    return ValueError(f"study {study.study_name!r} holds {held_} trials; asked for {family!r} (a study tunes one "
                      "family: name another study)")


def check_identity(study: optuna.Study, family: str, data: Mapping[str, Any], record_legacy: bool = False) -> None:
    """Record the study's family and data (``study_data``) in its storage (user attributes ``family``, ``data``)
    when it has none yet, else refuse other ones: a ``ValueError`` naming the study's and the asked ones, before
    any trial is added. A study written before studies recorded them: its trials' parameters must be the
    family's (``trial_families``), and once it holds trials that ran, the data they trained on cannot be told:
    refused, unless ``record_legacy`` (``record_identity``: the caller vouches for the data)."""
    attrs, name = study.user_attrs, study.study_name
    if "family" not in attrs and family not in (held := trial_families(study)):
        raise _other_family(study, held, family)
    ran = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    if "data" not in attrs and ran and not record_legacy:
        raise ValueError(f"study {name!r} holds {len(ran)} trial(s) but no record of the data they trained on (it "
                         f"was written before studies recorded it); if they trained on these data, "
                         f"{describe_data(data)}, record that once: tuning.record_identity, or the CLI's "
                         "--record-identity with the data folder and --train-rows of its trials")
    for key, value in (("family", family), ("data", dict(data))):
        if key not in attrs:
            study.set_user_attr(key, value)
    attrs = study.user_attrs  # as stored: another worker may have recorded them first
    if attrs["family"] != family:
        raise _other_family(study, [attrs["family"]], family)
    if not same_data(attrs["data"], data):
        raise ValueError(f"study {name!r} holds trials trained and scored on {describe_data(attrs['data'])}; asked "
                         f"to continue on {describe_data(data)}: trials on other data are not comparable (name "
                         "another study, or use the data and --train-rows of its trials)")


def record_identity(study_name: str, storage: str, family: str, splits: dict[str, pd.DataFrame],
                    profile: str = "quick", budget: Budget | None = None) -> dict[str, Any]:
    """Record ``family`` and the data of ``splits`` under ``budget`` (its ``train_rows``) in the existing study
    ``study_name``, written before studies recorded them (run once, on the data its trials trained on); its
    trials must be the family's. A study that records another family or data is refused (``check_identity``).
    Returns the study's user attributes."""
    try:
        study = optuna.load_study(study_name=study_name, storage=_open_quietly(storage))
    except KeyError:
        raise ValueError(f"no study {study_name!r} in {_hide_password(storage)!r} to record") from None
    check_identity(study, check_family(family), study_data(family, splits, profile, budget), record_legacy=True)
    return study.user_attrs


# ------------------------------------------------------------------------------------------ running
def objective(family: str, splits: dict[str, pd.DataFrame], profile: str, budget: Budget,
              trials_dir: Path) -> Callable[[optuna.Trial], float]:
    """The function a study maximises: train the trial's experiment, report dev macro-F1 per epoch (pruning),
    return the best epoch's dev macro-F1. The trainers' test slot gets dev: a study never reads test."""
    tuning_splits = _tuning_splits(splits)

    def run(trial: optuna.Trial) -> float:
        exp = trial_experiment(family, trial, profile, budget)

        def report(epoch: int, row: dict) -> None:
            trial.report(row["dev_macro_f1"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"dev macro-F1 {row['dev_macro_f1']:.4f} at epoch {epoch}")

        run_name = f"trial_{trial.number:04d}"
        try:
            result = run_experiment(exp, tuning_splits, trials_dir, resume=False, on_epoch_end=report,
                                    run_name=run_name)
        finally:
            shutil.rmtree(trials_dir / run_name, ignore_errors=True)  # trials keep only what the study stores
        trial.set_user_attr("dev_accuracy", result.dev.get("accuracy"))
        if len(result.history):
            trial.set_user_attr("epochs_run", len(result.history))
        return result.dev["macro_f1"]

    return run


def remove_dead_trial_folders(study: optuna.Study, trials_dir: Path) -> None:
    """Delete the folders of trials no worker runs any more (a killed worker leaves its trial's checkpoints)."""
    running = {f"trial_{t.number:04d}" for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for folder in trials_dir.glob("trial_*") if trials_dir.is_dir() else ():
        if folder.name not in running:
            shutil.rmtree(folder, ignore_errors=True)


def run_study(family: str, splits: dict[str, pd.DataFrame], profile: str = "quick", budget: Budget | None = None,
              study_name: str | None = None, storage: str | None = None, seed: int = 0, worker: int = 0,
              callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
              **storage_kwargs) -> optuna.Study:
    """Run (or continue) the study of ``family`` until it holds ``budget.n_trials`` finished trials or this
    call's ``budget.timeout`` runs out; returns the study. ``callbacks`` see each trial this call finishes.

    A study holds one family's trials on one data set (``check_identity``): continuing it with another family,
    other data or another ``train_rows`` is a ``ValueError`` raised before any trial is added."""
    budget, family = budget or Budget(), check_family(family)
    study_name = study_name or f"{profile}_{family}"
    storage = storage or default_storage(study_name, profile, splits)
    study = load_study(study_name, storage, seed, worker, **storage_kwargs)
    check_identity(study, family, study_data(family, splits, profile, budget))
    trials_dir = paths_for(profile, data=splits).ensure().studies / f"{study_name}_trials"
    remove_dead_trial_folders(study, trials_dir)
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(UNTUNED[family], user_attrs={"untuned": True}, skip_if_exists=True)
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    if done < budget.n_trials:
        study.optimize(objective(family, splits, profile, budget, trials_dir), timeout=budget.timeout,
                       callbacks=[MaxTrialsCallback(budget.n_trials, states=FINISHED), *callbacks],
                       gc_after_trial=True)
    if trials_dir.is_dir() and not any(trials_dir.iterdir()):
        trials_dir.rmdir()
    return study


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, dev macro-F1, the last epoch reported, duration and parameters."""
    table = study.trials_dataframe(attrs=("number", "state", "value", "duration", "params", "user_attrs"))
    table["duration"] = table["duration"].dt.total_seconds().round(1)
    table.columns = [c.removeprefix("params_").removeprefix("user_attrs_") for c in table.columns]
    return table.rename(columns={"value": "dev_macro_f1", "duration": "seconds"}).set_index("number")


def best_params(study: optuna.Study, family: str, path: str | Path | None = None) -> dict[str, Any]:
    """The best trial's parameters, its dev macro-F1 and the experiment overrides they stand for; written as
    JSON to ``path`` when given."""
    best = study.best_trial
    out = {"study": study.study_name, "family": family, "experiment": FAMILIES[family], "trial": best.number,
           "dev_macro_f1": best.value, "params": best.params,
           "overrides": SPACES[family](FixedTrial(best.params)),
           "finished_trials": len(study.get_trials(deepcopy=False, states=FINISHED))}
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_json(Path(path), out)
    return out


# ------------------------------------------------------------------------------------------ second fidelity
def top_trials(study: optuna.Study, k: int) -> list[FrozenTrial]:
    """The study's ``k`` best COMPLETE trials with distinct parameters, best first."""
    seen, out = set(), []
    for t in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: -t.value):
        key = json.dumps(t.params, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out[:k]


def is_untuned(family: str, params: Mapping[str, Any]) -> bool:
    """Whether ``params`` are the family's untuned configuration (``UNTUNED``)."""
    return dict(params) == UNTUNED[family]


def untuned_trial(study: optuna.Study, family: str) -> FrozenTrial | None:
    """The study's first COMPLETE trial with the family's untuned parameters (``UNTUNED``), or None."""
    return next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if is_untuned(family, t.params)), None)


def tuned_run_name(family: str, exp: Experiment) -> str:
    """``tuned_<family>``, ``tuned_<family>_multi`` for the multi-label target."""
    return f"tuned_{family}" + ("_multi" if exp.target == "multi" else "")


def finished_run(family: str, exp: Experiment, splits: dict[str, pd.DataFrame], profile: str = "quick",
                 runs_dir: str | Path | None = None) -> RunResult | None:
    """A finished run of ``exp`` on these splits in the runs folder, so it is not trained twice: the family's
    untuned run (notebooks 02-05) when ``exp`` is the registered experiment, or the family's tuned run
    (``tuned_run_name``) with the same settings; None when there is neither."""
    names = dict.fromkeys([exp.run_name, tuned_run_name(family, exp)])
    return next((r for n in names if (r := finished(exp, splits, profile, runs_dir, run_name=n)) is not None), None)


def refine(study: optuna.Study, family: str, splits: dict[str, pd.DataFrame], profile: str = "quick",
           top_k: int = 3, path: str | Path | None = None, max_epochs: int | None = None,
           runs_dir: str | Path | None = None) -> pd.DataFrame:
    """The second fidelity stage (successive halving over data size): the study's ``top_k`` configurations,
    ranked on its train subset, plus its untuned one (``untuned_trial``), each trained on the **full** train split
    with the experiment's own epochs (at most ``max_epochs``) and early stopping, and ranked again on dev. Test is
    never read (the trainers' test slot gets dev). A subset study's ranking need not hold on the full split; this
    stage chooses on the full one, and the untuned configuration among the candidates means a tuned one is only
    chosen when it beats the default there. A configuration with a finished run on these splits in ``runs_dir``
    (``finished_run``: the untuned run of notebooks 02-05, an earlier tuned run) is read, not trained again.

    Returns one row per configuration, best full-data dev macro-F1 first: trial, untuned, subset_dev_macro_f1,
    dev_macro_f1, epochs_run, seconds (training), run (the run folder read, None when trained here), params.
    With ``path`` (JSON) the table is written after each configuration, and a later call skips the trials already
    there (a killed stage resumes; an RNN also resumes its interrupted training from its checkpoints). The
    winner's RNN checkpoints stay in ``<studies>/<study>_trials/refine_<trial>`` for ``retrain_best``."""
    check_range("top_k", top_k, COUNT)
    check_range("max_epochs", max_epochs, COUNT, optional=True)
    path = Path(path) if path else None
    done = {row["trial"]: row for row in (read_json(path) if path and path.is_file() else [])}
    folder = paths_for(profile, data=splits).ensure().studies / f"{study.study_name}_trials"
    tuning_splits = _tuning_splits(splits)
    candidates = top_trials(study, top_k)
    default = untuned_trial(study, family)
    if default is not None and all(t.params != default.params for t in candidates):
        candidates.append(default)
    for trial in candidates:
        if trial.number in done:
            continue
        exp = trial_experiment(family, trial.params, profile, Budget(epochs=max_epochs))  # the full split
        run_name, start = f"refine_{trial.number:04d}", time.perf_counter()
        result, run = finished_run(family, exp, splits, profile, runs_dir), None
        if result is None:
            result = run_experiment(exp, tuning_splits, folder, resume=True, run_name=run_name)
            if exp.family != "rnn":  # an RNN's checkpoints stay until the stage ends (its winner is tested from them)
                shutil.rmtree(folder / run_name, ignore_errors=True)
        else:
            run = result.name
        seconds = train_time(result.history, result.config)[1] * 60  # all epochs, also of a resumed training
        seconds = time.perf_counter() - start if math.isnan(seconds) else seconds  # TF-IDF records none
        done[trial.number] = {"trial": trial.number, "untuned": is_untuned(family, trial.params),
                              "subset_dev_macro_f1": trial.value,
                              "dev_macro_f1": result.dev["macro_f1"], "epochs_run": len(result.history),
                              "seconds": round(seconds, 1), "run": run, "params": trial.params}
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, sorted(done.values(), key=lambda r: -r["dev_macro_f1"]))
    rows = _ranked(done)
    winner = f"refine_{rows[0]['trial']:04d}" if rows else None
    for stage_dir in folder.glob("refine_*"):  # the winner's training is kept for retrain_best
        if stage_dir.name != winner:
            shutil.rmtree(stage_dir, ignore_errors=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return pd.DataFrame(rows, columns=["trial", "untuned", "subset_dev_macro_f1", "dev_macro_f1", "epochs_run",
                                       "seconds", "run", "params"]).set_index("trial")


def _ranked(done: Mapping[int, dict]) -> list[dict]:
    """``refine``'s rows, best full-split dev macro-F1 first; a NaN one is a ``ValueError`` naming its trial."""
    if broken := [row["trial"] for row in done.values() if math.isnan(row["dev_macro_f1"])]:
        raise ValueError(f"refine: the full-split dev macro-F1 of trial {broken} is NaN: a broken training, "
                         "so no configuration is chosen (delete its row from the refine JSON to train it again)")
    return sorted(done.values(), key=lambda r: -r["dev_macro_f1"])


def retrain_best(study: optuna.Study, family: str, splits: dict[str, pd.DataFrame], profile: str = "quick",
                 runs_dir: str | Path | None = None, resume: bool = True,
                 overrides: Mapping[str, Any] | None = None, max_epochs: int | None = None,
                 top_k: int = 1) -> RunResult:
    """The best configuration trained on the **full** train split (no budget) with the experiment's own epochs
    (at most ``max_epochs``: a smoke run) and early stopping on dev, then evaluated once on test: run folder
    ``tuned_<family>`` (``tuned_<family>_multi`` for ``overrides={"target": "multi"}``). With ``resume``, a
    finished run of that configuration on these splits (``finished_run``) is returned instead: the untuned run
    when the second stage keeps the untuned configuration, so the result's name tells which it is; and an RNN
    winner trained by the second stage moves its checkpoints there, so it is only evaluated on test (its train
    and dev are these: ``resume.same_data(..., test_may_differ=True)``), not trained again.

    The best configuration: with ``top_k`` > 1 the winner of ``refine`` over the study's ``top_k`` best and its
    untuned one (the table, also saved as ``<studies>/<study>.refine.json``, in the result's ``extra["refine"]``);
    else the study's best trial."""
    check_range("top_k", top_k, COUNT)
    check_range("max_epochs", max_epochs, COUNT, optional=True)
    table, params, stage_dir = None, study.best_params, None
    if top_k > 1:
        studies = paths_for(profile, data=splits).ensure().studies
        table = refine(study, family, splits, profile, top_k, studies / f"{study.study_name}.refine.json",
                       max_epochs, runs_dir)
        params = dict(table["params"].iloc[0])
        stage_dir = studies / f"{study.study_name}_trials" / f"refine_{table.index[0]:04d}"
    settings = SPACES[family](FixedTrial(params))
    if max_epochs and family != "tfidf":
        settings["train.epochs"] = min(max_epochs, settings.get("train.epochs", max_epochs))
    exp = configure(FAMILIES[family], profile, {**settings, **(overrides or {})})
    runs_dir = Path(runs_dir) if runs_dir else paths_for(profile, data=splits).ensure().runs
    result = finished_run(family, exp, splits, profile, runs_dir) if resume else None
    if result is None:
        if stage_dir is not None and resume and not overrides:
            _adopt_checkpoints(stage_dir, runs_dir / tuned_run_name(family, exp))
        result = run_experiment(exp, splits, runs_dir, resume=resume, run_name=tuned_run_name(family, exp),
                                keep_checkpoints=profile == "full")
    if stage_dir is not None:
        shutil.rmtree(stage_dir, ignore_errors=True)
        if stage_dir.parent.is_dir() and not any(stage_dir.parent.iterdir()):
            stage_dir.parent.rmdir()
    if table is not None:
        result.extra["refine"] = table
    return result


# ------------------------------------------------------------------------------------------ against references
def reference_table(tuned: Mapping[str, RunResult], untuned: Mapping[str, RunResult],
                    tuned_multi: RunResult | None = None, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each family's tuned run (keys: families) next to its untuned run, the one with the better dev macro-F1
    marked ``chosen_on_dev`` (test decides nothing; a NaN dev score is a ``ValueError`` naming the run), the tuned
    multi-label run, then the reference results (``reference``, default ``references.load("goemotions")``: each
    value in its metric's column, with its source). Index: run or reference name; columns family, chosen_on_dev,
    dev_macro_f1, test_accuracy, test_macro_f1, multi_macro_f1, source. A family whose second stage kept the
    untuned configuration has one row."""
    columns = ["family", "chosen_on_dev", "dev_macro_f1", "test_accuracy", "test_macro_f1", "multi_macro_f1",
               "source"]
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
    reference = load_references("goemotions") if reference is None else reference
    for name, ref in reference.iterrows():
        rows[name] = {"family": "reference", ref["metric"]: ref["value"], "source": ref["source"]}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("model")


def headline(tuned: Mapping[str, RunResult]) -> dict[str, float]:
    """The executed notebook's name scores: each family's tuned test macro-F1 (``<family>mf1``), the GRU's
    test accuracy (``rnnacc``)."""
    out = {f"{f}mf1": float(r.test["macro_f1"]) for f, r in tuned.items()}
    return out | ({"rnnacc": float(tuned["rnn"].test["accuracy"])} if "rnn" in tuned else {})


def _adopt_checkpoints(stage_dir: Path, run_dir: Path) -> None:
    """Move a second-stage RNN run's checkpoints into ``run_dir`` (replacing any there), so the run resumes
    after its training; nothing when the stage kept none (TF-IDF, a transformer)."""
    if (stage_dir / "checkpoints" / "last.pt").is_file():
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(stage_dir / "checkpoints", run_dir / "checkpoints")


# ------------------------------------------------------------------------------------------ CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="An Optuna worker: tune one model family on dev macro-F1.")
    p.add_argument("--family", required=True, choices=tuple(FAMILIES))
    p.add_argument("--profile", choices=("quick", "full"), default="quick")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--study", default=None, help="study name (default: <profile>_<family>)")
    p.add_argument("--storage", default=None,
                   help="SQLAlchemy URL or journal:<file> (default: a SQLite file in notebook_outputs/studies)")
    p.add_argument("--n-trials", type=cli(COUNT), default=20, help="finished trials the study should hold in all")
    p.add_argument("--timeout", type=cli(POSITIVE), default=None, help="seconds this worker may run")
    p.add_argument("--train-rows", type=cli(COUNT), default=None, help="stratified train subset per trial")
    p.add_argument("--epochs", type=cli(COUNT), default=None, help="epochs per trial")
    p.add_argument("--seed", type=cli(INDEX), default=0)
    p.add_argument("--worker", type=cli(INDEX), default=0, help="worker index (varies the sampler's seed)")
    p.add_argument("--heartbeat", type=cli(COUNT), default=60, help="seconds between a running trial's heartbeats")
    p.add_argument("--grace", type=cli(COUNT), default=None,
                   help="seconds without heartbeat before a trial is FAILED")
    p.add_argument("--threads", type=cli(COUNT), default=None, help="torch threads per trial")
    p.add_argument("--retrain", action="store_true", help="after the study: train the best on the full train split")
    p.add_argument("--refine", type=cli(COUNT), default=1, metavar="K",
                   help="with --retrain: first train the K best configurations on the full split, choose on dev")
    p.add_argument("--record-identity", action="store_true",
                   help="only record the family and data in a study written before studies recorded them (give "
                        "the data and --train-rows its trials trained on); no trial is run")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from src_helpers.data.goemotions import load_for_profile

    a = parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    family = check_family(a.family)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    splits = load_for_profile(a.profile, a.data_dir)
    budget = Budget(a.n_trials, a.timeout, a.train_rows, a.epochs)
    name = a.study or f"{a.profile}_{family}"
    if a.record_identity:
        storage = a.storage or default_storage(name, a.profile, splits)
        print(json.dumps(record_identity(name, storage, family, splits, a.profile, budget), indent=2))
        return 0
    ran: list[int] = []  # the trials this worker finished (the others' are in the study too)
    study = run_study(family, splits, a.profile, budget, name, a.storage, a.seed, a.worker,
                      callbacks=[lambda _, trial: ran.append(trial.number)],
                      heartbeat_interval=a.heartbeat, grace_period=a.grace)
    studies = paths_for(a.profile, data=splits).ensure().studies
    summary = best_params(study, family, studies / f"{name}.best.json")
    keys = ("study", "trial", "dev_macro_f1", "finished_trials", "params")
    print(json.dumps({"worker": a.worker, "ran": ran} | {k: summary[k] for k in keys}, indent=2, default=str))
    if a.retrain:
        result = retrain_best(study, family, splits, a.profile, top_k=a.refine)
        if "refine" in result.extra:
            print(result.extra["refine"].drop(columns="params").to_string())
        print(f"{result.name}: dev macro-F1 {result.dev['macro_f1']:.4f}, test macro-F1 "
              f"{result.test['macro_f1']:.4f} ({portable_path(result.run_dir)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
