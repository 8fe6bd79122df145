"""Where Optuna studies live and what each one holds.

Storage (``open_storage``): by default one SQLite file per study in ``paths_for(profile, data=splits).studies``,
opened with ``load_if_exists``, so running the notebook or the CLI again continues the study. Any SQLAlchemy URL
works the same way (``postgresql+psycopg://user@host/db`` for workers on many machines). RDB storages get
heartbeats: a worker killed mid-trial leaves a RUNNING trial whose heartbeat stops; the next worker marks it FAILED
after ``grace_period`` seconds and Optuna's retry callback enqueues it again. ``journal:<file>`` uses Optuna's
journal file storage (many processes on one machine, also on NFS; no heartbeats). SQLite takes a few concurrent
workers on one machine (each waits up to 60 s for the lock); beyond that use PostgreSQL.

Identity (``check_identity``): a study holds one family's trials on one data set. It records its family and the
fingerprint of the data its trials train and are scored on (``study_data``), and continuing it with another family,
other data or another ``train_rows`` is refused before any trial is added.
"""

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

from src_helpers.config import paths_for
from src_helpers.experiments.registry import experiment_splits
from src_helpers.experiments.search_spaces import UNTUNED, Budget, check_family, trial_experiment
from src_helpers.training.resume import data_fingerprint, describe_data, same_data


class StorageError(RuntimeError):
    """A study storage that cannot be opened (the URL is named, its password hidden)."""


def _hide_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def default_storage(study_name: str, profile: str = "quick", data: Mapping | None = None) -> str:
    """``sqlite:///<studies>/<study_name>.db`` for ``profile`` (and ``data``: see ``config.paths_for``)."""
    folder = paths_for(profile, data=data).ensure().studies
    return f"sqlite:///{folder / f'{study_name}.db'}"


def _retry_stale_trials(max_retry: int) -> dict[str, Any]:
    """The retry callback under the installed Optuna's names (``RetryHeartbeatStaleTrialCallback`` since 4.9,
    ``RetryFailedTrialCallback`` before)."""
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
    """Workers opening a new storage at once race to create its tables (Optuna does not lock that): the losers see
    "already exists" or a unique-key error; opening again finds them."""
    return type(err).__name__ == "IntegrityError" or "already exists" in str(err)


def load_study(study_name: str, storage: str, seed: int = 0, worker: int = 0, **storage_kwargs) -> optuna.Study:
    """Create the study or continue it (maximising dev macro-F1; median pruner; TPE seeded by ``seed``, ``worker``
    and the number of trials the study holds, so a worker started again draws new configurations)."""
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


def tuning_splits(splits: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The splits as a study's trainers get them: dev in the test slot too, so a study never reads test."""
    return {"train": splits["train"], "dev": splits["dev"], "test": splits["dev"]}


def study_data(family: str, splits: dict[str, pd.DataFrame], profile: str = "quick",
               budget: Budget | None = None) -> dict[str, Any]:
    """The fingerprint (``resume.data_fingerprint``) of what a study's trials train and are scored on: the
    budget's stratified train subset (``train_rows``) and dev. Test is no part of it (never read by a study)."""
    exp = trial_experiment(family, UNTUNED[check_family(family)], profile, budget)
    info = data_fingerprint(experiment_splits(exp, tuning_splits(splits)), train_rows=exp.train_rows)
    info.pop("n_test")  # the dev split again
    return info


def check_identity(study: optuna.Study, family: str, data: Mapping[str, Any]) -> None:
    """Record the study's family and data (``study_data``) in its storage (user attributes ``family``, ``data``)
    while it holds no trial that ran, else refuse other ones: a ``ValueError`` naming the study's and the asked
    ones, before any trial is added. A study holding trials but no record of them is refused too."""
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
