"""One classifier for every encoder: Embedding -> encoder -> pooling -> dropout -> linear head; softmax
(``target="single"``) or one sigmoid per class (``"multi"``); saved as ``config.json`` + ``model.pt``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from .config import ModelConfig
from .pooling import pool, pooled_dim

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.pt"


def build_encoder(c: ModelConfig) -> nn.Module:
    dim = c.input_dim or c.embedding_dim
    if c.arch in ("lstm", "gru"):
        from .recurrent import RecurrentEncoder
        return RecurrentEncoder(c.arch, dim, c.hidden_dim, c.num_layers, c.bidirectional, c.dropout)
    if c.arch == "xlstm":
        from .xlstm_encoder import XLSTMEncoder
        return XLSTMEncoder(dim, c.num_layers, c.slstm_at, c.num_heads, c.context_length,
                            c.bidirectional, dropout=c.dropout)
    from .rwkv_encoder import RwkvEncoder
    return RwkvEncoder(dim, c.num_layers, c.context_length, c.bidirectional)


class EmotionClassifier(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.embedding.weight.requires_grad_(not config.freeze_embeddings)
        self.proj = nn.Linear(config.embedding_dim, config.input_dim) if config.input_dim else nn.Identity()
        self.encoder = build_encoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(pooled_dim(self.encoder.out_dim, config.pooling), config.num_classes)

    def load_embeddings(self, matrix: torch.Tensor) -> None:
        """Copy pretrained vectors into the embedding (shape must match [vocab_size, embedding_dim])."""
        if tuple(matrix.shape) != tuple(self.embedding.weight.shape):
            raise ValueError(f"embedding matrix has shape {tuple(matrix.shape)}, the model needs "
                             f"{tuple(self.embedding.weight.shape)}")
        with torch.no_grad():
            self.embedding.weight.copy_(matrix)

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits [B, num_classes] for right-padded ``input_ids`` [B, T] with real ``lengths`` [B]."""
        x = self.proj(self.dropout(self.embedding(input_ids)))
        outputs, last = self.encoder(x, lengths)
        return self.head(self.dropout(pool(outputs, last, lengths, self.config.pooling)))

    def loss_fn(self, class_weights: torch.Tensor | None = None, label_smoothing: float = 0.0) -> nn.Module:
        """Cross-entropy (single) or BCE-with-logits (multi; class weights act as ``pos_weight``)."""
        if self.config.target == "single":
            return nn.CrossEntropyLoss(weight=class_weights, label_smoothing=label_smoothing)
        return nn.BCEWithLogitsLoss(pos_weight=class_weights)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(-1) if self.config.target == "single" else logits.sigmoid()

    def save_pretrained(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n", encoding="utf-8")
        torch.save(self.state_dict(), folder / WEIGHTS_FILE)
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> EmotionClassifier:
        folder = Path(folder)
        if not (folder / CONFIG_FILE).exists():
            raise FileNotFoundError(f"{folder}: no {CONFIG_FILE} (not a saved model folder)")
        model = cls(ModelConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))))
        model.load_state_dict(torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        return model.eval()


def build_model(config: ModelConfig | dict) -> EmotionClassifier:
    """Factory: a fresh (randomly initialised) classifier for ``config``."""
    return EmotionClassifier(config if isinstance(config, ModelConfig) else ModelConfig.from_dict(config))
