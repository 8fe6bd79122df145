"""Optuna workers as separate processes (``python -m src_helpers.experiments.studies``) on one study: a worker killed
with
SIGKILL mid-trial and restarted (heartbeats fail its trial, which is retried), two workers at once on SQLite, on a
journal file and on a throw-away PostgreSQL cluster on loopback, and workers that create a new storage at the
same instant. Every worker is a subprocess with this test's environment (offline, outputs under tmp)."""

from __future__ import annotations

import json
import multiprocessing
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from src_helpers.config import REPO_ROOT
from src_helpers.experiments import study_storage

pytestmark = pytest.mark.slow  # worker processes and PostgreSQL: `make test-slow`, not `make test`
optuna.logging.set_verbosity(optuna.logging.WARNING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
WAIT_S = 600  # a generous ceiling for a worker on a loaded 2-core machine; the tests take far less


# ------------------------------------------------------------------------------------------ worker processes
@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start workers (``start(name, *cli_args)``); any still running at teardown are killed."""
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "src_helpers.experiments.studies", "--profile", "quick",
                                     "--threads", "1", *args], cwd=REPO_ROOT, stdout=out, stderr=err,
                                    env=os.environ.copy())
        proc.name = name  # type: ignore[attr-defined]
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def finish(proc: subprocess.Popen, tmp_path: Path) -> dict[str, Any]:
    """Wait for a worker; its summary (the JSON object it prints last: ``worker``, ``ran``, ``finished_trials``)."""
    name = proc.name  # type: ignore[attr-defined]
    rc = proc.wait(timeout=WAIT_S)
    err = (tmp_path / f"{name}.err").read_text()
    assert rc == 0, f"worker {name} exited with {rc}:\n{err[-3000:]}"
    out = (tmp_path / f"{name}.out").read_text()
    found = re.search(r"^\{$.*^\}$", out, re.M | re.S)
    assert found, f"worker {name} printed no summary:\n{out[-2000:]}"
    return json.loads(found.group(0))


def wait_for(condition: Callable[[], Any], what: str, procs: list[subprocess.Popen]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if value := condition():
            return value
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"worker {proc.name} exited ({proc.returncode}) before {what}")  # type: ignore
        time.sleep(0.1)
    pytest.fail(f"no {what} after {WAIT_S} s")


def trials(url: str, study: str) -> list[FrozenTrial]:
    """The study's trials as the storage holds them now ([] before a worker created it)."""
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = study_storage.open_storage(url)
    try:
        return optuna.load_study(study_name=study, storage=storage).get_trials()
    except KeyError:
        return []
    finally:
        if isinstance(storage, optuna.storages.RDBStorage):
            storage.engine.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


# ------------------------------------------------------------------------------------------ kill -9
def test_a_killed_worker_leaves_a_failed_trial_that_is_retried(workers, tmp_path: Path) -> None:
    url, study, budget = sqlite_url(tmp_path / "kill.db"), "kill", 3
    args = ("--family", "rnn", "--study", study, "--storage", url, "--n-trials", str(budget), "--epochs", "3",
            "--heartbeat", "1", "--grace", "2")
    first = workers("first", *args)

    def mid_trial() -> FrozenTrial | None:  # a trial that has trained an epoch, after one that completed
        now = trials(url, study)
        running = [t for t in now if t.state == TrialState.RUNNING and t.intermediate_values]
        return running[0] if running and any(t.state == TrialState.COMPLETE for t in now) else None

    killed = wait_for(mid_trial, "trial in its training after a completed one", [first])
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=60) == -signal.SIGKILL
    before = {t.number: (t.state, t.value, t.params) for t in trials(url, study) if t.state in FINISHED}
    assert trials(url, study)[killed.number].state == TrialState.RUNNING, "nobody has failed it yet"
    assert len(before) < budget

    summary = finish(workers("restarted", *args), tmp_path)
    after = trials(url, study)
    assert after[killed.number].state == TrialState.FAIL, "the killed trial ends FAILED, not RUNNING"
    retries = [t for t in after if t.system_attrs.get("failed_trial") is not None]
    assert [t.system_attrs["failed_trial"] for t in retries] == [killed.number], "retried once, only the killed"
    assert retries[0].state in FINISHED and retries[0].params == killed.params, "the same configuration again"
    assert {t.number: (t.state, t.value, t.params) for t in after if t.number in before} == before, "none lost"
    finished = [t for t in after if t.state in FINISHED]
    assert len(finished) == budget, "the study reached its budget, no trial counted twice"
    assert [t.number for t in after] == list(range(len(after))) and len(after) == budget + 1
    assert sorted(summary["ran"]) == sorted(t.number for t in finished if t.number not in before)
    assert summary["finished_trials"] == budget


# ------------------------------------------------------------------------------------------ two workers
def pg_bin_dir() -> Path | None:
    """The folder of PostgreSQL's server programs: beside ``initdb`` on PATH, else Debian's
    ``/usr/lib/postgresql/<version>/bin`` (the newest)."""
    found = shutil.which("initdb")
    folders = [Path(found).resolve().parent] if found else []
    folders += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    return next((f for f in folders if (f / "initdb").exists() and (f / "pg_ctl").exists()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster in a temp folder on 127.0.0.1 (trust auth, fsync off) and a database
    ``studies`` in it; stopped and removed afterwards. initdb refuses root: as root the cluster runs as
    ``postgres`` (Debian's package creates it) or ``nobody``."""
    psycopg = pytest.importorskip("psycopg", reason="no PostgreSQL driver: pip install -e '.[studies]'")
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) not found: apt-get install postgresql")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="optuna-pg-"))
    if os.geteuid() == 0:
        user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
        if user is None or shutil.which("runuser") is None:
            pytest.skip("running as root without a postgres/nobody user or runuser: initdb refuses root")
        as_user = ["runuser", "-u", user, "--"]
        shutil.chown(folder, user)
    data, port = folder / "data", free_port()

    def pg(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], cwd=folder, capture_output=True, text=True, timeout=120)

    init = pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "tuner", "-A", "trust", "-E", "UTF8", "--no-sync")
    assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
    start = pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
               "-o", options, "start")
    try:
        assert start.returncode == 0, f"pg_ctl start failed:\n{start.stderr}\n{_tail(folder / 'server.log')}"
        with psycopg.connect(f"host=127.0.0.1 port={port} user=tuner dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE studies")
        yield f"postgresql+psycopg://tuner@127.0.0.1:{port}/studies"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _tail(path: Path) -> str:
    return path.read_text()[-2000:] if path.exists() else ""


def storage_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "postgresql":
        return request.getfixturevalue("postgres_url")
    return sqlite_url(tmp_path / "two.db") if kind == "sqlite" else f"journal:{tmp_path / 'two.journal'}"


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_two_workers_share_one_study(kind: str, workers, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url, study, budget = storage_url(kind, tmp_path, request), "two", 6
    args = ("--family", "rnn", "--study", study, "--storage", url, "--n-trials", str(budget), "--epochs", "1",
            "--train-rows", "150")
    procs = [workers(f"worker{k}", *args, "--worker", str(k)) for k in (0, 1)]
    summaries = [finish(p, tmp_path) for p in procs]

    ran = [s["ran"] for s in summaries]
    assert [s["worker"] for s in summaries] == [0, 1] and all(ran), f"both workers ran trials: {ran}"
    assert not set(ran[0]) & set(ran[1]), "no trial number twice"
    held = trials(url, study)
    assert sorted(ran[0] + ran[1]) == [t.number for t in held], "the study holds exactly the trials they ran"
    assert all(t.state in FINISHED for t in held), [t.state.name for t in held]
    assert budget <= len(held) <= budget + 1, "each stops at the budget; the other's trial in flight may add one"
    assert max(s["finished_trials"] for s in summaries) == len(held)
    spans = [[(t.datetime_start, t.datetime_complete) for t in held if t.number in r] for r in ran]
    assert any(a0 < b1 and b0 < a1 for a0, a1 in spans[0] for b0, b1 in spans[1]), "they trained at the same time"


# ------------------------------------------------------------------------------------------ a new storage at once
def _open_together(url: str, barrier: Any, results: Any) -> None:
    barrier.wait(timeout=120)
    try:
        study_storage.load_study("together", url)
        results.put("ok")
    except Exception as err:  # reported to the test, which names it
        results.put(f"{type(err).__name__}: {err}")


def test_workers_creating_a_new_storage_at_once_all_open_it(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")  # this process has imported everything: children start at once
    outcomes = []
    for attempt in range(3):
        url, barrier, results = sqlite_url(tmp_path / f"new{attempt}.db"), ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_together, args=(url, barrier, results)) for _ in range(4)]
        for proc in procs:
            proc.start()
        outcomes += [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        assert len(study_storage.load_study("together", url).get_trials()) == 0
    assert outcomes == ["ok"] * 12, [o for o in outcomes if o != "ok"]
