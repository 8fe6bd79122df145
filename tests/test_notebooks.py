"""The numbered notebooks: clean sources, and a headless quick-profile execution of each."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from src_helpers.config import paths_for
from src_helpers.pipeline import NOTEBOOKS_DIR, find_notebooks, run_notebook

NOTEBOOKS = find_notebooks()


def test_there_are_numbered_notebooks() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names[:2] == ["01_data_preprocessing.ipynb", "02_baseline_tfidf.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_source_notebook_is_clean_and_parametrised(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "strip outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one papermill 'parameters' cell"
    assert 'profile = "quick"' in tagged[0].source and "data_dir = None" in tagged[0].source


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_in_quick_profile(path: Path) -> None:
    out = run_notebook(path, "quick")  # conftest points outputs at a tmp folder, offline, bundled sample
    paths = paths_for("quick")
    assert out.parent == paths.notebooks_out and out.name == path.name
    nb = json.loads(out.read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(paths.images.glob(f"{path.stem[:2]}_*.png")), "the notebook saved its figures"
    assert not list(paths.notebooks_out.glob(".headline_*")), "the runner consumed the headline"
    assert NOTEBOOKS_DIR.joinpath(path.name).exists()
