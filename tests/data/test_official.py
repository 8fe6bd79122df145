"""The record is written only from the official data: other data goes to .other_data/, and a recorded run folder is
never given other metrics unless asked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_helpers.config import OTHER_DATA, paths_for
from src_helpers.data import official
from src_helpers.data.dair import load_dair_emotion
from src_helpers.data.goemotions import load_goemotions
from src_helpers.experiments.run_folders import OVERWRITE_ENV, RecordError, save_evaluation, save_run
from tests.conftest import REAL_DATA
from tests.tools.test_pipeline import toy_notebook
from tools.pipeline import run_notebook

DAIR_DATA = REAL_DATA.parent / "dair_emotion"


def first_rows(src: Path, dst: Path, n: int = 300) -> Path:
    """A copy of the official GoEmotions folder with the first ``n`` rows of each split."""
    dst.mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        lines = (src / name).read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (dst / name).write_text("".join(lines), encoding="utf-8")
    for name in ("emotions.txt", "ekman_mapping.json"):
        shutil.copy(src / name, dst / name)
    return dst


@pytest.mark.realdata
def test_the_official_files_are_recognised_and_their_first_rows_are_not(real_data_dir: Path, tmp_path: Path) -> None:
    assert official.official_name(load_goemotions(real_data_dir, source="local")) == "goemotions"
    if (DAIR_DATA / "train.txt").exists():
        assert official.official_name(load_dair_emotion(DAIR_DATA, source="local")) == "dair_emotion"
    head = load_goemotions(first_rows(real_data_dir, tmp_path / "head"), source="local")
    assert official.official_name(head) is None
    edited = load_goemotions(real_data_dir, source="local")
    edited["test"].loc[0, "text"] = edited["test"].loc[0, "text"] + "!"  # same sizes, one text changed
    assert official.official_name(edited) is None


def test_other_data_is_not_the_official_release(tiny_goemotions: Path) -> None:
    splits = load_goemotions(tiny_goemotions, source="local")
    assert official.official_name(splits) is None
    splits["train"].attrs["source"] = "hub:google-research-datasets/go_emotions"
    assert official.official_name(splits) is None, "rows cut from the hub's data are other data"
    sizes = {s: known["n"] for s, known in official.official_table()["goemotions"].items()}
    hub = {s: pd.DataFrame({"text": ["x"] * n}) for s, n in sizes.items()}
    hub["train"].attrs["source"] = "hub:google-research-datasets/go_emotions"
    assert official.official_name(hub) == "goemotions", "the hub's whole release is the official data"


def test_the_folder_of_other_data_depends_on_the_other_data_only(tiny_goemotions: Path, tmp_path: Path) -> None:
    """A notebook reading two data sets and the runner that checks them agree, in any order, official ones aside."""
    goemotions = load_goemotions(tiny_goemotions, source="local")
    dair = load_dair_emotion(source="sample")
    assert paths_for("full", data=[goemotions, dair]) == paths_for("full", data=[dair, goemotions])
    official_size = {s: known["n"] for s, known in official.official_table()["dair_emotion"].items()}
    hub = {s: pd.DataFrame({"text": ["x"] * n}) for s, n in official_size.items()}
    hub["train"].attrs["source"] = "hub:dair-ai/emotion"
    assert paths_for("full", data=[hub, goemotions]) == paths_for("full", data=goemotions)


def test_a_full_run_on_other_data_writes_aside_and_says_so_once(tiny_goemotions: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    splits = load_goemotions(tiny_goemotions, source="local")
    record = paths_for("full")
    aside = paths_for("full", data=splits)
    again = paths_for("full", data=[splits])
    assert aside == again
    for folder in (aside.images, aside.runs, aside.notebooks_out, aside.studies):
        assert OTHER_DATA in folder.parts and not folder.is_relative_to(record.notebooks_out)
        assert not folder.is_relative_to(record.images)
    err = capsys.readouterr().err
    assert err.count("not the official data") == 1 and "local:goemotions" in err and OTHER_DATA in err
    assert paths_for("quick", data=splits) == paths_for("quick"), "the quick profile is a smoke run anyway"


@pytest.mark.slow
def test_a_notebook_run_on_other_data_leaves_the_record_untouched(tiny_goemotions: Path, tmp_path: Path) -> None:
    body = """
import numpy as np
from src_helpers.experiments.run_folders import record_headline, save_run
from src_helpers.config import paths_for
from src_helpers.data.goemotions import load_for_profile
splits = load_for_profile(profile, data_dir)
paths = paths_for(profile, data=splits).ensure()
save_run(paths.runs / "toy", {"model": "toy"}, {"dev": {"accuracy": 0.5}, "test": {"accuracy": 0.25}})
(paths.images / "95_toy.png").write_bytes(b"png")
record_headline(paths.notebooks_out, "95_toy", {"acc": 0.25})
"""
    nb = toy_notebook(tmp_path / "nbs", "95_toy.ipynb", body)
    out = run_notebook(nb, "full", data_dir=tiny_goemotions)
    record = paths_for("full")
    assert OTHER_DATA in out.parts and out.name.endswith("__acc0.25.ipynb")
    assert (out.parent.parent / "runs" / "toy" / "metrics.json").exists()
    assert (out.parent.parent / "images" / "95_toy.png").exists()
    assert not record.notebooks_out.exists() and not record.images.exists(), "the record was written"


def _metrics(accuracy: float) -> dict:
    return {"dev": {"accuracy": 0.5, "macro_f1": 0.4}, "test": {"accuracy": accuracy, "macro_f1": 0.3}}


def test_a_recorded_run_is_not_given_other_metrics_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = paths_for("full").runs / "tfidf_single"
    probs = np.full((2, 7), 1 / 7)
    save_run(run_dir, {"model": "a"}, _metrics(0.64), probs=probs)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    save_run(run_dir, {"model": "a"}, _metrics(0.64), probs=probs)  # the same numbers again: fine
    with pytest.raises(RecordError, match=r"tfidf_single.*test accuracy 0.64 stored, 0.52 new.*" + OVERWRITE_ENV):
        save_run(run_dir, {"model": "b"}, _metrics(0.52), probs=probs[:1])
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before, "a refused run wrote something"
    monkeypatch.setenv(OVERWRITE_ENV, "1")
    save_run(run_dir, {"model": "b"}, _metrics(0.52))
    assert json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"] == 0.52


def test_a_recorded_evaluation_is_not_given_other_numbers_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = paths_for("full").runs / "dair_minilm"
    save_run(run_dir, {"model": "a"}, _metrics(0.9))
    save_evaluation(run_dir, "goemotions_test", {"accuracy": 0.58, "macro_f1": 0.40})
    save_evaluation(run_dir, "goemotions_test", {"accuracy": 0.58, "macro_f1": 0.40})  # the same again: fine
    path = run_dir / "evaluations" / "goemotions_test.json"
    before = path.read_bytes()
    with pytest.raises(RecordError, match=r"dair_minilm.*evaluations/goemotions_test.json.*" + OVERWRITE_ENV):
        save_evaluation(run_dir, "goemotions_test", {"accuracy": 0.61, "macro_f1": 0.40})
    assert path.read_bytes() == before
    monkeypatch.setenv(OVERWRITE_ENV, "1")
    save_evaluation(run_dir, "goemotions_test", {"accuracy": 0.61, "macro_f1": 0.40})
    assert json.loads(path.read_text())["accuracy"] == 0.61


def test_runs_outside_the_record_are_rewritten_freely() -> None:
    for run_dir in (paths_for("quick").runs / "toy", paths_for("full").runs.parent / "elsewhere" / "toy"):
        save_run(run_dir, {}, _metrics(0.64))
        save_run(run_dir, {}, _metrics(0.52))
        assert json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"] == 0.52
