"""The numbered notebooks: clean sources, and a headless quick-profile execution of each."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

from src_helpers.config import REPO_ROOT, paths_for
from tools.pipeline import NOTEBOOKS_DIR, find_notebooks, run_notebook

NOTEBOOKS = find_notebooks()


def code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def uses_augmentation(path: Path) -> bool:
    """The notebook runs TextAttack augmentation (the optional 'augment' extra) in some profile."""
    return any("src_helpers.data.augment" in c.source for c in code_cells(path))


def test_there_are_numbered_notebooks() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names[:2] == ["01_data_preprocessing.ipynb", "02_baseline_tfidf.ipynb"]
    assert f"{FAST_NOTEBOOK}.ipynb" in names, "make test runs this notebook end to end"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_source_notebook_is_clean_and_parametrised(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "strip outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one papermill 'parameters' cell"
    assert 'profile = "quick"' in tagged[0].source and "data_dir = None" in tagged[0].source


def normalized(source: str) -> str:
    """A cell's code without comments, blank lines and surrounding space: what copying would repeat."""
    lines = (line.split("#", 1)[0].rstrip() for line in source.splitlines())
    return "\n".join(line for line in lines if line.strip())


def copied_cells(paths: list[Path]) -> list[str]:
    """Code cells of two or more lines (comments and blank lines aside) that appear in more than one notebook; the
    first code cell (the Colab set-up, the same everywhere on purpose) is not compared."""
    seen: dict[str, str] = {}
    copied = []
    for path in paths:
        for cell in code_cells(path)[1:]:
            code = normalized(cell.source)
            if "\n" not in code:
                continue
            if seen.setdefault(code, path.name) != path.name:
                copied.append(f"{path.name} repeats a cell of {seen[code]}: {code[:80]!r}")
    return copied


def test_no_cell_is_copied_between_notebooks() -> None:
    """Each notebook shows its own stage; code two notebooks need lives in the package."""
    assert not copied_cells(NOTEBOOKS)


def test_the_copy_check_finds_a_copied_cell(tmp_path: Path) -> None:
    for name, cell in (("01_a.ipynb", "x = run(1)\nshow(x)"), ("02_b.ipynb", "x = run(1)  # same\n\nshow(x)"),
                       ("03_c.ipynb", "x = run(2)\nshow(x)")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("setup()"), nbformat.v4.new_code_cell(cell)]
        nbformat.write(nb, tmp_path / name)
    found = copied_cells(sorted(tmp_path.glob("*.ipynb")))
    assert len(found) == 1 and found[0].startswith("02_b.ipynb repeats a cell of 01_a.ipynb")


NONE_ALLOWED = ("_dir", "storage", "timeout")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_flags_are_plain_booleans(path: Path) -> None:
    """Every knob is a plain value in the parameters cell: no three-state ``None`` flags (only folders, the optional
    storage and a time limit may be None: the default place, no limit)."""
    import ast

    cell = next(c for c in code_cells(path) if "parameters" in c.metadata.get("tags", []))
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign), f"{path.name}: the parameters cell only assigns values"
        name = node.targets[0].id
        if isinstance(node.value, ast.Constant) and node.value.value is None:
            assert name.endswith(NONE_ALLOWED), f"{path.name}: {name} = None; use True/False or a value"


def test_colab_setup_cell_is_the_same_everywhere_and_keeps_colabs_torch() -> None:
    first = {p.name: code_cells(p)[0].source for p in NOTEBOOKS}
    assert len(set(first.values())) == 1, "the Colab set-up cell (first code cell) differs between notebooks"
    cell = next(iter(first.values()))
    assert 'if "google.colab" in sys.modules:' in cell, "the cell does nothing outside Colab"
    pip_lines = [line for line in cell.splitlines() if re.search(r"\bpip\b", line)]
    assert pip_lines and not [line for line in pip_lines if "torch" in line], "never install torch"
    assert "[augment]" in cell and "INSTALL_AUGMENT = False" in cell, "TextAttack is opt-in on Colab"
    assert '"-c", "/content/keep_colab_stack.txt"' in " ".join(pip_lines), "pip must keep Colab's torch build"
    assert "%pip" not in cell and "!git" not in cell, "IPython's %pip and ! never stop the notebook on failure"


# `make test` runs this one notebook end to end (quick and on either stack); the others run with `make test-slow`
FAST_NOTEBOOK = "08_comparison"


@pytest.mark.parametrize("path", [pytest.param(p, marks=() if p.stem == FAST_NOTEBOOK else pytest.mark.slow)
                                  for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_runs_headless_in_quick_profile(path: Path) -> None:
    if uses_augmentation(path) and importlib.util.find_spec("textattack") is None:
        pytest.skip("augments with TextAttack, which is not installed (optional extra: pip install -e '.[augment]')")
    out = run_notebook(path, "quick")  # conftest points outputs at a tmp folder, offline, bundled sample
    paths = paths_for("quick")
    assert out.parent == paths.notebooks_out and out.name == path.name
    nb = json.loads(out.read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(paths.images.glob(f"{path.stem[:2]}_*.png")), "the notebook saved its figures"
    assert not list(paths.notebooks_out.glob(".headline_*")), "the runner consumed the headline"
    assert NOTEBOOKS_DIR.joinpath(path.name).exists()


def executed_code(path: Path) -> list[str]:
    """The code cells of an executed copy as its source had them (papermill's injected parameters aside)."""
    cells = nbformat.read(path, as_version=4).cells
    injected = "injected-parameters"
    return [c.source for c in cells if c.cell_type == "code" and injected not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_newest_executed_copy_ran_this_source_and_says_where(path: Path) -> None:
    """The history book's newest full-profile copy of each notebook holds exactly the source's code cells and
    records the commit, versions and machine it ran on (``tools.provenance``)."""
    from tools import report

    newest = report.newest_copies(report.notebook_index(REPO_ROOT / "notebook_outputs"))
    assert path.stem in newest.index, f"{path.stem}: no executed copy of the full profile"
    copy = REPO_ROOT / "notebook_outputs" / newest.loc[path.stem, "file"]
    assert executed_code(copy) == [c.source for c in code_cells(path)], (
        f"{copy.name} is not the source's code: run python -m tools.pipeline --profile full --only {path.stem[:2]}")
    prov = nbformat.read(copy, as_version=4).metadata["provenance"]
    assert prov["commit"] and prov["profile"] == "full" and prov["versions"]["torch"] and prov["cpu"]
