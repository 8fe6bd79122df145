"""What a fresh clone gets: no absolute paths of the machine that produced a file, and install files that agree.

The path scan covers every git-tracked text file of the kinds below. Executed notebooks are scanned in their
metadata and cell sources (papermill's injected parameters included); their outputs are the record of what a
run printed and are left as they are.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

from src_helpers.config import REPO_ROOT

SCANNED = (".json", ".ipynb", ".py", ".toml", ".md", ".yml", ".yaml", ".csv", ".txt", ".cfg")
# absolute paths under work, root, tmp, home/<user>, Users/<user> (written in pieces: no match in this file)
ABSOLUTE = re.compile(r"(?<![\w.~-])/(?:" + "|".join(["wo" + "rk", "ro" + "ot", "t" + "mp", "ho" + "me",
                                                       "Us" + "ers"]) + r")/[\w.-]")


def tracked_files() -> list[Path]:
    """Every git-tracked file of the scanned kinds (skips when this is not a git checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    names = [n for n in out.decode().split("\0") if n]
    if not names:
        pytest.skip("not a git checkout")
    return [REPO_ROOT / n for n in names if n.endswith(SCANNED) or n in ("Makefile", ".ci/run")]


def scanned_text(path: Path) -> str:
    """The file's text; for a notebook its metadata and cell sources (not the outputs of a run)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    nb = json.loads(text)
    cells = [{k: v for k, v in c.items() if k != "outputs"} for c in nb.get("cells", [])]
    return json.dumps({"metadata": nb.get("metadata", {}), "cells": cells}, indent=1)


def absolute_paths(text: str) -> list[str]:
    """Lines of ``text`` that hold an absolute path of this kind of machine."""
    return [line.strip()[:160] for line in text.splitlines() if ABSOLUTE.search(line)]


def test_the_pattern_finds_machine_paths_and_nothing_else() -> None:
    bad = ['"best_checkpoint": "/' + 'work/main/runs/x/checkpoint-5"', "--data-dir /" + "work/shared/data",
           "cd /" + "root/project", "/" + "home/alice/x.txt", 'open("/' + 'tmp/out.json")', "/" + "Users/bob/x"]
    good = ['"best_checkpoint": "checkpoints/checkpoint-5"', "--data-dir $GOEMOTIONS_DIR", "~/.cache/x",
            "https://example.org/tmp/x", "notebook_outputs/runs/x/config.json", 'MARKERS = ("/' + 'tmp/",)']
    assert [absolute_paths(t) != [] for t in bad] == [True] * len(bad)
    assert [absolute_paths(t) for t in good] == [[]] * len(good)


def test_committed_files_hold_no_absolute_paths() -> None:
    found = {}
    for path in tracked_files():
        if path.exists():
            lines = absolute_paths(scanned_text(path))
            if lines:
                found[str(path.relative_to(REPO_ROOT))] = lines[:3]
    assert not found, "absolute paths of a machine in committed files (store them relative to the repo):\n" + \
        "\n".join(f"{name}: {lines}" for name, lines in sorted(found.items()))


# ------------------------------------------------------------------ install files

def project() -> dict:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def requirement_name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_dependencies_are_ranges_and_textattack_is_an_extra() -> None:
    meta = project()
    core = {requirement_name(r): r for r in meta["dependencies"]}
    assert not [r for r in meta["dependencies"] if "==" in r], "exact pins belong in constraints.txt"
    assert core["torch"].replace(" ", "").startswith("torch>="), "any recent torch (Colab's own) must do"
    assert "<5" not in core["transformers"].replace(" ", ""), "transformers 5 must be allowed"
    assert "textattack" not in core and "flair" not in core
    assert "textattack" in {requirement_name(r) for r in meta["optional-dependencies"]["augment"]}


def constraints(name: str) -> dict[str, str]:
    lines = (REPO_ROOT / name).read_text(encoding="utf-8").splitlines()
    pins = [line.split("#")[0].strip() for line in lines]
    return {requirement_name(p): p.split("==", 1)[1] for p in pins if "==" in p}


@pytest.mark.parametrize("name", ["constraints.txt", "constraints-tf5.txt"])
def test_constraint_files_pin_torch_from_disk_and_cover_the_core(name: str) -> None:
    pins = constraints(name)
    assert pins["torch"] == "2.13.0", "the CPU build on disk here (any other torch downloads GBs)"
    missing = {requirement_name(r) for r in project()["dependencies"]} - set(pins)
    assert not missing, f"{name} does not pin {sorted(missing)}"
    assert "src-helpers" not in pins, "the project itself is installed editable, not pinned"


def test_the_two_stacks_are_transformers_4_with_textattack_and_5_without() -> None:
    four, five = constraints("constraints.txt"), constraints("constraints-tf5.txt")
    assert four["transformers"].startswith("4.") and "textattack" in four
    assert five["transformers"].startswith("5.") and "textattack" not in five and "flair" not in five


def test_augment_extra_requires_a_flair_for_python_3_12_and_the_constraints_agree() -> None:
    """Left free, pip keeps Colab's transformers 5 and backtracks to flair 0.11.3, whose sentencepiece 0.1.95
    has no Python 3.12 wheel: the whole Colab install fails. flair 0.15 takes transformers 4.57 instead."""
    augment = {requirement_name(r): r.replace(" ", "") for r in project()["optional-dependencies"]["augment"]}
    assert augment.get("flair") == "flair>=0.15", "the augment extra must require flair>=0.15"
    pinned = constraints("constraints.txt")["flair"]
    assert tuple(int(x) for x in pinned.split(".")[:2]) >= (0, 15), f"constraints.txt pins flair {pinned}"


def test_make_ci_and_conda_install_with_the_constraints() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^\$\(STAMP\):.*\bconstraints\.txt\b", makefile.replace("$(CONSTRAINTS)", "constraints.txt"),
                     re.M), "the venv stamp depends on the constraints file"
    assert "-c $(CONSTRAINTS)" in makefile and "CONSTRAINTS ?= constraints.txt" in makefile
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test\n" in ci and "make test-tf5" in ci
    conda = (REPO_ROOT / "environment.yml").read_text(encoding="utf-8")
    assert "-c constraints.txt" in conda and '-e ".[dev,augment,studies]"' in conda


def make_recipe(target: str) -> str:
    """The command lines of a Makefile target (the tab-indented lines under ``target:``)."""
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert found, f"the Makefile has no target {target}"
    return found.group(1)


def test_make_test_leaves_out_the_slow_tests_and_ci_runs_them_too() -> None:
    """A plain `pytest` (`make test`) deselects the slow marker; CI then runs `make test-slow`, so every test runs."""
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    options = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]
    options = options["ini_options"]
    assert any(m.startswith("slow:") for m in options["markers"]), "the slow marker is declared"
    assert re.sub(r"\s+", " ", options["addopts"]).strip() == "-m 'not slow'", "plain pytest leaves slow tests out"
    assert re.search(r"-m pytest -q\s*$", make_recipe("test"), re.M), "make test keeps pytest's default selection"
    assert re.search(r"-m pytest -q -m slow\s*$", make_recipe("test-slow"), re.M), "make test-slow: only slow"
    for target in ("test-all", "test-tf5"):
        assert '-m "slow or not slow"' in make_recipe(target), f"make {target} runs the slow tests too"
    ci = [line.split("#")[0].strip() for line in (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    steps = [line for line in ci if line.startswith("make ")]
    assert {"make test", "make test-slow", "make test-tf5"} <= set(steps), f"CI runs only: {steps}"


def test_both_stacks_install_and_pin_the_postgresql_driver() -> None:
    """The 'studies' extra (psycopg) is what tests/experiments/test_studies_workers.py's PostgreSQL test needs."""
    assert {requirement_name(r) for r in project()["optional-dependencies"]["studies"]} == {"psycopg"}
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "EXTRAS ?= dev,augment,studies" in makefile and "EXTRAS_TF5 ?= dev,studies" in makefile
    for name in ("constraints.txt", "constraints-tf5.txt"):
        pins = constraints(name)
        assert pins["psycopg"] == pins["psycopg-binary"], f"{name}: psycopg and its binary build go together"


def test_finetune_records_its_best_checkpoint_relative_to_the_run_folder(tmp_path: Path) -> None:
    from src_helpers.data.goemotions import load_goemotions, subsample
    from src_helpers.training import finetune as ft
    from tests.tiny_models import make_tiny_model
    from tests.training.helpers import finetune

    s = load_goemotions(source="sample")
    src = make_tiny_model("distilbert", tmp_path / "hub")
    config = ft.FTConfig(model_name=str(src), epochs=1, batch_size=8, eval_batch_size=16, max_length=32,
                         learning_rate=1e-3, logging_steps=2, num_threads=1)
    run_dir = tmp_path / "runs" / "tiny"
    res = finetune(subsample(s["train"], 32, seed=1), subsample(s["dev"], 14), subsample(s["test"], 14), config,
                   run_dir)
    best = json.loads((run_dir / "config.json").read_text())["result"]["best_checkpoint"]
    assert best == res.extra["best_checkpoint"] and re.fullmatch(r"checkpoints/checkpoint-\d+", best)
    assert (run_dir / best).is_dir()


def test_a_warm_start_from_a_run_in_the_repo_is_recorded_relative_to_it(tmp_path: Path) -> None:
    from src_helpers.training import finetune as ft

    model = REPO_ROOT / "notebook_outputs" / "runs" / "transformer_minilm_single" / "model"
    assert ft._ft_dict(ft.FTConfig(model_name=str(model)))["model_name"] == \
        "notebook_outputs/runs/transformer_minilm_single/model"
    for name in ("minilm", "albert-base-v2", str(tmp_path / "model")):  # hub names and folders outside: as given
        assert ft._ft_dict(ft.FTConfig(model_name=name))["model_name"] == name


# ------------------------------------------------------------------ what the package and the notebooks say

WORDING = (".py", ".ipynb", ".md", ".csv", ".json")  # text a student reads (bundled data samples are not scanned)
# The two words, written in pieces (no match in this file): a tracker's "iss-ue"s (words that only contain it are other
# words), and a "b-ar" in the sense of a threshold to beat (plotting's and progress displays' are allowed, see
# DISPLAY).
WORKFLOW = re.compile(r"\b(?:" + "is" + "sues?" + "|" + "b" + "ars?" + r")\b", re.I)
DISPLAY = re.compile(r"chart|plot|" + "b" + r"arh|error ?" + "b" + r"ar|colou?r ?" + "b" + r"ar|progress|tqdm|text "
                     + "b" + "ar", re.I)
TRACKER_WORD, THRESHOLD_WORD = "is" + "sue", "b" + "ar"


def product_files() -> list[Path]:
    """The package's, the source notebooks', the tests' and the documentation's text files (not the bundled data
    samples)."""
    folders = ("src_helpers", "notebooks", "tests", "docs")
    files = [p for folder in folders for p in sorted((REPO_ROOT / folder).rglob("*"))
             if p.suffix in WORDING and "__pycache__" not in p.parts and not p.parent.name.endswith("_sample")]
    files.append(REPO_ROOT / "README.md")
    assert files, "no package or notebook files found"
    return files


def source_text(path: Path) -> str:
    """The file's text; for a notebook its cells' sources, line by line."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells)


def workflow_words(text: str, plotting_module: bool = False) -> list[str]:
    """Lines of ``text`` that hold one of the ``WORKFLOW`` words; for the threshold word not on a line about a
    chart, a plot, horizontal, error or colour ones, or a progress display (``DISPLAY``; every line of the plotting
    module is plotting)."""
    out = []
    for line in text.splitlines():
        words = {w.lower().rstrip("s") for w in WORKFLOW.findall(line)}
        if TRACKER_WORD in words or (THRESHOLD_WORD in words and not plotting_module and not DISPLAY.search(line)):
            out.append(line.strip()[:160])
    return out


def test_the_wording_rule_finds_workflow_words_and_nothing_else() -> None:
    i, b = TRACKER_WORD, THRESHOLD_WORD
    bad = [f"# {i} 11's targets", f"the {b} of {i} 12", f"{i.title()}s: see the tracker", f"above the {b}s",
           f"TARGET = 0.933  # the {b} for MiniLM", f"{b.upper()}S"]
    good = [f"Gross, my roommate leaves used t{i}s everywhere.", f"table.plot.{b}h(ax=ax)", f"{i}d today",
            f"a {b} of the per-class chart", f"ax.error{b}(value, y)", f"with a colour {b}", f"the {b}rier", f"foo{b}",
            f"falls back to its text progress {b}", f"The text {b} is what these runs want"]
    assert [workflow_words(t) != [] for t in bad] == [True] * len(bad)
    assert [workflow_words(t) for t in good] == [[]] * len(good)


def test_the_package_and_the_notebooks_use_no_workflow_words() -> None:
    found = {}
    for path in product_files():
        lines = workflow_words(source_text(path), plotting_module=path.name in ("figures.py", "test_figures.py"))
        if lines:
            found[str(path.relative_to(REPO_ROOT))] = lines[:3]
    assert not found, "workflow words in the package or a notebook (say what is compared, with its source):\n" + \
        "\n".join(f"{name}: {lines}" for name, lines in sorted(found.items()))


def test_no_module_but_the_experiment_registry_names_a_committed_run_folder() -> None:
    """Run folders are named after the registry's experiments (``registry.EXPERIMENTS``, ``Experiment.run_name``);
    every other module of the package reads runs by what they hold, never by a name, so renaming a run or an
    experiment cannot break it. (The report in ``tools/`` is the repository's bookkeeping: it may name runs.)"""
    runs = REPO_ROOT / "notebook_outputs" / "runs"
    names = sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    if not names:
        pytest.skip("no committed run folders")
    named = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
    found = {}
    for path in sorted((REPO_ROOT / "src_helpers").rglob("*.py")):
        if path.name == "registry.py":  # the registry: where the names are given
            continue
        hits = sorted({m.group(1) for m in named.finditer(path.read_text(encoding="utf-8"))})
        if hits:
            found[str(path.relative_to(REPO_ROOT))] = hits
    assert not found, f"run folder names in the package (take them from experiments/registry.py instead): {found}"


def test_the_package_needs_no_tools_folder() -> None:
    """``tools/`` is the repository's bookkeeping (run from a checkout); an installed package has none, so no module
    imports it (the runner starts ``python -m tools.report`` only where the checkout has it)."""
    uses = re.compile(r"^\s*(?:from|import)\s+tools\b", re.M)
    found = [str(p.relative_to(REPO_ROOT)) for p in sorted((REPO_ROOT / "src_helpers").rglob("*.py"))
             if uses.search(p.read_text(encoding="utf-8"))]
    assert not found, f"modules of the package that import tools/: {found}"


def test_configs_registry_and_reports_import_without_torch() -> None:
    """The config dataclasses, the registry and the report tools load without torch (the device is chosen when a
    run starts): a fresh interpreter shows what they import."""
    code = ("import sys, src_helpers.experiments.registry, src_helpers.evaluation.comparison, tools.report, "
            "tools.readme_sections; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing the registry or the reports imports torch"
