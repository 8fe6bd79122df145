"""Provenance of executed copies: commit (and changes), versions, machine, wall time; shown first and indexed."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import nbformat

from tools import pipeline, provenance, report

START, END = dt.datetime(2026, 12, 2, 5, 0, 0), dt.datetime(2026, 12, 2, 5, 12, 30)


def git_repo(folder: Path) -> Path:
    folder.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "a@b.c"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=folder, check=True)
    (folder / "f.txt").write_text("one\n")
    subprocess.run(["git", "add", "f.txt"], cwd=folder, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "c"], cwd=folder, check=True)
    return folder


def test_record_names_the_commit_and_whether_the_tree_changed(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    clean = provenance.record("full", START, END, root=repo)
    assert (clean["commit"], clean["dirty"]) == (head, False)
    (repo / "f.txt").write_text("two\n")
    changed = provenance.record("full", START, END, root=repo)
    assert changed["dirty"] is True and provenance.short_commit(changed) == head[:7] + "+"
    assert provenance.git_state(tmp_path) == (None, None), "outside git nothing is claimed"


def test_record_holds_versions_machine_and_wall_time(tmp_path: Path) -> None:
    prov = provenance.record("quick", START, END, root=tmp_path)
    assert prov["profile"] == "quick" and prov["wall_seconds"] == 750.0
    assert prov["versions"]["python"].count(".") == 2 and prov["versions"]["torch"]
    assert "transformers" in prov["versions"] and prov["cpu"] and prov["cpu_count"] >= 1
    assert isinstance(prov["gpu"], list) and prov["started"] == "2026-12-02T05:00:00"
    assert provenance.short_commit(prov) == "–" and provenance.short_commit(None) == "–"


def test_executed_copy_shows_its_record_first_and_stores_it(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "02_b.ipynb"
    nbformat.write(nb, path)
    prov = provenance.record("full", START, END)
    for _ in range(2):  # a second write replaces the first record, never stacks another
        pipeline.make_metadata_portable(path, headline={"acc": 0.5}, prov=prov)
    written = nbformat.read(path, as_version=4)
    assert written.metadata["provenance"] == prov and written.metadata["headline"] == {"acc": 0.5}
    first = written.cells[0]
    assert first.cell_type == "markdown" and first.metadata["tags"] == [provenance.TAG]
    assert prov["commit"] in first.source and "12.5 min" in first.source and prov["cpu"] in first.source
    assert [c.source for c in written.cells[1:]] == ["# Title", "x = 1"]


def test_the_index_lists_the_commit_of_each_copy(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2026-12-02T05:00:00", "parameters": {"profile": "full"}}
    nbformat.write(nb, tmp_path / "02_b__2026-11-25__acc0.6.ipynb")
    nb.metadata["provenance"] = {"commit": "0123456789abcdef", "dirty": False}
    nbformat.write(nb, tmp_path / "02_b__2026-12-02__acc0.7.ipynb")
    index = report.notebook_index(tmp_path)
    assert index["commit"].tolist() == ["–", "0123456"]
    assert "| full | 0123456 | acc 0.7 |" in report.index_markdown(index)
