"""ONNX export of a fine-tuned model folder (``<run>/model``), its dynamic int8 quantization and ONNX Runtime
inference; ``predict`` uses the int8 file when its manifest matches the weights.

    python -m src_helpers.onnx_model --model notebook_outputs/runs/<run>/model

writes ``<run>/model/onnx/``: ``model.onnx`` (fp32), ``model.int8.onnx`` and ``manifest.json`` (the SHA-256 of
the weights it was exported from, the versions). ``torch.onnx.export`` with the dynamo exporter (the default since
torch 2.9; needs onnxscript, works offline): it names the inputs after ``forward``'s keywords, where the TorchScript
exporter (``dynamo=False``, deprecated) binds ``input_names`` by position.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from src_helpers.data.textio import read_json
from src_helpers.training.transformer_model import WEIGHT_FILES, probabilities

ONNX_DIR, FP32, INT8, MANIFEST = "onnx", "model.onnx", "model.int8.onnx", "manifest.json"
PACKAGES = ("torch", "transformers", "onnx", "onnxruntime", "onnxscript")
# int8 weights of the MatMuls only (the embedding lookup stays fp32), per tensor, full range: chosen on dev macro-F1
# of the 5-epoch multi-label MiniLM at its dev threshold (fp32 0.6147): MatMul only 0.6113, MatMul + embeddings 0.6088,
# MatMul per channel 0.6088. ONNX Runtime's transformer graph optimizer (it fuses GELU and skip + LayerNorm of the
# dynamo graph, not attention) gave speeds within the noise; reduce_range (7-bit) is for CPUs without VNNI.
QUANTIZATION = {"weight_type": "QInt8", "per_channel": False, "reduce_range": False, "op_types": ["MatMul"]}


def weights_file(model_dir: Path) -> Path:
    found = next((model_dir / w for w in WEIGHT_FILES if (model_dir / w).is_file()), None)
    if found is None:
        raise FileNotFoundError(f"model_dir {model_dir} has no weights ({' or '.join(WEIGHT_FILES)})")
    return found


@lru_cache(maxsize=8)
def _sha256(path: str, mtime_ns: int, size: int) -> str:  # cached while the file stays the same
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(str(path), stat.st_mtime_ns, stat.st_size)


def export(model_dir: str | Path, opset: int = 18) -> Path:
    """Export ``model_dir`` to ``onnx/model.onnx`` (dynamic batch and sequence axes, output ``logits``), quantize it
    to ``onnx/model.int8.onnx`` and write the manifest; returns the onnx folder."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from src_helpers.data.encoding import model_input_names
    from src_helpers.training.transformer_model import load_model_dir

    model_dir = Path(model_dir)
    tokenizer, model = load_model_dir(str(model_dir))
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in model_input_names(model)]
    example = tokenizer(["a short text", "and a somewhat longer example text"], padding=True, return_tensors="pt")
    example = {k: example[k] for k in names if k in example}
    out = model_dir / ONNX_DIR
    out.mkdir(exist_ok=True)
    axes = {k: {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")} for k in example}
    with warnings.catch_warnings():  # the exporter's notes on axis names and deprecations inside torch
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (), out / FP32, kwargs=example, input_names=list(example), output_names=["logits"],
                          dynamic_shapes=axes, opset_version=opset, dynamo=True, external_data=False, verbose=False)
    quantize_dynamic(out / FP32, out / INT8, weight_type=QuantType.QInt8, per_channel=QUANTIZATION["per_channel"],
                     reduce_range=QUANTIZATION["reduce_range"], op_types_to_quantize=QUANTIZATION["op_types"])
    weights = weights_file(model_dir)
    manifest = {"weights": weights.name, "sha256": sha256(weights), "inputs": list(example), "opset": opset,
                "quantization": QUANTIZATION, "versions": {p: version(p) for p in PACKAGES}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def stale_reason(model_dir: str | Path) -> str | None:
    """Why ``model_dir/onnx`` cannot be used (missing, exported from other weights or quantized otherwise), or None."""
    model_dir = Path(model_dir)
    manifest_file, how = model_dir / ONNX_DIR / MANIFEST, f"python -m src_helpers.onnx_model --model {model_dir}"
    if not manifest_file.is_file():
        return f"no ONNX export at {manifest_file.parent} (create it with: {how})"
    manifest = read_json(manifest_file)
    missing = [f for f in (FP32, INT8) if not (manifest_file.parent / f).is_file()]
    what = (f"lacks {', '.join(missing)}" if missing else
            f"was exported from other weights than {model_dir}" if manifest.get("sha256") != sha256(
                weights_file(model_dir)) else
            "was quantized with other settings" if manifest.get("quantization") != QUANTIZATION else None)
    return f"{manifest_file.parent / INT8} {what}: re-export with: {how}" if what else None


class OnnxClassifier:
    """ONNX Runtime scoring of a model folder's export (``load`` checks that it matches the weights): probabilities
    (softmax, or sigmoid for multi-label models) in the texts' order, batches sorted by length as
    ``TransformerTrainer.predict_proba`` sorts them."""

    def __init__(self, model_dir: str | Path, int8: bool = True, threads: int | None = None) -> None:
        import onnxruntime as ort
        from transformers import AutoConfig, AutoTokenizer

        model_dir = Path(model_dir)
        config, self.tokenizer = AutoConfig.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.target = "multi" if config.problem_type == "multi_label_classification" else "single"
        self.max_length = min(self.tokenizer.model_max_length, config.max_position_embeddings or 512, 512)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads or 0, 1  # 0: ONNX Runtime's default
        self.path = model_dir / ONNX_DIR / (INT8 if int8 else FP32)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def encode(self, texts: Sequence[str], batch_size: int) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
        """The length order and the padded int64 batches in that order (one tokenizer call for all texts; padded
        as ``tokenizer.pad`` pads: pad id, zero mask and type ids, on the tokenizer's padding side)."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        order = np.argsort([len(x) for x in enc["input_ids"]], kind="stable")
        fill = {"input_ids": self.tokenizer.pad_token_id or 0}
        batches = []
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(enc["input_ids"][i]) for i in rows)
            batch = {k: np.full((len(rows), width), fill.get(k, 0), dtype=np.int64) for k in self.inputs}
            left = self.tokenizer.padding_side == "left"
            for k, array in batch.items():
                for j, i in enumerate(rows):
                    n = len(enc[k][i])
                    array[j, slice(width - n, None) if left else slice(n)] = enc[k][i]
            batches.append(batch)
        return order, batches

    def logits(self, batches: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
        return np.concatenate([self.session.run(["logits"], b)[0] for b in batches])

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        order, batches = self.encode(texts, batch_size)
        probs = np.empty((len(order), len(self.labels)), dtype=np.float32)
        probs[order] = probabilities(self.logits(batches), self.target)
        return probs


def load(model_dir: str | Path, int8: bool = True, threads: int | None = None) -> OnnxClassifier:
    """The ``OnnxClassifier`` of a matching export (cached per weights hash), else a ``FileNotFoundError`` saying
    how to export."""
    if reason := stale_reason(model_dir):
        raise FileNotFoundError(reason)
    return _load(str(model_dir), int8, threads, sha256(weights_file(Path(model_dir))))


@lru_cache(maxsize=4)
def _load(model_dir: str, int8: bool, threads: int | None, weights_sha256: str) -> OnnxClassifier:
    return OnnxClassifier(model_dir, int8, threads)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Export a fine-tuned model folder to ONNX (fp32 + dynamic int8).")
    p.add_argument("--model", help="model folder (default: the one predict uses)")
    p.add_argument("--check", action="store_true", help="only say whether the export matches the weights")
    a = p.parse_args(argv)
    from src_helpers.predict import default_model_dir

    try:
        model_dir = Path(a.model) if a.model else default_model_dir()
        weights_file(model_dir)
        reason = stale_reason(model_dir)
        if a.check:
            print(reason or f"{model_dir / ONNX_DIR} matches {model_dir}")
            return 1 if reason else 0
        out = export(model_dir)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}")
        return 2
    sizes = ", ".join(f"{f} {(out / f).stat().st_size / 2**20:.1f} MB" for f in (FP32, INT8))
    print(f"wrote {out}: {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
