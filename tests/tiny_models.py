"""Tiny randomly initialised transformer classifiers + tokenizers trained offline (for fast tests)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AlbertConfig,
    AutoModelForSequenceClassification,
    DistilBertConfig,
    LlamaConfig,
    MobileBertConfig,
    PreTrainedTokenizerFast,
    SqueezeBertConfig,
)

from src_helpers.data.goemotions import load_goemotions

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def corpus() -> list[str]:
    return load_goemotions(source="sample")["train"]["text"].tolist()


def wordpiece_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """BERT-style: lowercase WordPiece, [CLS] text [SEP]."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)


def bpe_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """Llama-style: byte-level BPE, <s> prefix, no pad token (the fine-tuning code pads with </s>)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=64)


def tiny_config(kind: str, vocab_size: int):
    common = dict(vocab_size=vocab_size, max_position_embeddings=64, num_labels=7)
    if kind == "squeezebert":
        return SqueezeBertConfig(hidden_size=32, embedding_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64, **common)
    if kind == "albert":
        return AlbertConfig(embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, **common)
    if kind == "distilbert":
        return DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, **common)
    if kind == "mobilebert":
        return MobileBertConfig(hidden_size=32, embedding_size=16, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=32, intra_bottleneck_size=32, true_hidden_size=32,
                                num_feedforward_networks=1, **common)
    if kind == "llama":
        return LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, bos_token_id=0, eos_token_id=1, **common)
    raise ValueError(kind)


KINDS = ("squeezebert", "albert", "distilbert", "mobilebert", "llama")


def make_tiny_model(kind: str, folder: Path) -> Path:
    """Save a random tiny ``kind`` classifier + its tokenizer to ``folder`` (a local "hub" model)."""
    tokenizer = bpe_tokenizer() if kind == "llama" else wordpiece_tokenizer()
    model = AutoModelForSequenceClassification.from_config(tiny_config(kind, len(tokenizer)))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
