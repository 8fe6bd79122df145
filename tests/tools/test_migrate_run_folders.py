"""The one-time run-folder migration (``tools/migrate_run_folders.py``) on temporary copies of committed run folders
written back in format 1: upgraded to the committed format-2 config.json, idempotent, every other file untouched, a
newer format refused; and every committed run folder is in the current format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from src_helpers.experiments.run_folders import FORMAT_VERSION, RunFolderError, load_run, run_folders
from tools.migrate_run_folders import DEFAULT_ROOT, main, migrate, upgrade

# an Ekman RNN run with the former ``lr`` and no data fingerprint, a transformer run with the former ``fp16``, a DAIR
# run with its fingerprint, and a run in a folder of run folders
FOLDERS = ["bigru_random", "transformer_minilm_single", "dair_tfidf", "goemotions_for_dair/tfidf_single"]


def as_format_1(config: dict) -> dict:
    """A format-2 config.json as format 1 wrote it: no version, Ekman's label set and a missing fingerprint not
    named, the former option names."""
    old = {k: v for k, v in config.items() if k != "format_version"}
    for key, absent in (("labels", "ekman"), ("data", None)):
        if old[key] == absent:
            del old[key]
    if "train_config" in old:
        old["train_config"] = {("lr" if k == "learning_rate" else k): v for k, v in old["train_config"].items()}
    if "ft" in old:
        old["ft"] = {("fp16" if k == "precision" else k): (v == "fp16" if k == "precision" else v)
                     for k, v in old["ft"].items()}
    return old


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def old_runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for name in FOLDERS:
        shutil.copytree(DEFAULT_ROOT / name, root / name)
        config = json.loads((root / name / "config.json").read_text())
        (root / name / "config.json").write_text(json.dumps(as_format_1(config), indent=2) + "\n")
    return root


def test_format_1_folders_are_upgraded_once_and_nothing_else_changes(old_runs: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(RunFolderError, match="format_version 1, .*python -m tools.migrate_run_folders"):
        load_run(old_runs / "bigru_random")
    before = _files(old_runs)
    assert main([str(old_runs)]) == 0
    assert "4 run folder(s) upgraded to format 2" in capsys.readouterr().out
    after = _files(old_runs)
    assert {k for k in before if before[k] != after[k]} == {f"{name}/config.json" for name in FOLDERS}, \
        "only config.json is rewritten: metrics, predictions and history keep every byte"
    for name in FOLDERS:
        assert json.loads(after[f"{name}/config.json"]) == json.loads((DEFAULT_ROOT / name / "config.json").read_text())
        run = load_run(old_runs / name)
        assert run.config["format_version"] == FORMAT_VERSION and run.config["labels"] in ("ekman", "dair")
    assert json.loads(after["bigru_random/config.json"])["train_config"]["learning_rate"] == 0.002
    assert json.loads(after["transformer_minilm_single/config.json"])["ft"]["precision"] == "fp16"
    assert json.loads(after["bigru_random/config.json"])["data"] is None, "no fingerprint is made up"
    assert migrate(old_runs) == [] and _files(old_runs) == after, "a second run changes nothing"


def test_a_newer_format_is_refused(old_runs: Path) -> None:
    config_file = old_runs / "dair_tfidf" / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "format_version": 3}))
    with pytest.raises(RunFolderError, match=r"dair_tfidf: config.json: format_version 3 is unknown"):
        migrate(old_runs)


def test_every_committed_run_folder_is_in_the_current_format() -> None:
    folders = run_folders(DEFAULT_ROOT, nested=True)
    if not folders:
        pytest.skip("no committed runs in this checkout")
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        assert config["format_version"] == FORMAT_VERSION and "labels" in config and "data" in config, folder.name
        assert upgrade(config, folder) == config
