"""Where Optuna studies live (``open_storage``) and what each holds (``check_identity``: one family, one data set)."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from src_helpers.experiments.registry import experiment_splits
from src_helpers.experiments.search_spaces import PRUNERS, UNTUNED, Budget, check_family, trial_experiment
from src_helpers.training.resume import data_fingerprint, describe_data, same_data
from src_helpers.validation import check_choice


class StorageError(RuntimeError):
    """A study storage that cannot be opened (the URL is named, its password hidden)."""


def open_storage(url: str, heartbeat_interval: int = 60, grace_period: int | None = None,
                 max_retry: int = 2) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url`` (``journal:<file>`` or SQLAlchemy with heartbeats, retries) or ``StorageError``."""
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if retry := getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None):  # its name since Optuna 4.9
        retry_arg = "heartbeat_stale_trial_callback"
    else:
        retry, retry_arg = optuna.storages.RetryFailedTrialCallback, "failed_trial_callback"
    for attempt in range(3):
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():  # heartbeats and their retries are "experimental" in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                                  heartbeat_interval=heartbeat_interval,
                                                  grace_period=grace_period or 2 * heartbeat_interval,
                                                  **{retry_arg: retry(max_retry=max_retry)})
        except Exception as err:  # SQLAlchemy's errors for bad URLs, missing drivers, refused connections
            # workers creating a new storage at once race to create its tables: opening again finds them
            if attempt == 2 or not (type(err).__name__ == "IntegrityError" or "already exists" in str(err)):
                hidden = re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)  # the password
                raise StorageError(f"cannot open the study storage {hidden!r}: "
                                   f"{type(err).__name__}: {str(err).splitlines()[0]}") from err
            time.sleep(0.5 * (attempt + 1))


def sampler_and_pruner(seed: int = 0, worker: int = 0, trials_held: int = 0, pruner: str = "median",
                       max_epochs: int | None = None) -> tuple[optuna.samplers.TPESampler, optuna.pruners.BasePruner]:
    """A study's TPE sampler (seeded by ``seed``, ``worker`` and the trials held) and pruner on epochs: the median
    rule (from epoch 3, after 5 trials), or Hyperband (Li et al. 2018): successive halving from 1 epoch to
    ``max_epochs``, keeping a third at each rung, in brackets that start pruning at different epochs."""
    check_choice("pruner", pruner, PRUNERS)
    chosen = (optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2) if pruner == "median" else
              optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs or "auto", reduction_factor=3))
    return optuna.samplers.TPESampler(seed=seed + worker + 100_003 * trials_held), chosen


def load_study(study_name: str, storage: str, seed: int = 0, worker: int = 0, pruner: str = "median",
               max_epochs: int | None = None, **storage_kwargs) -> optuna.Study:
    """Create or continue the study, with ``sampler_and_pruner`` for its ``seed``, ``worker`` and trials held; a
    study keeps the pruner it was created with (another one is a ``ValueError``)."""
    study = optuna.create_study(study_name=study_name, storage=open_storage(storage, **storage_kwargs),
                                direction="maximize", load_if_exists=True,
                                pruner=sampler_and_pruner(pruner=pruner, max_epochs=max_epochs)[1])
    held = study.user_attrs.get("pruner", "median" if study.get_trials(deepcopy=False) else pruner)  # older: median
    if held != pruner:
        raise ValueError(f"study {study_name!r} prunes with {held!r}; asked for {pruner!r} "
                         "(name another study)")
    if "pruner" not in study.user_attrs and not study.get_trials(deepcopy=False):  # a new study; an older one's
        study.set_user_attr("pruner", pruner)  # file is read, not rewritten (it prunes with the median rule)
    study.sampler = sampler_and_pruner(seed, worker, len(study.get_trials(deepcopy=False)), pruner, max_epochs)[0]
    return study


def tuning_splits(splits: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The splits as a study's trainers get them: dev in the test slot too, so a study never reads test."""
    return {"train": splits["train"], "dev": splits["dev"], "test": splits["dev"]}


def study_data(family: str, splits: dict[str, pd.DataFrame], profile: str = "quick",
               budget: Budget | None = None) -> dict[str, Any]:
    """The fingerprint of what a study's trials train and are scored on: the budget's train subset and dev."""
    exp = trial_experiment(family, UNTUNED[check_family(family)], profile, budget)
    info = data_fingerprint(experiment_splits(exp, tuning_splits(splits)), train_rows=exp.train_rows)
    info.pop("n_test")  # the dev split again
    return info


def check_identity(study: optuna.Study, family: str, data: Mapping[str, Any]) -> None:
    """Record the study's family and data (``study_data``) while no trial has run, else refuse other ones."""
    attrs, name = study.user_attrs, study.study_name
    if not {"family", "data"} <= attrs.keys():
        if ran := [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]:
            raise ValueError(f"study {name!r} holds {len(ran)} trial(s) but no record of the family and data they "
                             "trained on: it cannot be continued (name another study)")
        for key, value in (("family", family), ("data", dict(data))):
            if key not in attrs:
                study.set_user_attr(key, value)
        attrs = study.user_attrs  # as stored: another worker may have recorded them first
    if attrs["family"] != family:
        raise ValueError(f"study {name!r} holds family {attrs['family']!r} trials; asked for {family!r} (a study "
                         "tunes one family: name another study)")
    if not same_data(attrs["data"], data):
        raise ValueError(f"study {name!r} holds trials trained and scored on {describe_data(attrs['data'])}; asked "
                         f"to continue on {describe_data(data)}: trials on other data are not comparable (name "
                         "another study, or use the data and --train-rows of its trials)")
