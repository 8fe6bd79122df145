"""CPU inference of a fine-tuned transformer, four runtimes side by side: PyTorch fp32, PyTorch dynamic int8
(``--quantized``), ONNX Runtime fp32 and ONNX Runtime dynamic int8 (``src_helpers.onnx_model``, predict's default).

    .venv/bin/python benchmarks/inference.py --data-dir $GOEMOTIONS_DIR [--model <run>/model] [--threads 1 2]

For each thread count of ``--threads`` and each runtime, over the whole test split in batches of ``--batch-size``
(texts sorted by length, as ``src_helpers.predict`` does): sentences/s end to end (``sentences_per_s``: tokenization
included, as in earlier reports) and of the model alone (``sentences_per_s_model``: batches tokenized and padded
beforehand, the same batches for all four), median and p90 batch-1 latency over ``--n-latency`` test texts
(tokenization included), size on disk, test accuracy / macro-F1 (multi-label models: macro-/micro-F1 at the
threshold stored with the model, else 0.5). A missing or stale ONNX export is made first. Writes one JSON per thread
count to ``benchmarks/results/`` (``inference_<run>_<n>t.json``, with the CPU, its flags and the versions) unless
``--no-save``. On a machine shared with other jobs the numbers drop and scatter: compare ``--threads 1``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from src_helpers import onnx_model
from src_helpers.config import portable_path
from src_helpers.data.ekman import multi_hot
from src_helpers.data.goemotions import load_for_profile
from src_helpers.evaluation.metrics import multi_label_report, single_label_report
from src_helpers.predict import default_model_dir
from src_helpers.training.finetune import TransformerTrainer
from src_helpers.training.transformer_model import probabilities
from src_helpers.validation import COUNT, cli

RUNTIMES = ("fp32", "int8_dynamic", "onnx_fp32", "onnx_int8")  # the first two: PyTorch (names of earlier reports)
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def machine() -> dict:
    """The CPU's model name, the instruction-set flags that matter for int8/bf16 kernels, cores, versions."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines()[:30] if ":" in line)
    flags = set(fields.get("flags\t\t", "").split())
    return {"cpu": fields.get("model name\t", platform.processor()).strip(), "cores": os.cpu_count(),
            "flags": [f for f in FLAGS if f in flags], "python": platform.python_version(),
            "versions": {p: version(p) for p in onnx_model.PACKAGES}}


def scores(clf: onnx_model.OnnxClassifier, threshold: float, probs: np.ndarray, test) -> dict:
    if clf.target == "multi":
        rep = multi_label_report(multi_hot(test["ekman_groups"].tolist()), probs, threshold)
        return {"macro_f1": rep["macro_f1"], "micro_f1": rep["micro_f1"]}
    rep = single_label_report(test["ekman"].to_numpy(), probs.argmax(1))
    return {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"]}


def runtime(model_dir: Path, name: str, threads: int):
    """(probabilities of texts end to end, logits of ready batches, size in MB) of runtime ``name``."""
    if name.startswith("onnx"):
        clf = onnx_model.OnnxClassifier(model_dir, int8=name == "onnx_int8", threads=threads)
        return clf.predict_proba, clf.logits, clf.path.stat().st_size / 2**20
    trainer = TransformerTrainer.load(model_dir, quantized=name == "int8_dynamic")
    buf = io.BytesIO()
    torch.save(trainer.model.state_dict(), buf)

    @torch.inference_mode()
    def logits(batches):
        return np.concatenate([trainer.model(**{k: torch.from_numpy(v) for k, v in b.items()}).logits.numpy()
                               for b in batches])

    return trainer.predict_proba, logits, buf.getbuffer().nbytes / 2**20


def bench(model_dir: Path, name: str, threads: int, texts: list[str], test, batch_size: int, n_latency: int) -> dict:
    torch.set_num_threads(threads)
    clf = onnx_model.OnnxClassifier(model_dir, threads=threads)  # tokenizer, target and threshold; batches
    order, batches = clf.encode(texts, batch_size)
    end_to_end, logits, size = runtime(model_dir, name, threads)
    logits(batches[:3])  # warm-up
    t0 = time.perf_counter()
    probs = np.empty((len(texts), len(clf.labels)), dtype=np.float32)
    probs[order] = probabilities(logits(batches), clf.target)
    model_only = time.perf_counter() - t0
    timed = throughput_and_latency(lambda batch: end_to_end(batch, batch_size), texts, n_latency)
    return {"sentences_per_s": timed["sentences_per_s"], "sentences_per_s_model": len(texts) / model_only,
            "p50_latency_ms": timed["p50_latency_ms"], "p90_latency_ms": timed["p90_latency_ms"], "size_mb": size,
            **scores(clf, model_threshold(model_dir), probs, test)}


def throughput_and_latency(predict: Callable[[list[str]], object], texts: list[str], n_latency: int) -> dict:
    """Sentences/s of ``predict`` over all ``texts`` (texts in, probabilities out), and its median and p90 latency
    in ms on ``n_latency`` single texts drawn with seed 0 (batch 1). Every benchmark of this folder times this way."""
    t0 = time.perf_counter()
    predict(texts)
    seconds = time.perf_counter() - t0
    latencies = []
    for i in np.random.default_rng(0).choice(len(texts), size=min(n_latency, len(texts)), replace=False):
        t0 = time.perf_counter()
        predict([texts[i]])
        latencies.append(time.perf_counter() - t0)
    return {"sentences_per_s": len(texts) / seconds, "p50_latency_ms": 1000 * float(np.median(latencies)),
            "p90_latency_ms": 1000 * float(np.quantile(latencies, 0.9))}


def model_threshold(model_dir: Path) -> float:
    """The multi-label threshold chosen on dev during training (``ekman_threshold`` in config.json), else 0.5."""
    return float(json.loads((model_dir / "config.json").read_text()).get("ekman_threshold", 0.5))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model folder (default: best run under notebook_outputs/runs)")
    p.add_argument("--profile", default="full", choices=("quick", "full"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=cli(COUNT), nargs="+", default=[1, 2])
    p.add_argument("--batch-size", type=cli(COUNT), default=64)
    p.add_argument("--n-latency", type=cli(COUNT), default=200)
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args()
    model_dir = Path(a.model) if a.model else default_model_dir()
    if reason := onnx_model.stale_reason(model_dir):
        print(f"{reason}: exporting")
        onnx_model.export(model_dir)
    test = load_for_profile(a.profile, a.data_dir)["test"]
    texts, setup = test["text"].tolist(), machine()
    for threads in a.threads:
        rows = {name: bench(model_dir, name, threads, texts, test, a.batch_size, a.n_latency) for name in RUNTIMES}
        report = {"model_dir": portable_path(model_dir), "threads": threads, "batch_size": a.batch_size,
                  "n_test": len(texts), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  "machine": setup, "results": rows,
                  "onnx_int8_minus_fp32": {k: rows["onnx_int8"][k] - rows["fp32"][k] for k in rows["fp32"]
                                           if k in ("accuracy", "macro_f1", "micro_f1")}}
        print(json.dumps(report, indent=2))
        if not a.no_save:
            out = Path(__file__).parent / "results" / f"inference_{model_dir.parent.name}_{threads}t.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(report, indent=2) + "\n")
            print(f"saved {out}")


if __name__ == "__main__":
    main()
