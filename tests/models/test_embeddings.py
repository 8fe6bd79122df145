"""Pretrained embedding initialisation: GloVe-format files and MiniLM's shipped input embeddings (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src_helpers.data.encoding import TextEncoder
from src_helpers.models.classifier import build_model
from src_helpers.models.embeddings import (
    WordPieceEncoder,
    glove_matrix,
    init_embeddings,
    load_text_encoder,
    minilm_embedding_matrix,
    minilm_folder,
)


@pytest.fixture
def glove_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.glove.txt"
    path.write_text("love 1 2 3\nhate -1 -2 -3\n\nzebra 9 9 9\n", encoding="utf-8")
    return path


def test_glove_matrix_rows_coverage_and_pad(glove_file: Path) -> None:
    vocab = {"<pad>": 0, "<unk>": 1, "love": 2, "hate": 3, "meh": 4}
    matrix, coverage = glove_matrix(glove_file, vocab)
    assert matrix.shape == (5, 3) and coverage == pytest.approx(2 / 5)
    assert matrix[2].tolist() == [1, 2, 3] and matrix[3].tolist() == [-1, -2, -3]
    assert matrix[0].abs().sum() == 0 and matrix[4].abs().sum() > 0  # pad zero, missing word random


def test_glove_errors_name_the_file(glove_file: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        glove_matrix(tmp_path / "nope.txt", {"a": 0})
    with pytest.raises(ValueError, match="tiny.glove.txt:1: 3 values"):
        glove_matrix(glove_file, {"a": 0}, dim=4)


def test_init_from_glove_fills_the_model(glove_file: Path) -> None:
    enc = TextEncoder.fit(["love love hate", "hate love"], min_frequency=1)
    model = build_model({"arch": "gru", "vocab_size": enc.vocab_size, "embedding_dim": 3, "hidden_dim": 4})
    info = init_embeddings(model, enc, "glove", glove_file)
    assert info["embeddings"] == "glove" and info["coverage"] == pytest.approx(2 / 4)
    assert model.embedding.weight[enc.tokenizer.token_to_id("love")].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="glove_path"):
        init_embeddings(model, enc, "glove")
    with pytest.raises(ValueError, match="WordPiece"):
        init_embeddings(model, enc, "minilm")
    with pytest.raises(ValueError, match="embeddings must be"):
        init_embeddings(model, enc, "word2vec")


def test_minilm_is_shipped_offline_with_its_wordpiece_tokenizer(tmp_path: Path) -> None:
    folder = minilm_folder()
    assert (folder / "tokenizer.json").exists()
    enc = WordPieceEncoder.minilm(max_length=8)
    ids = enc.encode("I am SO happy lol")
    assert enc.pad_id == 0 and 0 not in ids and len(ids) >= 5  # no [CLS]/[SEP]/padding added
    assert enc.encode("word " * 100) == [enc.tokenizer.token_to_id("word")] * 8
    matrix = minilm_embedding_matrix()
    assert matrix.shape == (enc.vocab_size, 384) == (30522, 384)
    model = build_model({"arch": "lstm", "vocab_size": enc.vocab_size, "embedding_dim": 384, "hidden_dim": 4})
    assert init_embeddings(model, enc, "minilm")["embeddings"] == "minilm"
    assert torch.equal(model.embedding.weight[ids[0]], matrix[ids[0]])
    enc.save_pretrained(tmp_path / "wp")
    again = load_text_encoder(tmp_path / "wp")
    assert isinstance(again, WordPieceEncoder) and again.encode_batch(["so happy"]) == enc.encode_batch(["so happy"])
    word = TextEncoder.fit(["a b"], min_frequency=1)
    word.save_pretrained(tmp_path / "w")
    assert type(load_text_encoder(tmp_path / "w")) is TextEncoder
