"""The reference results (``src_helpers.evaluation.references``): one data file with their sources, read by the
notebooks, the
comparison figures and the report; no reference number is typed into code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from src_helpers.config import REPO_ROOT
from src_helpers.evaluation import references


def test_every_reference_result_has_a_data_set_a_metric_and_a_source() -> None:
    table = references.load()
    assert list(table.columns) == ["dataset", "target", "metric", "value", "source"]
    assert set(table["dataset"]) == {"goemotions", "dair"} and table["source"].str.len().min() > 20
    assert table.loc["BERT-base, GoEmotions paper", "metric"] == "multi_macro_f1"
    assert "Demszky et al." in table.loc["BERT-base, GoEmotions paper", "source"]
    assert references.value("ALBERT-base, earlier project") == 0.9325
    assert list(references.load("dair").index) == ["ALBERT-base, earlier project"]
    assert references.lines() == {
        "test_accuracy": {"BLSTM, earlier project": 0.6243, "GRU, earlier project": 0.6149,
                          "RWKV, earlier project": 0.6116},
        "multi_macro_f1": {"BERT-base, GoEmotions paper": 0.64}}, "the leaderboard figure's reference lines"


def test_a_misnamed_reference_or_a_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="no reference result 'ALBERT' in .*there are: BLSTM, earlier project"):
        references.value("ALBERT")
    broken = tmp_path / "refs.csv"
    broken.write_text("name,value\nx,0.5\n")
    with pytest.raises(ValueError, match=r"refs.csv: no column \['dataset', 'target', 'metric', 'source'\]"):
        references.load(path=broken)
    twice = tmp_path / "twice.csv"
    twice.write_text("name,dataset,target,metric,value,source\nx,d,single,m,0.5,s\nx,d,single,m,0.6,s\n")
    with pytest.raises(ValueError, match=r"twice.csv: names appear twice: \['x'\]"):
        references.load(path=twice)


def code_of(path: Path) -> str:
    """A Python file's text, or a notebook's code cells."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_no_reference_number_is_typed_into_code() -> None:
    values = {f"{v:g}" for v in references.load()["value"]}
    number = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(values))) + r")(?![\d])")
    files = [*(REPO_ROOT / "src_helpers").rglob("*.py"), *(REPO_ROOT / "notebooks").glob("*.ipynb")]
    if (REPO_ROOT / "tools").is_dir():
        files += (REPO_ROOT / "tools").rglob("*.py")
    found = {str(p.relative_to(REPO_ROOT)): sorted(set(number.findall(code_of(p)))) for p in files}
    assert not {k: v for k, v in found.items() if v}, "read them with src_helpers.evaluation.references instead"
