"""Run the numbered notebooks headless with papermill: ``python -m tools.pipeline --profile quick``.

``quick`` runs are smoke runs and land in the git-ignored ``.smoke/``; once the last notebook has ended, the runs'
model weights go (``drop_model_weights``). ``full`` runs are history:
``notebook_outputs/<notebook>__<date>__<headline scores>.ipynb``, a new file per run. A run whose name is taken (same
notebook, day and scores) gets ``__run2``, ``__run3``, ...; no file is ever replaced.

A relative ``--data-dir`` is relative to the caller's working directory. The kernel gets the resolved
folder as ``$GOEMOTIONS_DIR`` and the notebook's ``data_dir`` parameter stays ``None``, so executed copies
record no path of this machine (their papermill metadata holds paths relative to the repository).
``--dair-dir`` (the DAIR.AI emotion files of notebook 07) reaches the kernel the same way, as
``$DAIR_EMOTION_DIR``; its ``dair_dir`` parameter stays ``None``. A full run ends with the repository's
report generator (``python -m tools.report``, ``regenerate_report``): the README's results,
``notebook_outputs/INDEX.md`` and the comparison figures follow.
``--notebooks-dir`` runs the numbered notebooks of another folder (default ``notebooks/``).

Ctrl-C (SIGINT) or SIGTERM stops a run within seconds (``interrupts``): the kernel and every process it started
end (their process groups too; the kernel's connection file goes), the partly executed notebook is kept as
``FAILED_<notebook>`` (earlier executed copies are never touched), one line says so, and the exit status is
130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from src_helpers.config import PROFILES, paths_for, portable_path
from src_helpers.data.dair import DATA_DIR_ENV as DAIR_DIR_ENV
from src_helpers.data.goemotions import DATA_DIR_ENV, resolve_data_dir
from src_helpers.experiments.run_folders import HEADLINE_PREFIX, OVERWRITE_ENV
from tools import REPO_ROOT, provenance
from tools.interrupts import RunInterrupted, deferred, stop_on_signals, tracked_kernel_manager

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # the kernel's matplotlib backend: figures embedded
def find_notebooks(only: Sequence[str] = (), folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Numbered notebooks in order; ``only`` keeps those whose name starts with one of the prefixes."""
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
        if not found:
            raise FileNotFoundError(f"no notebook in {folder} starts with any of {list(only)}")
    return found


def output_name(stem: str, profile: str, headline: dict[str, float] | None, day: dt.date | None = None) -> str:
    """File name of the executed copy: scores go in the name of full runs."""
    if profile != "full":
        return f"{stem}.ipynb"
    parts = [stem, (day or dt.date.today()).isoformat()]
    for key, value in (headline or {}).items():
        parts.append(f"{key}{value:.4g}" if isinstance(value, float) else f"{key}{value}")
    return "__".join(parts) + ".ipynb"


def claim_new_path(folder: Path, name: str) -> Path:
    """A path in ``folder`` that no file holds yet: ``name``, else ``<stem>__run2.ipynb``, ``__run3``, ...

    The file is created empty (exclusively), so two runs finishing together cannot pick the same name."""
    stem, suffix = name.rsplit(".", 1)
    for n in range(1, 10_000):
        path = folder / (name if n == 1 else f"{stem}__run{n}.{suffix}")
        try:
            with open(path, "x"):
                return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free name for {name} after 9999 runs")


def output_path(path: Path) -> str:
    """``portable_path``; a copy in ``$SRC_HELPERS_OUTPUT_ROOT``'s ``notebook_outputs/`` (the record of another
    checkout) as ``notebook_outputs/<name>``, as the repository's own."""
    root = Path(os.environ.get("SRC_HELPERS_OUTPUT_ROOT") or REPO_ROOT).absolute()
    return f"notebook_outputs/{path.name}" if path.parent == root / "notebook_outputs" else portable_path(path)


def portable_metadata(metadata: dict, final: Path) -> dict:
    """Notebook metadata with papermill's absolute paths made portable (``output_path`` = the final copy)."""
    pm = metadata.get("papermill")
    if not isinstance(pm, dict):
        return metadata
    pm = dict(pm)
    if pm.get("input_path"):
        pm["input_path"] = portable_path(pm["input_path"])
    pm["output_path"] = output_path(final.absolute())
    params = pm.get("parameters")
    if isinstance(params, dict):
        pm["parameters"] = {k: portable_path(v) if isinstance(v, str) and Path(v).is_absolute() else v
                            for k, v in params.items()}
    return {**metadata, "papermill": pm}


def portable_outputs(cells: list) -> None:
    """Cell outputs (streams, text results, tracebacks) with this machine's repository folder (and an output root
    set with ``$SRC_HELPERS_OUTPUT_ROOT``) written as relative paths, in place: warnings print the file they come
    from (``<repo>/.venv/lib/...``), messages name run folders."""
    roots = sorted({str(REPO_ROOT), *filter(None, [os.environ.get("SRC_HELPERS_OUTPUT_ROOT", "").rstrip("/")])},
                   key=len, reverse=True)

    def fix(text: str | list) -> str | list:
        if isinstance(text, list):
            return [fix(t) for t in text]
        for root in roots:
            text = text.replace(root + "/", "").replace(root, ".")
        return text

    for cell in cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = fix(out["text"])
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/"):
                    out["data"][mime] = fix(value)
            if "traceback" in out:
                out["traceback"] = fix(out["traceback"])


def make_metadata_portable(path: Path, final: Path | None = None, headline: dict[str, float] | None = None,
                           prov: dict | None = None) -> None:
    """Rewrite the papermill metadata of the executed notebook ``path`` in place (and the repository folder in its
    outputs, ``portable_outputs``), store its ``headline`` scores unrounded under ``metadata["headline"]`` (the
    file name carries them rounded) and its ``provenance.record`` (commit, versions, machine, wall time) under
    ``metadata["provenance"]`` and in a first cell."""
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    portable_outputs(nb.cells)
    metadata = portable_metadata(dict(nb.metadata), final or path)
    if headline:
        metadata["headline"] = headline
    nb.metadata = nbformat.from_dict(metadata)
    if prov:
        provenance.add_to(nb, prov)
    nbformat.write(nb, path)


@contextlib.contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    """Set (or leave alone, when ``value`` is None) one environment variable for the kernels started inside."""
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def notebook_data(path: Path, profile: str, folder: Path | None, dair_folder: Path | None) -> list | None:
    """The local data sets a full run of notebook ``path`` reads, for ``paths_for(..., data=...)``: GoEmotions',
    and DAIR.AI's when the notebook has a ``dair_dir`` parameter; None for the quick profile or the hub (the
    official release). The notebook itself decides the same way, so its outputs and its executed copy agree."""
    if profile != "full":
        return None
    import papermill as pm

    from src_helpers.data.dair import load_dair_emotion
    from src_helpers.data.goemotions import load_goemotions

    data = [load_goemotions(folder, source="local")] if folder else []
    if dair_folder and "dair_dir" in pm.inspect_notebook(str(path)):
        data.append(load_dair_emotion(dair_folder, source="local"))
    return data or None


def run_notebook(path: Path, profile: str, data_dir: str | Path | None = None, extra: dict | None = None,
                 kernel: str = "python3", dair_dir: str | Path | None = None) -> Path:
    """Execute one notebook with papermill; return the path of the executed copy.

    ``data_dir`` (relative to the caller's working directory) reaches the kernel as ``$GOEMOTIONS_DIR``,
    ``dair_dir`` as ``$DAIR_EMOTION_DIR``.
    Full runs never replace an earlier executed copy; a failed run leaves ``FAILED_<notebook>`` and no
    headline file."""
    import papermill as pm

    folder = resolve_data_dir(data_dir)
    dair_folder = resolve_data_dir(dair_dir, "dair_dir", DAIR_DIR_ENV, "DAIR.AI emotion")
    out_dir = paths_for(profile, data=notebook_data(path, profile, folder, dair_folder)).ensure().notebooks_out
    headline_file = out_dir / f"{HEADLINE_PREFIX}{path.stem}.json"
    headline_file.unlink(missing_ok=True)
    tmp = out_dir / f".running_{path.name}"
    params = {"profile": profile, "data_dir": None, **(extra or {})}
    started, git = provenance.now(), provenance.git_state()  # the code as it was when the run started
    try:
        with _env(DATA_DIR_ENV, str(folder) if folder else None), \
                _env(DAIR_DIR_ENV, str(dair_folder) if dair_folder else None), \
                _env("MPLBACKEND", INLINE_BACKEND):  # figures go into the copy, whatever the caller's backend
            pm.execute_notebook(str(path), str(tmp), parameters=params, kernel_name=kernel,
                                cwd=str(path.parent), progress_bar=True,
                                kernel_manager_class=tracked_kernel_manager())
        headline = json.loads(headline_file.read_text()) if headline_file.exists() else None
    except KeyboardInterrupt as e:
        _keep_partial(e, tmp, out_dir / f"FAILED_{path.name}")
        raise
    except Exception:
        failed = out_dir / f"FAILED_{path.name}"
        if tmp.exists():
            tmp.replace(failed)
            with contextlib.suppress(Exception):  # never hide the notebook's own error
                make_metadata_portable(failed, prov=provenance.record(profile, started, provenance.now(), git=git))
        print(f"notebook {path.name} failed; executed copy with the error: {failed}", file=sys.stderr)
        raise
    finally:
        headline_file.unlink(missing_ok=True)
    prov = provenance.record(profile, started, provenance.now(), git=git)
    with deferred():  # a signal here waits for the copy to reach its name
        name = output_name(path.stem, profile, headline)
        final = claim_new_path(out_dir, name) if profile == "full" else out_dir / name
        try:
            make_metadata_portable(tmp, final, headline, prov)
        except Exception:
            if profile == "full":
                final.unlink()  # the empty placeholder; the executed copy stays in .running_<notebook>
            raise
        tmp.replace(final)
    return final


def _keep_partial(error: KeyboardInterrupt, tmp: Path, kept: Path) -> None:
    """Move the partly executed copy ``tmp`` of an interrupted notebook to ``kept`` (portable metadata) and
    record it on a ``RunInterrupted``; nothing else in the output folder changes."""
    if tmp.exists():
        tmp.replace(kept)
        with contextlib.suppress(Exception):  # a copy cut mid-write stays as it is
            make_metadata_portable(kept)
        if isinstance(error, RunInterrupted):
            error.partial = kept


def _shown(path: Path) -> Path:
    """``path`` as the runner prints it: relative to the repository when inside it."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def cli(argv: Sequence[str] | None = None) -> int:
    """``main`` for the command line, SIGINT/SIGTERM stopping the run: every process this one started ends, one
    line says where the partial copy is, and the status is 130 or 143."""
    try:
        with stop_on_signals():
            return main(argv)
    except RunInterrupted as e:
        where = f"partly executed copy: {_shown(e.partial)}" if e.partial else "no notebook was running"
        print(f"run interrupted by {signal.Signals(e.signum).name}; {where}", file=sys.stderr, flush=True)
        return e.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default=os.environ.get("EMOTION_PROFILE", "quick"))
    parser.add_argument("--data-dir", default=None, help="folder with the official GoEmotions TSVs, relative to "
                        "the current directory (default: $GOEMOTIONS_DIR; quick runs use the bundled sample "
                        "when unset)")
    parser.add_argument("--dair-dir", default=None, help="folder with the DAIR.AI emotion train.txt/val.txt/"
                        "test.txt (notebook 07), relative to the current directory (default: $DAIR_EMOTION_DIR)")
    parser.add_argument("--only", nargs="*", default=(), help="notebook name prefixes, e.g. 01 02")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR, help="folder of the numbered "
                        "notebooks, relative to the current directory (default: the repository's notebooks/)")
    parser.add_argument("--overwrite-results", action="store_true", help="let a full run replace recorded run "
                        f"folders whose metrics differ (sets ${OVERWRITE_ENV}=1; without it such a run stops)")
    args = parser.parse_args(argv)
    if not args.notebooks_dir.is_dir():
        parser.error(f"--notebooks-dir: no folder {args.notebooks_dir.absolute()}")
    if args.overwrite_results:
        os.environ[OVERWRITE_ENV] = "1"
    try:
        data_dir = resolve_data_dir(args.data_dir, "--data-dir")
        dair_dir = resolve_data_dir(args.dair_dir, "--dair-dir", DAIR_DIR_ENV, "DAIR.AI emotion")
    except FileNotFoundError as e:
        parser.error(str(e))
    notebooks, outputs = find_notebooks(args.only, args.notebooks_dir.absolute()), []
    for i, nb in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {nb.name} (profile {args.profile})", flush=True)
        outputs.append(run_notebook(nb, args.profile, data_dir, dair_dir=dair_dir))
        print(f"    -> {portable_path(outputs[-1])}", flush=True)
    if args.profile == "quick":  # the demo's smoke model stays, so `make demo` has a model after `make run`
        from src_helpers.predict import best_model_dir

        runs = paths_for("quick").runs
        drop_model_weights(runs, keep=best_model_dir(runs, prefer="multi") if runs.is_dir() else None)
    if args.profile == "full" and any(out.parent == paths_for("full", REPO_ROOT).notebooks_out
                                      for out in outputs):  # the repo's history changed
        print("regenerating the results table, README section, history index and figures", flush=True)
        return regenerate_report()
    return 0


WEIGHT_FOLDERS = ("model", "checkpoints")  # a transformer run's save_pretrained copy; an RNN run's checkpoints


def drop_model_weights(runs: Path, keep: Path | None = None) -> int:
    """Delete the model weights (``WEIGHT_FOLDERS``) of the run folders under ``runs`` (at any depth) but ``keep``,
    and return the bytes freed. A quick run calls it once its last notebook has ended, keeping the model the demo
    serves (``src_helpers.demo``): what a reader needs (config, metrics, history, predictions, figures, executed
    copies) stays, and a later quick run trains afresh what it needs."""
    freed = 0
    for folder in sorted(runs.rglob("*")) if runs.is_dir() else []:
        if folder == keep:
            continue
        if folder.name in WEIGHT_FOLDERS and folder.is_dir() and (folder.parent / "config.json").is_file():
            freed += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            shutil.rmtree(folder)
    if freed:
        print(f"removed the smoke runs' model weights ({freed / 2**20:.0f} MB) from {portable_path(runs)}", flush=True)
    return freed


def regenerate_report(root: Path = REPO_ROOT) -> int:
    """Run the repository's report generator (``python -m tools.report`` in ``root``) and return its exit code. An
    installed package has no ``tools/`` next to it: then it says so and returns 0."""
    if not (root / "tools" / "report.py").is_file():
        print(f"no tools/report.py in {portable_path(root)}: run python -m tools.report in a checkout", flush=True)
        return 0
    return subprocess.run([sys.executable, "-m", "tools.report"], cwd=root, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(cli())
