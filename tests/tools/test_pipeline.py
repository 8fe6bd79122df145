"""The notebook runner: history never overwritten, failed runs cleaned up, --data-dir, --dair-dir, portable metadata,
--notebooks-dir, SIGINT/SIGTERM stopping a run with nothing left behind."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from src_helpers.config import REPO_ROOT, paths_for
from src_helpers.experiments.run_folders import HEADLINE_PREFIX
from tools import interrupts, pipeline
from tools.pipeline import main, portable_metadata, portable_outputs, run_notebook

ABSOLUTE_MARKERS = tuple(f"/{top}/" for top in ("work", "root", "home", "tmp"))


def toy_notebook(folder: Path, name: str, body: str) -> Path:
    """A tiny notebook with a papermill ``parameters`` cell and one code cell."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"\ndata_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, path)
    return path


HEADLINE_CELL = """
from src_helpers.experiments.run_folders import record_headline
from src_helpers.config import paths_for
record_headline(paths_for(profile).notebooks_out, "{stem}", {{"acc": 0.5}})
"""


@pytest.mark.slow
def test_second_full_run_never_replaces_the_first(tmp_path: Path) -> None:
    nb = toy_notebook(tmp_path / "nbs", "90_toy.ipynb", HEADLINE_CELL.format(stem="90_toy"))
    first = run_notebook(nb, "full")
    first_bytes = first.read_bytes()
    second = run_notebook(nb, "full")
    third = run_notebook(nb, "full")
    assert first.parent == paths_for("full").notebooks_out
    assert first.name.startswith("90_toy__") and first.name.endswith("__acc0.5.ipynb")
    assert second.name == first.name.replace(".ipynb", "__run2.ipynb")
    assert third.name == first.name.replace(".ipynb", "__run3.ipynb")
    assert first.read_bytes() == first_bytes, "the first executed copy was rewritten"
    assert json.loads(first_bytes)["metadata"]["headline"] == {"acc": 0.5}, "the headline is in the metadata"
    prov = json.loads(first_bytes)["metadata"]["provenance"]
    assert prov["profile"] == "full" and prov["commit"] and prov["wall_seconds"] >= 0
    assert sorted(p.name for p in first.parent.glob("90_toy__*.ipynb")) == [first.name, second.name, third.name]
    assert not list(first.parent.glob(".running_*")) and not list(first.parent.glob(f"{HEADLINE_PREFIX}*"))


@pytest.mark.slow
def test_failed_run_keeps_failed_copy_and_leaves_no_headline(tmp_path: Path) -> None:
    body = HEADLINE_CELL.format(stem="91_boom") + 'raise RuntimeError("boom")\n'
    nb = toy_notebook(tmp_path / "nbs", "91_boom.ipynb", body)
    with pytest.raises(Exception, match="boom"):
        run_notebook(nb, "full")
    out_dir = paths_for("full").notebooks_out
    assert (out_dir / "FAILED_91_boom.ipynb").exists(), "the failed copy with the error is kept"
    assert not list(out_dir.glob(f"{HEADLINE_PREFIX}*")), "a failed run left its headline behind"
    assert not list(out_dir.glob("91_boom__*")) and not list(out_dir.glob(".running_*"))


def test_relative_data_dir_is_resolved_against_the_callers_cwd(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mydata" / "goemotions").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    seen: list[object] = []
    monkeypatch.setattr(pipeline, "run_notebook", lambda nb, profile, data_dir=None, **kw: seen.append(data_dir)
                        or tmp_path / nb.name)
    assert main(["--profile", "quick", "--data-dir", "mydata/goemotions", "--only", "02"]) == 0
    assert seen == [tmp_path / "mydata" / "goemotions"]


def test_missing_data_dir_fails_before_any_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "run_notebook", lambda *a, **kw: pytest.fail("a notebook ran"))
    with pytest.raises(SystemExit):
        main(["--profile", "quick", "--data-dir", "nowhere", "--only", "02"])
    err = capsys.readouterr().err
    assert "--data-dir" in err and str(tmp_path / "nowhere") in err
    with pytest.raises(FileNotFoundError, match="data_dir"):
        run_notebook(tmp_path / "x.ipynb", "quick", data_dir="nowhere")


@pytest.mark.slow
def test_kernel_sees_relative_data_dir_and_no_absolute_path_is_recorded(tmp_path: Path, tiny_goemotions: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(tiny_goemotions, tmp_path / "mydata")  # a full run reads its data (official or not)
    body = "from src_helpers.data.goemotions import resolve_data_dir\nprint('DATA', resolve_data_dir(data_dir).name)"
    nb = toy_notebook(tmp_path / "nbs", "92_data.ipynb", body)  # the kernel runs in nbs/, the caller in tmp_path
    monkeypatch.chdir(tmp_path)
    out = run_notebook(nb, "full", data_dir="mydata")
    executed = json.loads(out.read_text(encoding="utf-8"))
    printed = "".join("".join(o.get("text", [])) for c in executed["cells"] for o in c.get("outputs", []))
    assert "DATA mydata" in printed
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "data_dir = None" in "".join(injected[0]["source"])
    meta = executed["metadata"]["papermill"]
    assert meta["input_path"] == "92_data.ipynb" and meta["output_path"] == out.name
    assert meta["parameters"]["data_dir"] is None
    text = json.dumps(executed["metadata"])
    assert not any(m in text for m in ABSOLUTE_MARKERS) and str(tmp_path) not in text


@pytest.mark.slow
def test_dair_dir_reaches_the_kernel_as_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mydair").mkdir()
    body = "from src_helpers.data.dair import resolve_dair_dir\nprint('DAIR', resolve_dair_dir(None).name)"
    nb = toy_notebook(tmp_path / "nbs", "93_dair.ipynb", body)
    monkeypatch.chdir(tmp_path)
    out = run_notebook(nb, "quick", dair_dir="mydair")
    executed = json.loads(out.read_text(encoding="utf-8"))
    printed = "".join("".join(o.get("text", [])) for c in executed["cells"] for o in c.get("outputs", []))
    assert "DAIR mydair" in printed
    assert "DAIR_EMOTION_DIR" not in os.environ, "the variable is set for the kernel only"
    assert "dair_dir" not in executed["metadata"]["papermill"]["parameters"]


def test_dair_dir_option_resolved_against_the_cwd_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data" / "dair").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    seen: list[object] = []
    monkeypatch.setattr(pipeline, "run_notebook", lambda nb, profile, data_dir=None, dair_dir=None, **kw:
                        seen.append(dair_dir) or tmp_path / nb.name)
    assert main(["--profile", "quick", "--dair-dir", "data/dair", "--only", "02"]) == 0
    assert seen == [tmp_path / "data" / "dair"]
    with pytest.raises(SystemExit):
        main(["--profile", "quick", "--dair-dir", "nowhere", "--only", "02"])
    err = capsys.readouterr().err
    assert "--dair-dir" in err and str(tmp_path / "nowhere") in err and "DAIR.AI emotion" in err
    assert seen == [tmp_path / "data" / "dair"], "no notebook ran"
    with pytest.raises(FileNotFoundError, match="dair_dir"):
        run_notebook(tmp_path / "x.ipynb", "quick", dair_dir="nowhere")


def test_portable_metadata_rewrites_absolute_paths() -> None:
    meta = {"papermill": {"input_path": str(REPO_ROOT / "notebooks" / "02_x.ipynb"),
                          "output_path": "/elsewhere/notebook_outputs/.running_02_x.ipynb",
                          "parameters": {"data_dir": "/srv/data/goemotions", "profile": "full", "seed": 0}}}
    final = REPO_ROOT / "notebook_outputs" / "02_x__2026-11-25.ipynb"
    pm = portable_metadata(meta, final)["papermill"]
    assert pm["input_path"] == "notebooks/02_x.ipynb"
    assert pm["output_path"] == "notebook_outputs/02_x__2026-11-25.ipynb"
    assert pm["parameters"] == {"data_dir": "goemotions", "profile": "full", "seed": 0}


def test_portable_outputs_write_the_repository_folder_relative() -> None:
    root = str(REPO_ROOT)
    cells = [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stderr", "text": f"{root}/.venv/lib/tqdm/auto.py:21: TqdmWarning\n"},
        {"output_type": "execute_result", "data": {"text/plain": [f"PosixPath('{root}')"]}},
        {"output_type": "error", "traceback": [f"File {root}/src_helpers/x.py, line 3"]}]},
        {"cell_type": "markdown", "source": root}]
    portable_outputs(cells)
    outs = cells[0]["outputs"]
    assert outs[0]["text"] == ".venv/lib/tqdm/auto.py:21: TqdmWarning\n"
    assert outs[1]["data"]["text/plain"] == ["PosixPath('.')"]
    assert outs[2]["traceback"] == ["File src_helpers/x.py, line 3"]
    assert cells[1]["source"] == root, "sources are the notebook's own; only outputs change"


def test_portable_outputs_also_write_the_output_root_relative(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs written under ``$SRC_HELPERS_OUTPUT_ROOT`` (another checkout's folders) and Markdown results too."""
    monkeypatch.setenv("SRC_HELPERS_OUTPUT_ROOT", str(tmp_path))
    cells = [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stderr", "text": f"{tmp_path}/notebook_outputs/runs/x/config.json was\n"},
        {"output_type": "display_data", "data": {"text/markdown": f"read from {tmp_path}/notebook_outputs/runs/x"}}]}]
    portable_outputs(cells)
    outs = cells[0]["outputs"]
    assert outs[0]["text"] == "notebook_outputs/runs/x/config.json was\n"
    assert outs[1]["data"]["text/markdown"] == "read from notebook_outputs/runs/x"


def test_committed_executed_notebooks_have_portable_metadata() -> None:
    committed = sorted((REPO_ROOT / "notebook_outputs").glob("*.ipynb"))
    for path in committed:
        meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        text = json.dumps(meta)
        assert not any(m in text for m in ABSOLUTE_MARKERS), f"{path.name}: absolute path in metadata"
        assert meta["papermill"]["output_path"] == f"notebook_outputs/{path.name}", path.name


def test_a_full_run_of_the_repo_regenerates_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(pipeline, "run_notebook",  # where a run on the official data (or the hub) writes its copy
                        lambda nb, profile, data_dir=None, **kw: paths_for(profile).notebooks_out / nb.name)
    monkeypatch.setattr(pipeline, "regenerate_report", lambda root=REPO_ROOT: calls.append(root) or 0)
    assert main(["--profile", "full", "--only", "02"]) == 0
    assert calls == [], "outputs under SRC_HELPERS_OUTPUT_ROOT (not the repo): the repo's report stays as it is"
    monkeypatch.delenv("SRC_HELPERS_OUTPUT_ROOT")
    assert main(["--profile", "quick", "--only", "02"]) == 0
    assert calls == [], "a quick run changes no history"
    assert main(["--profile", "full", "--only", "02"]) == 0
    assert calls == [REPO_ROOT]


def test_the_report_is_the_repository_tool_and_an_installed_package_says_where_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[tuple] = []
    monkeypatch.setattr(pipeline.subprocess, "run", lambda cmd, cwd=None, check=False: ran.append((cmd, cwd))
                        or pipeline.subprocess.CompletedProcess(cmd, 2))
    assert pipeline.regenerate_report(tmp_path) == 0 and ran == []
    assert "no tools/report.py in" in capsys.readouterr().out
    assert pipeline.regenerate_report() == 2, "the tool's exit code (2: a damaged run folder) is the runner's"
    assert ran == [([pipeline.sys.executable, "-m", "tools.report"], REPO_ROOT)]


def test_notebooks_dir_option_runs_the_notebooks_of_that_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("01_a.ipynb", "02_b.ipynb", "notes.ipynb"):
        toy_notebook(tmp_path / "mine", name, "pass")
    monkeypatch.chdir(tmp_path)
    seen: list[Path] = []
    monkeypatch.setattr(pipeline, "run_notebook", lambda nb, profile, data_dir=None, **kw: seen.append(nb)
                        or tmp_path / nb.name)
    assert main(["--profile", "quick", "--notebooks-dir", "mine"]) == 0
    assert seen == [tmp_path / "mine" / "01_a.ipynb", tmp_path / "mine" / "02_b.ipynb"]
    with pytest.raises(SystemExit):
        main(["--profile", "quick", "--notebooks-dir", "nowhere"])
    err = capsys.readouterr().err
    assert "--notebooks-dir" in err and str(tmp_path / "nowhere") in err
    assert len(seen) == 2, "no notebook ran"


def test_a_quick_run_ends_by_dropping_the_model_weights_of_its_runs(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runs = paths_for("quick").ensure().runs  # conftest: under this test's tmp folder
    keep = ["config.json", "metrics.json", "history.csv", "test_predictions.csv.gz"]
    for run in ("transformer_minilm_single", "goemotions_for_dair/bigru_minilm", "tfidf_single"):
        for name in keep:
            (runs / run).mkdir(parents=True, exist_ok=True)
            (runs / run / name).write_text("{}")
    (runs / "transformer_minilm_single" / "model").mkdir()
    (runs / "transformer_minilm_single" / "model" / "model.safetensors").write_bytes(b"w" * 3000)
    (runs / "transformer_minilm_single" / "model" / "config.json").write_text("{}")  # a model, single-label,
    (runs / "transformer_minilm_single" / "metrics.json").write_text(json.dumps({"dev": {"macro_f1": 0.9}}))  # better
    (runs / "goemotions_for_dair/bigru_minilm/checkpoints/model").mkdir(parents=True)
    (runs / "goemotions_for_dair/bigru_minilm/checkpoints/model/weights.pt").write_bytes(b"w" * 1000)
    (runs / "tfidf_single" / "notes").mkdir()  # not a weights folder
    (runs / "no_run" / "model").mkdir(parents=True)  # no config.json: not a run folder, left alone
    served = runs / "transformer_minilm_multi"  # the demo's model (multi-label first): its weights stay
    (served / "model").mkdir(parents=True)
    (served / "config.json").write_text(json.dumps({"target": "multi"}))
    (served / "metrics.json").write_text(json.dumps({"dev": {"macro_f1": 0.1}}))
    (served / "model" / "model.safetensors").write_bytes(b"w" * 10)
    (served / "model" / "config.json").write_text("{}")
    toy_notebook(tmp_path / "nbs", "01_a.ipynb", "pass")
    monkeypatch.setattr(pipeline, "run_notebook", lambda nb, profile, data_dir=None, **kw: tmp_path / nb.name)
    assert main(["--profile", "quick", "--notebooks-dir", str(tmp_path / "nbs")]) == 0
    left = sorted(str(p.relative_to(runs)) for p in runs.rglob("*") if p.is_file() or p.name in ("model", "notes"))
    assert left == sorted([f"{run}/{name}" for run in ("transformer_minilm_single", "goemotions_for_dair/bigru_minilm",
                                                       "tfidf_single") for name in keep]
                          + ["tfidf_single/notes", "no_run/model", "transformer_minilm_multi/config.json",
                             "transformer_minilm_multi/metrics.json", "transformer_minilm_multi/model",
                             "transformer_minilm_multi/model/config.json",
                             "transformer_minilm_multi/model/model.safetensors"])
    assert pipeline.drop_model_weights(runs, keep=served / "model") == 0, "nothing left to drop but the kept model"
    assert pipeline.drop_model_weights(runs) == 12, "without keep, the demo's model goes too"


def test_a_signal_while_the_copy_is_moved_waits_for_the_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """SIGINT between the claim of the final name and the move: the run stops after the copy is in place (no
    empty placeholder, no copy left in ``.running_``), exit status 130, and the handlers are restored."""
    import papermill

    nb = toy_notebook(tmp_path / "nbs", "90_toy.ipynb", "pass")
    ended: list[bool] = []
    monkeypatch.setattr(interrupts, "end_child_processes", lambda grace=2.0: ended.append(True))
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: nbformat.write(nbformat.read(
        src, as_version=4), dst))
    portable = pipeline.make_metadata_portable

    def interrupted_portable(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # its handler runs now, inside the section that defers it
        portable(*args, **kwargs)

    monkeypatch.setattr(pipeline, "make_metadata_portable", interrupted_portable)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert pipeline.cli(["--profile", "full", "--notebooks-dir", str(nb.parent)]) == 130
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    out_dir = paths_for("full").notebooks_out
    final = out_dir / f"90_toy__{dt.date.today().isoformat()}.ipynb"
    assert sorted(p.name for p in out_dir.iterdir() if p.is_file()) == [final.name], "only the finished copy"
    cells = nbformat.read(final, as_version=4).cells
    assert cells[0].metadata["tags"] == ["provenance"] and cells[2].source == "pass"
    assert ended == [True]
    assert capsys.readouterr().err.splitlines()[-1] == "run interrupted by SIGINT; no notebook was running"
    with interrupts.deferred():  # a later run in this process is not stopped by this run's signal
        pass


SLEEPER_CELL = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open({tmp!r}, "w") as f:
    f.write(f"{{os.getpid()}} {{child.pid}}")
os.replace({tmp!r}, {pids!r})
time.sleep(600)
"""


def ended(pid: int, started: float) -> bool:
    """Whether the process ``pid`` created at ``started`` ended (gone, a zombie, or the pid now another's)."""
    try:
        proc = psutil.Process(pid)
        return proc.create_time() != started or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def start_pipeline(tmp_path: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    """``python -m tools.pipeline --profile full --notebooks-dir nbs`` started in ``tmp_path`` with this
    checkout's package (``env`` added to the environment); its output goes to ``pipeline.log``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg", **env}
    log = tmp_path / "pipeline.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tools.pipeline", "--profile", "full",
                                 "--notebooks-dir", "nbs"], cwd=tmp_path, env=env, stdout=out, stderr=out)
    return proc, log


def wait_for_file(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Wait until the run writes ``path`` (a cell or kernel's pids); fail with the run's log if it never does."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path.name} was written:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{path.name} was never written:\n{log.read_text()}"
        time.sleep(0.2)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_run_ends_the_kernel_and_its_children_and_keeps_earlier_copies(
        tmp_path: Path, signum: int) -> None:
    pids_file = tmp_path / "pids.txt"
    body = SLEEPER_CELL.format(tmp=str(tmp_path / "pids.tmp"), pids=str(pids_file))
    toy_notebook(tmp_path / "nbs", "95_sleep.ipynb", body)
    out_dir = paths_for("full").ensure().notebooks_out
    earlier = {out_dir / f"95_sleep__{dt.date.today().isoformat()}.ipynb": b'{"cells": [], "run": 1}\n',
               out_dir / "95_sleep__2026-01-01__acc0.5.ipynb": b'{"cells": [], "run": 0}\n'}
    for path, content in earlier.items():
        path.write_bytes(content)
    started: dict[int, float] = {}
    proc, log = start_pipeline(tmp_path)
    try:
        wait_for_file(pids_file, proc, log)
        kernel, child = map(int, pids_file.read_text().split())
        started = {pid: psutil.Process(pid).create_time() for pid in (kernel, child)}
        sent = time.monotonic()
        proc.send_signal(signum)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run went on 20 s after {signal.Signals(signum).name}:\n{log.read_text()}")
        assert time.monotonic() - sent < 20
        deadline = time.monotonic() + 5  # a killed grandchild waits for init to reap it
        while not all(ended(pid, t) for pid, t in started.items()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ended(kernel, started[kernel]), "the kernel outlived the run"
        assert ended(child, started[child]), "the process the kernel started outlived the run"
        assert proc.returncode == 128 + signum, log.read_text()
        for path, content in earlier.items():
            assert path.read_bytes() == content, f"{path.name} was changed"
        partial = out_dir / "FAILED_95_sleep.ipynb"
        assert sorted(p.name for p in out_dir.glob("*.ipynb")) == sorted([p.name for p in earlier] + [partial.name])
        assert not list(out_dir.glob(".running_*")) and not list(out_dir.glob(f"{HEADLINE_PREFIX}*"))
        assert "time.sleep(600)" in nbformat.read(partial, as_version=4).cells[-1].source
        lines = [line for line in log.read_text().splitlines() if "interrupted" in line]
        assert lines == [f"run interrupted by {signal.Signals(signum).name}; partly executed copy: {partial}"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, t in started.items():  # only the processes this test's notebook started
            if not ended(pid, t):
                psutil.Process(pid).kill()


SWALLOWING_RUN = """
import os, signal, subprocess, sys, time
from tools import interrupts
from tools import pipeline

def swallowing_main(argv):
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except BaseException:  # code that swallows the interrupt
        pass
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],  # started after it
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("CHILD", child.pid, flush=True)
    time.sleep(600)
    return 0

interrupts.STOP_TIMEOUT = 1.0
pipeline.main = swallowing_main
sys.exit(pipeline.cli([]))
"""


@pytest.mark.slow
def test_an_interrupt_that_code_swallows_still_stops_the_run(tmp_path: Path) -> None:
    """The watchdog: STOP_TIMEOUT seconds after the signal it ends what the run started since and exits."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", SWALLOWING_RUN], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    children = [psutil.Process(int(line.split()[1])) for line in out.splitlines() if line.startswith("CHILD")]
    try:
        assert proc.returncode == 143, f"the run went on after SIGTERM:\n{out}\n{err}"
        assert err.splitlines()[-1].startswith("run interrupted by SIGTERM; stopped by force after 1 s")
        assert len(children) == 1
        gone, alive = psutil.wait_procs(children, timeout=5)  # the child, reparented, waits for init's reaping
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "the child outlived the run"
    finally:
        for child in children:  # only the one process this test's script started
            with contextlib.suppress(psutil.Error):
                child.kill()


HANGING_KERNEL = """
import os, sys, time
with open({tmp!r}, "w") as f:
    f.write(f"{{os.getpid()}} {{sys.argv[1]}}")
os.replace({tmp!r}, {pids!r})
time.sleep(600)
"""


@pytest.mark.slow
def test_a_signal_while_the_kernel_starts_leaves_no_connection_file(tmp_path: Path) -> None:
    """A kernel that never answers (its spec shadows python3 through JUPYTER_PATH): SIGTERM while the runner waits
    for it ends it and removes the connection file the runner wrote for it."""
    pids_file = tmp_path / "pids.txt"
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    code = HANGING_KERNEL.format(tmp=str(tmp_path / "pids.tmp"), pids=str(pids_file))
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-c", code, "{connection_file}"],
                                                  "display_name": "never ready", "language": "python"}))
    toy_notebook(tmp_path / "nbs", "96_start.ipynb", "pass")
    kernel: psutil.Process | None = None
    proc, log = start_pipeline(tmp_path, JUPYTER_PATH=str(tmp_path / "jupyter"))
    try:
        wait_for_file(pids_file, proc, log)
        pid, connection_file = pids_file.read_text().split(" ", 1)
        kernel = psutil.Process(int(pid))
        assert Path(connection_file).exists()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert proc.returncode == 143, log.read_text()
        assert not [p for p in psutil.wait_procs([kernel], timeout=5)[1] if p.status() != psutil.STATUS_ZOMBIE]
        assert not Path(connection_file).exists(), "the kernel's connection file was left behind"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if kernel is not None:
            with contextlib.suppress(psutil.Error):
                kernel.kill()


@pytest.mark.slow
def test_a_run_prints_no_kernel_transport_warning(tmp_path: Path) -> None:
    """A pipeline run's console output has no "Kernel is running over TCP without encryption" (ipykernel prints
    it once per notebook for a TCP kernel without CurveZMQ keys), and the kernel's socket and connection files
    are gone after it."""
    toy_notebook(tmp_path / "nbs", "90_toy.ipynb", "print('ran')")
    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp" if os.name == "posix" else None))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
           "SRC_HELPERS_OUTPUT_ROOT": str(tmp_path / "out"), "JUPYTER_RUNTIME_DIR": str(runtime),
           "MPLBACKEND": "Agg"}
    try:
        done = subprocess.run([sys.executable, "-m", "tools.pipeline", "--profile", "quick", "--notebooks-dir",
                               "nbs"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        executed = nbformat.read(tmp_path / "out" / ".smoke" / "notebook_outputs" / "90_toy.ipynb", as_version=4)
        assert executed.cells[-1].outputs[0]["text"] == "ran\n"
        assert "without encryption" not in done.stderr + done.stdout
        assert not list(runtime.iterdir()), "kernel files left in the runtime folder"
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.mark.slow
def test_a_notebook_importing_the_package_gets_no_progress_widget_warning(tmp_path: Path) -> None:
    """``tqdm.auto`` in a kernel without ipywidgets falls back to the text bar: no "IProgress not found" warning
    in the executed copy of a notebook that imports the package first (as every numbered notebook does)."""
    body = "import src_helpers\nfrom tqdm.auto import tqdm\nprint(sum(tqdm(range(3))))"
    nb = toy_notebook(tmp_path / "nbs", "90_bars.ipynb", body)
    executed = nbformat.read(run_notebook(nb, "quick"), as_version=4)
    streams = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert "3\n" in streams and "IProgress" not in streams


@pytest.mark.slow
def test_figures_are_embedded_even_when_the_caller_set_a_file_backend(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """MPLBACKEND=Agg in the runner's environment (a headless shell) must not leave the copy without its figures."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = toy_notebook(tmp_path / "nbs", "90_toy.ipynb", "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    out = run_notebook(nb, "quick")
    outputs = nbformat.read(out, as_version=4).cells[-1].outputs
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs

