"""CPU inference of the other model families (TF-IDF + LR, LSTM/GRU, xLSTM, RWKV), measured as
``benchmarks/inference.py`` measures the transformer, so notebook 08's cost-versus-quality figure places every model.

    .venv/bin/python benchmarks/inference_families.py --data-dir $GOEMOTIONS_DIR [--runs tfidf_single bigru_minilm]

For each run folder and each thread count of ``--threads``: sentences/s end to end over the test split (texts in,
probabilities out: tokenization or TF-IDF features included; the trainers' own batches), median and p90 batch-1
latency over ``--n-latency`` test texts, and the model's size. The networks are rebuilt from the run's
``model_config`` and tokenizer, in fp32 (also those trained in bf16): their weights are git-ignored, and the time of
a forward pass does not depend on the values of the weights, so a model with the run's architecture and sizes but
untrained weights times the same. A TF-IDF run keeps no model: its pipeline is fitted again on the train split at
the run's chosen C (a minute). The quality columns are the run folder's own test scores. One JSON per run and thread
count goes to ``benchmarks/results/`` (``inference_<run>_<n>t.json``) unless ``--no-save``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import pickle
from pathlib import Path

import numpy as np
import torch
from inference import machine, throughput_and_latency  # benchmarks/inference.py: the CPU, its flags, timing
from threadpoolctl import threadpool_limits

from src_helpers.config import REPO_ROOT, portable_path
from src_helpers.data.goemotions import load_for_profile
from src_helpers.evaluation.results import targets
from src_helpers.experiments.run_folders import load_run
from src_helpers.training.configs import TfidfConfig
from src_helpers.training.loop import RnnTrainer
from src_helpers.training.tfidf import full_probs, tfidf_pipeline
from src_helpers.validation import COUNT, cli

RUNS = ("tfidf_single", "tfidf_single_aug", "tuned_tfidf", "bigru_minilm", "bigru_minilm_aug", "bilstm_minilm",
        "bigru2_minilm", "bigru_random", *(f"bilstm2_{p}_{b}" for p in ("fp32", "bf16") for b in ("padded", "exact")),
        "xlstm_minilm", "rwkv_minilm", "tuned_rnn", "tuned_xlstm", "tuned_rwkv")  # the leaderboard's but transformers


def predictor(run, train):
    """(texts -> probabilities, size in MB) of a run folder's model, rebuilt as the module docstring says."""
    config = run.config
    if config.get("model") == "tfidf_logreg":
        fields = {k: config[k] for k in TfidfConfig.__dataclass_fields__ if k in config}
        pipe = tfidf_pipeline(TfidfConfig(**fields), config["target"], config["C"])
        pipe.fit(train["text"].tolist(), targets(train, config["target"]))
        n = len(run.labels.classes)
        return (lambda texts: full_probs(pipe, np.asarray(texts, dtype=object), n)), len(pickle.dumps(pipe)) / 2**20
    if "model_config" not in config:
        raise ValueError(f"run {run.name!r} is neither a TF-IDF nor a recurrent run (transformers: inference.py)")
    trainer = RnnTrainer.untrained(config, train["text"].tolist())
    buf = io.BytesIO()
    torch.save(trainer.model.state_dict(), buf)
    return trainer.predict_proba, buf.getbuffer().nbytes / 2**20


def bench(predict, texts: list[str], n_latency: int) -> dict:
    predict(texts[:64])  # warm-up
    return throughput_and_latency(predict, texts, n_latency)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", default=list(RUNS), help="run folder names under --runs-dir")
    p.add_argument("--runs-dir", type=Path, default=REPO_ROOT / "notebook_outputs" / "runs")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=cli(COUNT), nargs="+", default=[1, 2])
    p.add_argument("--n-latency", type=cli(COUNT), default=200)
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args()
    splits, setup = load_for_profile("full", a.data_dir), machine()
    texts = splits["test"]["text"].tolist()
    for name in a.runs:
        run = load_run(a.runs_dir / name)
        predict, size = predictor(run, splits["train"])
        quality = {k: run.metrics["test"][k] for k in ("accuracy", "macro_f1", "micro_f1") if k in run.metrics["test"]}
        for threads in a.threads:
            torch.set_num_threads(threads)
            with threadpool_limits(threads):  # scikit-learn's and NumPy's BLAS / OpenMP threads too
                row = {**bench(predict, texts, a.n_latency), "size_mb": size, **quality}
            report = {"run": name, "model_dir": portable_path(a.runs_dir / name), "threads": threads,
                      "n_test": len(texts), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                      "machine": setup, "quality": "the run folder's test scores", "results": {"fp32": row},
                      "weights": "untrained, same architecture" if "model_config" in run.config else "refitted at C"}
            print(json.dumps({"run": name, "threads": threads, **row}))
            if not a.no_save:
                out = Path(__file__).parent / "results" / f"inference_{name}_{threads}t.json"
                out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
