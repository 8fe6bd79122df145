"""The generated inference table (``readme_sections.inference``) from ``benchmarks/inference.py``'s reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import readme_sections

RUN = readme_sections.INFERENCE


def write(folder: Path, threads: int, speed: float, run: str = RUN) -> None:
    results = {name: {"sentences_per_s": speed * k, "sentences_per_s_model": speed * k * 1.5, "p50_latency_ms": 9.0 / k,
                      "size_mb": 90.0 / k, "accuracy": 0.69 - k / 1000, "macro_f1": 0.61 - k / 1000}
               for k, name in enumerate(("fp32", "int8_dynamic", "onnx_fp32", "onnx_int8"), start=1)}
    report = {"model_dir": f"notebook_outputs/runs/{run}/model", "threads": threads, "results": results}
    (folder / f"inference_{run}_{threads}t.json").write_text(json.dumps(report))


def test_a_row_per_runtime_and_thread_count(tmp_path: Path) -> None:
    write(tmp_path, 2, 200.0)
    write(tmp_path, 1, 100.0)
    write(tmp_path, 1, 999.0, run="another_run")  # another model: not shown
    text = readme_sections.inference(tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[:3] for row in rows] == [
        ["| PyTorch fp32", "1", "100.0"], ["| PyTorch fp32", "2", "200.0"],
        ["| PyTorch int8 (dynamic, `--quantized`)", "1", "200.0"],
        ["| PyTorch int8 (dynamic, `--quantized`)", "2", "400.0"],
        ["| ONNX Runtime fp32", "1", "300.0"], ["| ONNX Runtime fp32", "2", "600.0"],
        ["| ONNX Runtime int8 (dynamic; predict's default)", "1", "400.0"],
        ["| ONNX Runtime int8 (dynamic; predict's default)", "2", "800.0"]]
    assert rows[-1].endswith("| 2 | 800.0 | 1200.0 | 2.2 | 22.5 | 0.6860 | 0.6060 |") and "999" not in text
    assert f"inference_{RUN}_1t.json" in text and "model only" in text


def test_the_other_families_are_listed_after_the_table(tmp_path: Path) -> None:
    write(tmp_path, 1, 100.0)
    for threads, speed in ((1, 2500.0), (2, 4000.0)):  # benchmarks/inference_families.py's reports
        report = {"run": "bigru_minilm", "model_dir": "notebook_outputs/runs/bigru_minilm", "threads": threads,
                  "results": {"fp32": {"sentences_per_s": speed, "p50_latency_ms": 2.0, "size_mb": 48.0}}}
        (tmp_path / f"inference_bigru_minilm_{threads}t.json").write_text(json.dumps(report))
    text = readme_sections.inference(tmp_path)
    assert text.rstrip().endswith("sentences/s on 1 / 2 threads: `bigru_minilm` 2500 / 4000.")


def test_no_report_of_the_run_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path, 1, 100.0, run="another_run")
    with pytest.raises(FileNotFoundError, match=f"no inference_.*json of run '{RUN}'"):
        readme_sections.inference(tmp_path)
