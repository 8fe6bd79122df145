"""The Colab set-up cell (run here with git, pip stubbed) and the Open-in-Colab links."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from src_helpers.config import REPO_ROOT
from tools import colab_links
from tools.pipeline import find_notebooks

PLACEHOLDER_URL = "https://github.com/YOUR-ACCOUNT/emotion-classification.git"


def setup_cell() -> str:
    nb = json.loads(find_notebooks()[0].read_text(encoding="utf-8"))
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


@pytest.fixture
def colab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Runs the set-up cell as on Colab: /content is tmp_path/content, pip is recorded (or fails), git is real."""
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    content = tmp_path / "content"
    content.mkdir()
    calls: list[list[str]] = []
    real_run = subprocess.run
    state = {"pip_fails": False}

    def run(cmd, *args, **kwargs):
        if cmd[:3] == [sys.executable, "-m", "pip"] or cmd[:3] == [sys.executable, "-m", "tools.nltk_setup"]:
            calls.append(list(cmd))
            if state["pip_fails"] and kwargs.get("check"):
                raise subprocess.CalledProcessError(1, cmd)
            return subprocess.CompletedProcess(cmd, 1 if state["pip_fails"] else 0)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)

    def execute(repo_url: str, augment: bool = False) -> dict:
        source = setup_cell().replace("/content/", f"{content}/").replace(PLACEHOLDER_URL, repo_url)
        source = source.replace("INSTALL_AUGMENT = False", f"INSTALL_AUGMENT = {augment}")
        namespace: dict = {}
        exec(compile(source, "setup-cell", "exec"), namespace)
        return namespace

    execute.content, execute.calls, execute.state = content, calls, state
    return execute


def git_origin(tmp_path: Path, name: str = "origin") -> Path:
    repo = tmp_path / name
    (repo / "notebooks").mkdir(parents=True)
    (repo / "notebooks" / "01_x.ipynb").write_text("{}")
    subprocess.run(["git", "-C", str(repo), "init", "-q", "-b", "main"], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    commit(repo, "first")
    return repo


def commit(repo: Path, message: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", message], check=True)


def head_subject(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%s"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_placeholder_repo_url_stops_at_once_saying_what_to_set(colab) -> None:
    with pytest.raises(ValueError, match="Set REPO_URL"):
        colab(PLACEHOLDER_URL)
    assert not colab.calls and not list(colab.content.iterdir()), "nothing cloned or installed"


def test_second_notebook_reuses_and_updates_the_clone(colab, tmp_path: Path) -> None:
    origin = git_origin(tmp_path)
    ns = colab(str(origin))
    clone = Path(ns["REPO"])
    assert head_subject(clone) == "first" and Path.cwd() == clone / "notebooks" and sys.path[0] == str(clone)
    commit(origin, "second")
    colab(str(origin))  # another notebook in the same runtime: no "destination path already exists"
    assert head_subject(clone) == "second", "the existing clone is updated (git pull --ff-only)"
    pips = [c for c in colab.calls if "pip" in c]
    assert len(pips) == 2 and all(c[-2:] == ["-e", str(clone)] for c in pips)
    assert all(f"{colab.content}/keep_colab_stack.txt" in c for c in pips), "Colab's torch is kept"


def test_a_folder_that_is_no_clone_of_repo_url_stops(colab, tmp_path: Path) -> None:
    colab(str(git_origin(tmp_path)))
    with pytest.raises(RuntimeError, match="not a clone of"):
        colab(str(git_origin(tmp_path, "another")))


def test_failed_pip_install_stops_the_notebook(colab, tmp_path: Path) -> None:
    colab.state["pip_fails"] = True
    with pytest.raises(subprocess.CalledProcessError):
        colab(str(git_origin(tmp_path)))
    assert Path.cwd() == tmp_path, "the cell did not carry on"


def test_install_augment_adds_the_extra_and_fetches_wordnet(colab, tmp_path: Path) -> None:
    ns = colab(str(git_origin(tmp_path)), augment=True)
    assert colab.calls[0][-1] == f"{ns['REPO']}[augment]"
    assert colab.calls[1] == [sys.executable, "-m", "tools.nltk_setup", "--download"]


def test_readme_badges_notebook_badges_and_repo_url_agree_with_pyproject() -> None:
    owner, name = colab_links.repository()
    assert colab_links.problems() == []
    for path in find_notebooks():
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        first_md = next(c for c in cells if c["cell_type"] == "markdown")
        assert colab_links.badge(owner, name, path.name) in "".join(first_md["source"]), "the badge opens itself"
    assert colab_links.clone_url(owner, name) in setup_cell()


def test_a_fork_rewrites_every_badge_and_repo_url_with_one_command(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "notebooks", tmp_path / "notebooks")
    before = {p.name: p.read_bytes() for p in colab_links.notebooks(tmp_path)}
    assert colab_links.main(["--repo", "alice/emo-fork", "--root", str(tmp_path)]) == 0
    assert colab_links.repository(tmp_path) == ("alice", "emo-fork")
    assert colab_links.problems(tmp_path) == []
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "github/YOUR-ACCOUNT/" not in readme
    assert readme.count("github/alice/emo-fork/blob/main/notebooks/") == len(before)
    cells = set()
    for path in colab_links.notebooks(tmp_path):
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells.add("".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"]))
        changed = path.read_bytes().decode().replace("alice/emo-fork", "YOUR-ACCOUNT/emotion-classification")
        assert changed.encode() == before[path.name], "nothing else in the notebook changes"
    assert len(cells) == 1 and 'REPO_URL = "https://github.com/alice/emo-fork.git"' in cells.pop()


def test_check_reports_a_badge_that_points_elsewhere(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "notebooks", tmp_path / "notebooks")
    path = tmp_path / "notebooks" / "02_baseline_tfidf.ipynb"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("/02_baseline_tfidf.ipynb)", "/01_data_preprocessing.ipynb)"), encoding="utf-8")
    assert [p for p in colab_links.problems(tmp_path) if p.startswith("02_baseline_tfidf.ipynb")]
    assert colab_links.main(["--check", "--root", str(tmp_path)]) == 1
