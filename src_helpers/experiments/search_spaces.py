"""The Optuna studies' search spaces (a trial's dotted overrides per family), their untuned points and ``Budget``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FixedTrial

from src_helpers.experiments.registry import FAMILIES, Experiment, configure
from src_helpers.validation import COUNT, POSITIVE, check_choice, check_range

BUDGET_RANGES = {"n_trials": COUNT, "timeout": POSITIVE, "train_rows": COUNT, "epochs": COUNT}
PRUNERS = ("median", "hyperband")


def tfidf_space(trial: optuna.Trial) -> dict[str, Any]:
    """C around the untuned 2.0, word n-grams up to 3 (short comments), char n-gram ranges, min_df, class weights."""
    char_lo = trial.suggest_int("char_ngram_min", 1, 3)
    return {"train.Cs": (trial.suggest_float("C", 0.1, 20.0, log=True),),
            "train.word_ngrams": (1, trial.suggest_int("word_ngram_max", 1, 3)),
            "train.char_ngrams": (char_lo, char_lo + trial.suggest_int("char_ngram_span", 2, 4)),
            "train.min_df": trial.suggest_int("min_df", 1, 5),
            "train.class_weight": trial.suggest_categorical("class_weight", [None, "balanced"])}


def _training_space(trial: optuna.Trial) -> dict[str, Any]:
    """Every neural family's: learning rate, batch size, warm-up, dropout, class weights or label smoothing."""
    loss = trial.suggest_categorical("loss", ["plain", "class_weights", "label_smoothing"])
    return {"train.learning_rate": trial.suggest_float("learning_rate", 3e-4, 5e-3, log=True),
            "train.batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "train.warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.15),
            "train.class_weights": loss == "class_weights",
            "train.label_smoothing": 0.1 if loss == "label_smoothing" else 0.0,
            "model.dropout": trial.suggest_float("dropout", 0.1, 0.5)}


def _embedding_space(trial: optuna.Trial) -> dict[str, Any]:
    """MiniLM's vectors frozen (untuned) or trained (2.4x slower on CPU), or random 128-d word vectors."""
    init = trial.suggest_categorical("embeddings", ["minilm_frozen", "minilm_trained", "random"])
    if init == "random":
        return {"text.tokenizer": "word", "text.embeddings": None, "model.embedding_dim": 128,
                "model.freeze_embeddings": False}
    return {"text.tokenizer": "minilm", "text.embeddings": "minilm", "model.embedding_dim": 384,
            "model.freeze_embeddings": init == "minilm_frozen"}


def rnn_space(trial: optuna.Trial) -> dict[str, Any]:
    """LSTM or GRU, width 128-512, 1-2 layers, every pooling, max length 48-96 tokens (64 cuts 0.3% of comments)."""
    return {"model.arch": trial.suggest_categorical("arch", ["gru", "lstm"]),
            "model.hidden_dim": trial.suggest_categorical("hidden_dim", [128, 256, 384, 512]),
            "model.num_layers": trial.suggest_int("num_layers", 1, 2),
            "model.pooling": trial.suggest_categorical("pooling", ["meanmax", "mean", "max", "last"]),
            "text.max_length": trial.suggest_categorical("max_length", [48, 64, 96]),
            **_embedding_space(trial), **_training_space(trial)}


def causal_space(trial: optuna.Trial) -> dict[str, Any]:
    """xLSTM / RWKV: width 64-256, 2-3 blocks, one or both reading directions, pooling."""
    return {"model.input_dim": trial.suggest_categorical("input_dim", [64, 128, 256]),
            "model.num_layers": trial.suggest_int("num_layers", 2, 3),
            "model.bidirectional": trial.suggest_categorical("bidirectional", [False, True]),
            "model.pooling": trial.suggest_categorical("pooling", ["meanmax", "mean", "last"]),
            **_training_space(trial)}


def transformer_space(trial: optuna.Trial) -> dict[str, Any]:
    """Fine-tuning settings; LoRA adapters (zero at the start, ~1% of the weights) need 1e-4-2e-3: lower rates never
    left chance level. Frozen word embeddings train 20% faster on CPU."""
    lora = trial.suggest_categorical("lora", [False, True])
    lr = trial.suggest_float("lora_learning_rate", 1e-4, 2e-3, log=True) if lora else \
        trial.suggest_float("learning_rate", 1e-5, 3e-4, log=True)
    out = {"train.learning_rate": lr,
           "train.epochs": trial.suggest_int("epochs", 1, 4),
           "train.warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.15),
           "train.weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1),
           "train.batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
           "train.class_weights": trial.suggest_categorical("class_weights", [False, True]),
           "train.freeze_embeddings": trial.suggest_categorical("freeze_embeddings", [False, True]),
           "train.lora": lora}
    if lora:
        out |= {"train.lora_r": trial.suggest_categorical("lora_r", [4, 8, 16, 32]),
                "train.lora_alpha": trial.suggest_categorical("lora_alpha", [8, 16, 32, 64])}
    return out


# The untuned experiments as points of each space: a study's first trial shows what tuning gains on its budget.
_UNTUNED_TRAINING = {"loss": "plain", "learning_rate": 2e-3, "batch_size": 64, "warmup_ratio": 0.05}
_UNTUNED_CAUSAL = {"input_dim": 128, "num_layers": 2, "bidirectional": False, "pooling": "meanmax", "dropout": 0.2,
                   **_UNTUNED_TRAINING}
UNTUNED: dict[str, dict[str, Any]] = {
    "tfidf": {"C": 2.0, "word_ngram_max": 2, "char_ngram_min": 2, "char_ngram_span": 3, "min_df": 2,
              "class_weight": None},
    "rnn": {"arch": "gru", "hidden_dim": 256, "num_layers": 1, "pooling": "meanmax", "max_length": 64,
            "embeddings": "minilm_frozen", "dropout": 0.3, **_UNTUNED_TRAINING},
    "xlstm": _UNTUNED_CAUSAL,
    "rwkv": _UNTUNED_CAUSAL,
    "transformer": {"lora": False, "learning_rate": 1e-4, "epochs": 2, "warmup_ratio": 0.06, "weight_decay": 0.01,
                    "batch_size": 32, "class_weights": False, "freeze_embeddings": True},
}

SPACES: dict[str, Callable[[optuna.Trial], dict[str, Any]]] = {
    "tfidf": tfidf_space, "rnn": rnn_space, "xlstm": causal_space, "rwkv": causal_space,
    "transformer": transformer_space}


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")
    return family


@dataclass(frozen=True)
class Budget:
    """What a study may spend: finished trials (all workers), seconds per worker call, train rows, epochs per trial."""

    n_trials: int = 20
    timeout: float | None = None
    train_rows: int | None = None
    epochs: int | None = None
    pruner: str = "median"  # or "hyperband": successive halving on epochs, several brackets

    def __post_init__(self) -> None:
        for name, allowed in BUDGET_RANGES.items():
            check_range(name, getattr(self, name), allowed, optional=name != "n_trials")
        check_choice("pruner", self.pruner, PRUNERS)


def trial_experiment(family: str, params: Mapping[str, Any] | optuna.Trial, profile: str = "quick",
                     budget: Budget | None = None, overrides: Mapping[str, Any] | None = None) -> Experiment:
    """The family's experiment with a trial's suggestions (or ``params``), the ``budget`` and ``overrides``."""
    trial = params if isinstance(params, optuna.Trial | FixedTrial) else FixedTrial(dict(params))
    settings, budget = SPACES[check_family(family)](trial), budget or Budget()
    if budget.train_rows:
        settings["train_rows"] = budget.train_rows
    if budget.epochs and family != "tfidf":
        settings["train.epochs"] = min(budget.epochs, settings.get("train.epochs", budget.epochs))
    return configure(FAMILIES[family], profile, {**settings, **(overrides or {})})
