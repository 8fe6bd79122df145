"""``ModelConfig``: the settings of an RNN classifier (torch-free, so configurations load without torch)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.validation import check_choice

ARCHS = ("lstm", "gru", "xlstm", "rwkv")
TARGETS = ("single", "multi")
POOLINGS = ("last", "mean", "max", "meanmax")


@dataclass
class ModelConfig:
    arch: str = "lstm"
    vocab_size: int = 30_000
    pad_id: int = 0
    target: str = "single"
    num_classes: int = len(EKMAN_LABELS)
    embedding_dim: int = 128
    input_dim: int | None = None     # optional linear projection of the embeddings before the encoder
    hidden_dim: int = 256            # LSTM/GRU state size (xLSTM/RWKV work at embedding_dim)
    num_layers: int = 2              # RNN layers / xLSTM blocks / RWKV layers
    bidirectional: bool = True
    pooling: str = "last"
    dropout: float = 0.3             # on embeddings, between RNN layers, before the head
    freeze_embeddings: bool = False
    context_length: int = 64         # xLSTM/RWKV: longest sequence they accept
    slstm_at: list[int] = field(default_factory=lambda: [1])  # xLSTM: sLSTM block positions
    num_heads: int = 4               # xLSTM heads

    def __post_init__(self) -> None:
        for name, allowed in (("arch", ARCHS), ("target", TARGETS), ("pooling", POOLINGS)):
            check_choice(name, getattr(self, name), allowed)
        if self.vocab_size < 2 or not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"need vocab_size >= 2 and 0 <= pad_id < vocab_size, got {self.vocab_size}, "
                             f"{self.pad_id}")

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        if unknown := set(d) - {f.name for f in fields(cls)}:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**d)
