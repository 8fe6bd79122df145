"""Run notebooks the way Colab does, on this machine: opt-in, not part of the tests (it downloads GBs).

What it builds, outside the repository:

* a Python 3.12 venv (``--venv``, default ``~/.cache/colab-sim/venv``, made anew unless ``--reuse-venv``) loaded
  from PyPI with Colab's stack: torch 2.11 (PyPI's default Linux wheel, the CUDA build, as on Colab),
  transformers 5.15, datasets 4.0, and the few other packages Colab preinstalls that the notebooks or this run
  need (``COLAB_PACKAGES``). pip runs with ``PIP_CONFIG_FILE=/dev/null`` and no ``PIP_*`` variables, so this
  machine's pip configuration (local indexes, constraint files) plays no part: PyPI only, as on Colab;
* a ``google.colab`` stand-in, imported by a ``.pth`` file at every start of the venv's Python, so the
  notebooks' set-up cell sees ``"google.colab" in sys.modules`` and does its work;
* a clone of this repository's committed HEAD (``<work>/origin``), which plays the fork on GitHub: each
  notebook is copied with ``REPO_URL`` set to it (as a user edits the cell; ``INSTALL_AUGMENT = True`` in the
  notebooks given to ``--augment``);
* ``/content``, Colab's working folder (root only; a ``/content`` this script did not make is left alone).
  The set-up cell of the first notebook clones into ``/content/emotion-classification``; the next ones reuse
  and update that clone, as in one Colab runtime.

Then it executes the notebooks in the quick profile with papermill, in the venv's kernel, one after another
(default 05, 08, 02: 05 and 08 on Colab's own transformers 5, then 02 with the augment extra, which
downgrades transformers to 4.57), and writes ``benchmarks/results/colab_simulation_<date>.{json,md}``: per
notebook ok / failed (with the error), seconds, and the installed torch, transformers, flair, textattack and
datasets after it. The executed copies and the log stay in ``<work>`` (default ``~/.cache/colab-sim``).

This machine reaches PyPI but not GitHub or the Hugging Face hub: the quick profile runs offline (bundled
sample, bundled MiniLM), and ``nltk_setup --download`` finds Debian's WordNet here instead of downloading it.

    python benchmarks/colab_simulation.py                      # fresh venv; notebooks 05 08 02 (02 with augment)
    python benchmarks/colab_simulation.py --reuse-venv --notebooks 02
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from tools.colab_links import set_notebook_repo_url  # noqa: E402  (standard library only)

COLAB_STACK = ["torch==2.11.*", "transformers==5.15.*", "datasets==4.0.*"]
# Preinstalled on Colab and needed here: the kernel and papermill to execute, and what the notebooks import
# that Colab has anyway (the project's install adds the rest).
COLAB_PACKAGES = ["ipykernel", "papermill", "nbclient", "matplotlib", "pandas", "scikit-learn", "seaborn", "nltk"]
VERSIONS_OF = ["torch", "transformers", "flair", "textattack", "datasets", "sentence-transformers", "nltk"]
CONTENT = Path("/content")
MARKER = ".colab-simulation"  # this script made /content, and may empty it
RESULTS = REPO_ROOT / "benchmarks" / "results"


def log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.timezone.utc):%H:%M:%S}] {msg}", flush=True)


def python_version(python: str) -> str | None:
    try:
        out = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_python312() -> str:
    pyenv = sorted((Path.home() / ".pyenv" / "versions").glob("3.12*/bin/python3.12"))
    candidates = [shutil.which("python3.12"), *map(str, pyenv), "/usr/bin/python3.12"]
    for python in filter(None, candidates):
        if (python_version(python) or "").startswith("3.12"):
            return python
    raise SystemExit("no Python 3.12 found: pass --python")


def clean_env(venv: Path, work: Path) -> dict[str, str]:
    """This machine's environment less its pip settings and Python paths, with the venv first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "NLTK_DATA",
                                                     "SRC_HELPERS_OUTPUT_ROOT", "EMOTION_PROFILE", "MPLBACKEND",
                                                     "JUPYTER_PATH")}
    env.update(PIP_CONFIG_FILE=os.devnull, PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               VIRTUAL_ENV=str(venv), IPYTHONDIR=str(work / "ipython"), JUPYTER_CONFIG_DIR=str(work / "jupyter"),
               JUPYTER_DATA_DIR=str(work / "jupyter-data"))
    return env


def sh(cmd: list[str], env: dict[str, str], logfile: Path, **kw) -> subprocess.CompletedProcess:
    with logfile.open("a") as f:
        f.write(f"\n$ {' '.join(map(str, cmd))}\n")
        f.flush()
        return subprocess.run(list(map(str, cmd)), env=env, stdout=f, stderr=subprocess.STDOUT, text=True, **kw)


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def size_gb(path: Path) -> float:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return round(int(out.split()[0]) / 1e9, 2)


def downloaded_gb(pip_log: str) -> float:
    """Sizes pip printed for the wheels it fetched ('Downloading x.whl (2.1 GB)'; cached ones count too)."""
    units = {"kB": 1e3, "MB": 1e6, "GB": 1e9, "bytes": 1}
    sizes = re.findall(r"^\s*(?:Downloading|Using cached) \S+ \(([\d.]+) (kB|MB|GB|bytes)\)", pip_log, re.M)
    return round(sum(float(n) * units[u] for n, u in sizes) / 1e9, 2)


def build_venv(venv: Path, python: str, env: dict[str, str], logfile: Path, fresh: bool) -> dict:
    t0 = time.perf_counter()
    if fresh and venv.exists():
        shutil.rmtree(venv)
    if not venv.exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    mark = logfile.stat().st_size if logfile.exists() else 0
    pip = [venv / "bin" / "python", "-m", "pip", "install"]
    sh([*pip, "--upgrade", "pip"], env, logfile, check=True)
    # again on a reused venv: puts back Colab's transformers 5 that a notebook with the augment extra replaced
    sh([*pip, *COLAB_STACK, *COLAB_PACKAGES], env, logfile, check=True)
    with logfile.open() as f:
        f.seek(mark)
        gb = downloaded_gb(f.read())
    # google.colab stand-in, imported at every start of the venv's Python (a namespace portion: protobuf's
    # google/ package stays importable)
    colab = site_packages(venv) / "google" / "colab"
    colab.mkdir(parents=True, exist_ok=True)
    (colab / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab (benchmarks/colab_simulation.py)."""\n')
    (site_packages(venv) / "zz_colab_simulation.pth").write_text("import google.colab\n")
    return {"seconds": round(time.perf_counter() - t0, 1), "wheels_gb": gb, "venv_gb": size_gb(venv)}


def versions(venv: Path, env: dict[str, str]) -> dict[str, str | None]:
    code = ("import json, importlib.metadata as m\n"
            "def v(n):\n    try:\n        return m.version(n)\n"
            "    except m.PackageNotFoundError:\n        return None\n"
            f"print(json.dumps({{n: v(n) for n in {VERSIONS_OF!r}}}))")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=env, capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-500:]}


def prepare_content() -> None:
    """A fresh /content, as a new Colab runtime has; one this script did not make is never touched."""
    if CONTENT.exists() and not (CONTENT / MARKER).exists():
        raise SystemExit(f"{CONTENT} exists and was not made by this script: move it away first")
    if CONTENT.exists():
        shutil.rmtree(CONTENT)
    CONTENT.mkdir()
    (CONTENT / MARKER).write_text("made by benchmarks/colab_simulation.py; removed by its next run\n")


def clone_head(work: Path) -> tuple[Path, str]:
    """``<work>/origin``: a clone of the committed HEAD, standing for the fork on GitHub."""
    dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    if dirty:
        log("note: uncommitted changes are not in the simulation (it clones the committed HEAD)")
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    origin = work / "origin"
    if origin.exists():
        shutil.rmtree(origin)
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO_ROOT), str(origin)], check=True)
    subprocess.run(["git", "-C", str(origin), "checkout", "-q", "-B", "main", head], check=True)
    return origin, head


def notebook_copy(origin: Path, stem: str, out_dir: Path, augment: bool) -> Path:
    """The notebook as a user has it after editing the set-up cell: REPO_URL, and INSTALL_AUGMENT."""
    src = next((origin / "notebooks").glob(f"{stem}*.ipynb"))
    out = set_notebook_repo_url(src, str(origin), out_dir / src.name)
    if augment:
        text = out.read_text(encoding="utf-8")
        if text.count("INSTALL_AUGMENT = False") != 1:
            raise ValueError(f"{src.name}: expected one 'INSTALL_AUGMENT = False' in the set-up cell")
        out.write_text(text.replace("INSTALL_AUGMENT = False", "INSTALL_AUGMENT = True"), encoding="utf-8")
    return out


def first_error(executed: Path) -> str | None:
    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                return f"{o.get('ename')}: {o.get('evalue')}"[:500]
    return None


def run_notebook(venv: Path, env: dict[str, str], nb: Path, out: Path, logfile: Path, timeout: int) -> dict:
    t0 = time.perf_counter()
    cmd = [venv / "bin" / "papermill", nb, out, "-k", "python3", "-p", "profile", "quick", "--cwd", CONTENT,
           "--execution-timeout", str(timeout), "--log-output"]
    try:
        rc = sh(cmd, env, logfile, timeout=timeout + 300).returncode
    except subprocess.TimeoutExpired:
        rc = -1
    seconds = round(time.perf_counter() - t0, 1)
    error = first_error(out) if rc else None
    return {"ok": rc == 0, "seconds": seconds, "error": error or (None if rc == 0 else f"papermill exit {rc}"),
            "venv_gb_after": size_gb(venv), "versions": versions(venv, env)}


PROBE = """\
from src_helpers.data.textattack_recipes import build_augmenter, call_augmenter
print(call_augmenter(build_augmenter("eda"), "I am so happy and grateful for this wonderful day with my friends"))
"""


def textattack_probe(venv: Path, env: dict[str, str], logfile: Path) -> dict:
    """TextAttack's EDA (WordNet synonyms included) on one sentence, in the clone the notebooks installed: the
    quick profile's sample is balanced, so the notebooks' augmentation finds no class to fill there."""
    t0 = time.perf_counter()
    out = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE], cwd=CONTENT / "emotion-classification",
                         env=env, capture_output=True, text=True, timeout=900)
    with logfile.open("a") as f:
        f.write(f"\n$ textattack probe\n{out.stdout}{out.stderr}")
    lines = out.stdout.strip().splitlines()
    return {"ok": out.returncode == 0, "seconds": round(time.perf_counter() - t0, 1),
            "output": (lines[-1] if lines else out.stderr.strip()[-300:])[:300]}


def markdown(result: dict) -> str:
    lines = [f"# Colab simulation, {result['date']}", "",
             f"Commit `{result['commit'][:12]}`; Python {result['python']}; command: `{result['command']}`.", "",
             f"Venv pre-loaded with Colab's stack ({', '.join(COLAB_STACK)} + {', '.join(COLAB_PACKAGES)}) in "
             f"{result['preload']['seconds']} s: {result['preload']['wheels_gb']} GB of wheels, "
             f"{result['preload']['venv_gb']} GB installed; versions {result['preload']['versions']}.", "",
             "| notebook | INSTALL_AUGMENT | result | seconds | torch | transformers | flair | textattack | datasets |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["notebooks"]:
        v = r["versions"]
        state = "ok" if r["ok"] else f"failed: {r['error']}"
        if "textattack_probe" in r:
            probe = r["textattack_probe"]
            state += f"; TextAttack EDA probe {'ok' if probe['ok'] else 'failed'} ({probe['seconds']} s)"
        lines.append(f"| {r['notebook']} | {r['install_augment']} | {state} | {r['seconds']} | {v.get('torch')} | "
                     f"{v.get('transformers')} | {v.get('flair')} | {v.get('textattack')} | {v.get('datasets')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "colab-sim",
                        help="folder for the clone, the executed notebooks and the log (not in the repository)")
    parser.add_argument("--venv", type=Path, help="the Colab-like venv (default: <work>/venv)")
    parser.add_argument("--reuse-venv", action="store_true", help="keep an existing venv (faster; less faithful)")
    parser.add_argument("--python", help="a Python 3.12, Colab's (default: the first python3.12 that runs)")
    parser.add_argument("--notebooks", nargs="+", default=["05", "08", "02"], help="run in this order")
    parser.add_argument("--augment", nargs="*", default=["02"], help="notebooks run with INSTALL_AUGMENT = True")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("needs root: it makes /content, as on Colab")
    work = args.work.expanduser().resolve()
    if work.is_relative_to(REPO_ROOT):
        raise SystemExit("--work must lie outside the repository")
    venv = (args.venv or work / "venv").expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc)
    logfile = work / f"simulation_{stamp:%Y%m%d_%H%M%S}.log"
    env = clean_env(venv, work)
    python = python_version(args.python or find_python312())
    log(f"log: {logfile}")
    origin, head = clone_head(work)  # first: the commit simulated is HEAD when the run starts
    log(f"venv {venv} (Python {python}): pre-loading Colab's stack from PyPI")
    preload = build_venv(venv, args.python or find_python312(), env, logfile, fresh=not args.reuse_venv)
    preload["versions"] = versions(venv, env)
    log(f"pre-loaded in {preload['seconds']} s: {preload}")
    prepare_content()
    (work / "in").mkdir(exist_ok=True)
    (work / "out").mkdir(exist_ok=True)
    result = {"date": f"{stamp:%Y-%m-%d}", "commit": head, "python": python,
              "command": " ".join(["python benchmarks/colab_simulation.py", *(argv or sys.argv[1:])]),
              "preload": preload, "notebooks": []}
    for stem in args.notebooks:
        augment = stem in args.augment
        nb = notebook_copy(origin, stem, work / "in", augment)
        log(f"{nb.name} (INSTALL_AUGMENT = {augment}) ...")
        r = run_notebook(venv, env, nb, work / "out" / nb.name, logfile, args.timeout)
        if augment and r["ok"]:
            r["textattack_probe"] = textattack_probe(venv, env, logfile)
            log(f"TextAttack probe: {r['textattack_probe']}")
        result["notebooks"].append({"notebook": nb.stem, "install_augment": augment, **r})
        log(f"{nb.name}: {'ok' if r['ok'] else 'FAILED ' + str(r['error'])} in {r['seconds']} s; {r['versions']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"colab_simulation_{stamp:%Y-%m-%d}"
    # no paths of this machine
    portable = {str(work): "<work>", str(Path.home()): "~", tempfile.gettempdir() + os.sep: "<tmp>/"}
    for path, text in ((base.with_suffix(".json"), json.dumps(result, indent=1) + "\n"),
                       (base.with_suffix(".md"), markdown(result))):
        for old, new in portable.items():
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    log(f"wrote {base}.json and .md")
    return 0 if all(r["ok"] for r in result["notebooks"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
