"""Training / inference speed of the four classifiers: naive fixed-length padding vs length-bucketed batches.

naive    : random batches, every example padded to ``--max-length`` and run over all positions (the
           reference project's setup: padding reaches the recurrent state).
bucketed : ``LengthBucketSampler`` batches padded to their own longest example; LSTM/GRU run packed.
exact    : ``LengthBucketSampler(exact=True)``: one length per batch, no padding; LSTM/GRU run dense.

``--precision bf16`` runs the forward pass under ``torch.autocast`` in bfloat16 (weights, optimizer and loss
stay fp32); on CPUs with AVX512-BF16 or AMX its matrix products are about twice as fast.

    .venv/bin/python benchmarks/train_speed.py --data-dir $GOEMOTIONS_DIR --n 4096

Prints examples/s and the implied seconds per epoch of the 43,410-example train split.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

import pandas as pd
import torch

from src_helpers.config import portable_path
from src_helpers.data.encoding import LengthBucketSampler, TextEncoder, pad_batch
from src_helpers.data.goemotions import load_for_profile
from src_helpers.models.classifier import build_model
from src_helpers.models.recurrent import cpu_bf16_rnn_supported
from src_helpers.training.loop import autocast

MODELS = {
    "lstm": {"arch": "lstm", "embedding_dim": 128, "hidden_dim": 256, "num_layers": 2, "bidirectional": True},
    "gru": {"arch": "gru", "embedding_dim": 128, "hidden_dim": 256, "num_layers": 2, "bidirectional": True},
    "xlstm": {"arch": "xlstm", "embedding_dim": 128, "num_layers": 2, "bidirectional": False, "slstm_at": [1]},
    "rwkv": {"arch": "rwkv", "embedding_dim": 128, "num_layers": 2, "bidirectional": False},
}
TRAIN_SIZE = 43_410


def cpu_facts() -> dict:
    """CPU model, its bf16 flags, oneDNN's ISA cap and whether the dense LSTM has a bf16 kernel here."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), None)
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    return {"cpu_model": model, "cpu_bf16_flags": sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16")),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "bf16_lstm_kernel": cpu_bf16_rnn_supported("lstm")}


def batches(ids: list[list[int]], batch_size: int, mode: str, max_length: int, pad_id: int, seed: int = 0):
    if mode == "naive":
        order = list(range(len(ids)))
        random.Random(seed).shuffle(order)
        for i in range(0, len(order), batch_size):
            chunk = [ids[j] + [pad_id] * (max_length - len(ids[j])) for j in order[i: i + batch_size]]
            x, _ = pad_batch(chunk, pad_id)
            yield x, torch.full((len(chunk),), max_length, dtype=torch.long)
    else:
        sampler = LengthBucketSampler([len(s) for s in ids], batch_size, shuffle=True, seed=seed,
                                      exact=mode == "exact")
        for idx in sampler:
            yield pad_batch([ids[j] for j in idx], pad_id)


def measure(name: str, ids: list[list[int]], vocab: int, mode: str, precision: str,
            args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    dev = torch.device(args.device)
    model = build_model({**MODELS[name], "vocab_size": vocab, "pad_id": 0, "context_length": args.max_length})
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    y = torch.zeros(args.batch_size, dtype=torch.long, device=dev)
    bf16 = autocast(args.device, precision)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    model.train()
    for x, lengths in batches(ids[: args.batch_size * 5], args.batch_size, mode, args.max_length, 1):  # warm-up
        with bf16:
            model(x.to(dev), lengths.to(dev)).float().sum().backward()
    opt.zero_grad()
    sync()
    start = time.perf_counter()
    for x, lengths in batches(ids, args.batch_size, mode, args.max_length, 0):
        with bf16:
            logits = model(x.to(dev), lengths.to(dev))
        loss = torch.nn.functional.cross_entropy(logits.float(), y[: len(x)])
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync()
    train_s = time.perf_counter() - start
    model.eval()
    start = time.perf_counter()
    with torch.no_grad(), bf16:
        for x, lengths in batches(ids, 256, "bucketed" if mode == "exact" else mode, args.max_length, 0):
            model(x.to(dev), lengths.to(dev))
    sync()
    infer_s = time.perf_counter() - start
    return {"model": name, "mode": mode, "precision": precision, "train_ex_per_s": len(ids) / train_s,
            "infer_ex_per_s": len(ids) / infer_s, "epoch_s (43,410 ex)": TRAIN_SIZE * train_s / len(ids)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="GoEmotions folder (default: $GOEMOTIONS_DIR, else sample)")
    p.add_argument("--n", type=int, default=4096, help="train examples to time per model and mode")
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=48)
    p.add_argument("--modes", nargs="*", default=["naive", "bucketed", "exact"],
                   choices=["naive", "bucketed", "exact"])
    p.add_argument("--precision", nargs="*", default=["fp32"], choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--json", default=None, help="also write the rows and the set-up to this JSON file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    profile = "full" if args.data_dir else "quick"
    texts = load_for_profile(profile, args.data_dir)["train"]["text"].tolist()
    texts = (texts * (args.n // len(texts) + 1))[: args.n]
    enc = TextEncoder.fit(texts, max_length=args.max_length, min_frequency=1)
    ids = enc.encode_batch(texts)
    print(f"{len(ids)} examples, mean length {sum(map(len, ids)) / len(ids):.1f} tokens, {args.device}, "
          f"{args.threads} threads, batch {args.batch_size}, max length {args.max_length}", flush=True)
    rows = []
    for name in args.models:
        for mode in args.modes:
            for precision in args.precision:
                rows.append(measure(name, ids, enc.vocab_size, mode, precision, args))
                print(rows[-1], flush=True)
    if args.json:
        setup = {k: v for k, v in vars(args).items() if k != "json"}
        setup["data_dir"] = args.data_dir and portable_path(args.data_dir)  # no path of this machine
        gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else None
        setup.update(torch=torch.__version__, cpu=platform.processor() or platform.machine(), gpu=gpu,
                     mean_length=sum(map(len, ids)) / len(ids), **cpu_facts())
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"setup": setup, "rows": rows}, f, indent=2)
    table = pd.DataFrame(rows).round(1)
    try:
        print(table.to_markdown(index=False))  # needs the optional package tabulate
    except ImportError:
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
