"""Emotion predictions from a fine-tuned model folder (``<run>/model``): ``predict(texts, top_k=3)`` and a CLI.

    python -m src_helpers.predict "I've never had such a bad day"
    python -m src_helpers.predict --file texts.txt --json --model notebook_outputs/runs/<run>/model

ONNX Runtime int8 (``src_helpers.onnx_model``) when the folder has a matching export, else PyTorch (``--runtime``).
``load_model`` loads a folder once for many calls (``src_helpers.demo`` keeps it for every request).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from src_helpers.config import paths_for
from src_helpers.data.textio import read_json, read_text, split_lines
from src_helpers.evaluation.metrics import choose_best
from src_helpers.evaluation.results import TARGETS
from src_helpers.training.transformer_model import has_weights
from src_helpers.validation import COUNT, check_choice, cli

HOW_TO_TRAIN = ("create one with `python -m src_helpers.training.finetune --profile full` (real data from --data-dir, "
                '$GOEMOTIONS_DIR or the hub) or notebooks/05_transformers.ipynb with profile = "full"')


def default_model_dir(runs_root: str | Path | None = None) -> Path:
    """The best full run's model (``best_model_dir``); without one, the error names the best quick run's, if any."""
    root = Path(runs_root) if runs_root else paths_for("full").runs
    found = best_model_dir(root)
    if found is not None:
        return found
    message = f"no fine-tuned model under {root} (looked for */model/ with weights)"
    smoke = None if runs_root else best_model_dir(paths_for("quick").runs)
    if smoke is not None:
        message += (f". A quick (smoke) run left {smoke}: pass --model {smoke} to try it (smoke-run quality, "
                    "not a result)")
    raise FileNotFoundError(f"{message}. Pass --model / model_dir, or {HOW_TO_TRAIN}")


def best_model_dir(runs_root: Path, prefer: str = "single") -> Path | None:
    """The best ``<run>/model`` with weights by dev macro-F1 (Ekman runs only), or None; the runs of the ``prefer``
    kind (``"single"``: single-label, ``"multi"``: multi-label) first, the other kind's when there are none."""
    check_choice("prefer", prefer, TARGETS)
    scores: dict[bool, dict[str, float]] = {True: {}, False: {}}  # single-label or not: {run: dev macro-F1}
    for model_dir in sorted(runs_root.glob("*/model")):
        metrics_file, config_file = model_dir.parent / "metrics.json", model_dir.parent / "config.json"
        if not has_weights(model_dir) or not metrics_file.exists():
            continue
        config = read_json(config_file) if config_file.exists() else {}
        if config.get("labels", "ekman") != "ekman":  # another data set's classes (DAIR's): never the default
            continue
        score = read_json(metrics_file).get("dev", {}).get("macro_f1", float("-inf"))
        scores[config.get("target") != "multi"][model_dir.parent.name] = score
    first = prefer == "single"
    found = scores[first] or scores[not first]
    return runs_root / choose_best(found) / "model" if found else None


RUNTIMES = ("auto", "onnx", "torch")


def pick_runtime(model_dir: Path, runtime: str = "auto", quantized: bool = False) -> str:
    """``"onnx"`` or ``"torch"``: auto takes the ONNX int8 export when it matches the weights (a stale one with a
    warning that says how to re-export); ``quantized`` (torch dynamic int8) means PyTorch."""
    from src_helpers.onnx_model import ONNX_DIR, stale_reason

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if quantized:
        if runtime == "onnx":
            raise ValueError("quantized=True is PyTorch's dynamic int8; the ONNX runtime is int8 already")
        return "torch"
    if runtime == "torch":
        return runtime
    reason = stale_reason(model_dir)
    if reason and runtime == "onnx":
        raise FileNotFoundError(reason)
    if reason and (model_dir / ONNX_DIR).exists():
        warnings.warn(f"{reason}; using PyTorch", stacklevel=3)
    return "torch" if reason else "onnx"


@dataclass(frozen=True)
class LoadedModel:
    """A model folder loaded once (keep it to score many requests): ``runtime`` is ``"onnx"`` or ``"torch"``,
    ``scorer`` the ``OnnxClassifier`` or the ``TransformerTrainer`` that scores."""

    model_dir: Path
    runtime: str
    labels: list[str]
    scorer: Any

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities of ``texts`` in their order (softmax, or sigmoid for multi-label models)."""
        return self.scorer.predict_proba(list(texts), batch_size)


def load_model(model_dir: str | Path, runtime: str = "auto", quantized: bool = False,
               threads: int | None = None) -> LoadedModel:
    """The model of ``model_dir`` on ``pick_runtime``'s runtime; ``threads``: CPU threads (None: the runtime's
    default)."""
    model_dir = Path(model_dir)
    if pick_runtime(model_dir, runtime, quantized) == "onnx":
        from src_helpers import onnx_model

        session = onnx_model.load(model_dir, threads=threads)
        return LoadedModel(model_dir, "onnx", list(session.labels), session)
    import torch

    from src_helpers.training.finetune import TransformerTrainer

    if threads:
        torch.set_num_threads(threads)
    trainer = TransformerTrainer.load(model_dir, quantized)
    return LoadedModel(model_dir, "torch", list(trainer.labels.classes), trainer)


def predict_proba(texts: Sequence[str], model_dir: str | Path | None = None, batch_size: int = 64,
                  quantized: bool = False, runtime: str = "auto",
                  threads: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Class probabilities (softmax, or sigmoid for multi-label models) and the label names; ``runtime``: see
    ``pick_runtime``, ``threads``: CPU threads (None: the runtime's default)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a string, got {type(t).__name__}")
        if not t.strip():
            raise ValueError(f"texts[{i}] is empty: nothing to classify")
    loaded = load_model(model_dir or default_model_dir(), runtime, quantized, threads)
    return loaded.predict_proba(texts, batch_size), loaded.labels


def predict(texts: str | Sequence[str], model_dir: str | Path | None = None, top_k: int | None = 3,
            batch_size: int = 64, quantized: bool = False, runtime: str = "auto",
            threads: int | None = None) -> list[list[dict[str, float]]]:
    """For each text, the ``top_k`` labels (all when None) as ``{"label", "score"}``, best first."""
    probs, names = predict_proba(texts, model_dir, batch_size, quantized, runtime, threads)
    k = len(names) if top_k is None else top_k
    if not 1 <= k <= len(names):
        raise ValueError(f"top_k must be between 1 and {len(names)} (or None), got {top_k}")
    best = np.argsort(-probs, axis=1, kind="stable")[:, :k]  # each row's top k classes
    return [[{"label": names[j], "score": round(float(row[j]), 5)} for j in top]
            for row, top in zip(probs, best, strict=True)]


def read_lines(path: str | Path) -> list[str]:
    """Non-blank lines of a UTF-8 file (one text per line, a leading BOM dropped); bad bytes name file:line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--file {path} does not exist")
    return [line for line in split_lines(read_text(path)) if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Predict Ekman emotions with a fine-tuned transformer.")
    p.add_argument("texts", nargs="*", help="texts to classify")
    p.add_argument("--file", help="UTF-8 file with one text per line (blank lines skipped)")
    p.add_argument("--model", help="model folder (default: best run under notebook_outputs/runs/)")
    p.add_argument("--top-k", type=cli(COUNT), default=3)
    p.add_argument("--json", action="store_true", help="print JSON lines: {text, labels}")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto", help="onnx: the int8 export (python -m "
                   "src_helpers.onnx_model), torch: PyTorch; auto (default): onnx when it matches the weights")
    p.add_argument("--quantized", action="store_true", help="PyTorch with dynamic int8 quantization (faster on CPU)")
    p.add_argument("--threads", type=cli(COUNT), default=None, help="CPU threads (default: the runtime's)")
    a = p.parse_args(argv)
    try:
        texts = list(a.texts) + (read_lines(a.file) if a.file else [])
        if not texts:
            p.error("give texts or --file")
        results = predict(texts, a.model, a.top_k, quantized=a.quantized, runtime=a.runtime, threads=a.threads)
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for text, labels in zip(texts, results, strict=True):
        if a.json:
            print(json.dumps({"text": text, "labels": labels}, ensure_ascii=False))
        else:
            shown = text if len(text) <= 60 else text[:57] + "..."
            print(f"{shown}\n    " + "  ".join(f"{d['label']} {d['score']:.3f}" for d in labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
