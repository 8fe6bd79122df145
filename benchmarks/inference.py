"""CPU inference speed of a fine-tuned transformer: fp32 PyTorch vs torch dynamic int8 quantization.

    .venv/bin/python benchmarks/inference.py --data-dir $GOEMOTIONS_DIR [--model <run>/model]

Reports, on ``--threads`` threads (default 2): sentences/s over the whole test split in batches of
``--batch-size`` (texts sorted by length, as ``src_helpers.predict`` does, tokenization included),
median batch-1 latency over ``--n-latency`` test texts, the weights' size, and test accuracy / macro-F1 of
both paths (multi-label models at the threshold chosen on dev during training). Writes a JSON next to
this file (``benchmarks/results/``) unless ``--no-save``. On a machine shared with other jobs, compare
``--threads 1``: extra threads then wait for CPU time and latencies jump to hundreds of milliseconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import time
from pathlib import Path

import numpy as np
import torch

from src_helpers.config import portable_path
from src_helpers.data.ekman import multi_hot
from src_helpers.data.goemotions import load_for_profile
from src_helpers.evaluation.metrics import multi_label_report, single_label_report
from src_helpers.predict import default_model_dir, predict_proba
from src_helpers.training.transformer_model import load_model_dir


def size_mb(model: torch.nn.Module) -> float:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes / 2**20


def scores(model_cfg, probs: np.ndarray, test) -> dict:
    if model_cfg.problem_type == "multi_label_classification":
        rep = multi_label_report(multi_hot(test["ekman_groups"].tolist()), probs,
                                 getattr(model_cfg, "ekman_threshold", 0.5))
        return {"macro_f1": rep["macro_f1"], "micro_f1": rep["micro_f1"]}
    rep = single_label_report(test["ekman"].to_numpy(), probs.argmax(1))
    return {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"]}


def bench(model_dir: Path, texts: list[str], test, quantized: bool, batch_size: int, n_latency: int) -> dict:
    _, model = load_model_dir(str(model_dir), quantized)
    predict_proba(texts[:batch_size], model_dir, batch_size, quantized)  # warm-up
    t0 = time.perf_counter()
    probs, _ = predict_proba(texts, model_dir, batch_size, quantized)
    batched = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    latencies = []
    for i in rng.choice(len(texts), size=min(n_latency, len(texts)), replace=False):
        t0 = time.perf_counter()
        predict_proba([texts[i]], model_dir, 1, quantized)
        latencies.append(time.perf_counter() - t0)
    return {"sentences_per_s": len(texts) / batched, "p50_latency_ms": 1000 * float(np.median(latencies)),
            "p90_latency_ms": 1000 * float(np.quantile(latencies, 0.9)), "size_mb": size_mb(model),
            **scores(model.config, probs, test)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model folder (default: best run under notebook_outputs/runs)")
    p.add_argument("--profile", default="full", choices=("quick", "full"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n-latency", type=int, default=300)
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model_dir = Path(a.model) if a.model else default_model_dir()
    test = load_for_profile(a.profile, a.data_dir)["test"]
    texts = test["text"].tolist()
    rows = {name: bench(model_dir, texts, test, q, a.batch_size, a.n_latency)
            for name, q in (("fp32", False), ("int8_dynamic", True))}
    delta = {k: rows["int8_dynamic"][k] - rows["fp32"][k] for k in rows["fp32"] if k in ("accuracy", "macro_f1")}
    report = {"model_dir": portable_path(model_dir), "threads": a.threads, "batch_size": a.batch_size,
              "n_test": len(texts), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "results": rows, "int8_minus_fp32": delta,
              "speedup_batched": rows["int8_dynamic"]["sentences_per_s"] / rows["fp32"]["sentences_per_s"]}
    print(json.dumps(report, indent=2))
    if not a.no_save:
        out = Path(__file__).parent / "results" / f"inference_{model_dir.parent.name}_{a.threads}t.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"saved {out}")


if __name__ == "__main__":
    main()
