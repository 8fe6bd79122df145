"""The RNN models' word-level tokenizer (fitted on train, saved with a run), batching, and a HF model's inputs."""

from __future__ import annotations

import inspect
import itertools
import json
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Sampler

PAD, UNK = "<pad>", "<unk>"
CONFIG_FILE, TOKENIZER_FILE = "encoder_config.json", "tokenizer.json"


class TextEncoder:
    """Text -> list of token ids (lower-cased, NFKC, split on whitespace/punctuation, truncated)."""

    KIND: str | None = None  # saved in the config (``load_text_encoder`` picks the class by it)
    SPECIAL: tuple[str, str] = (PAD, UNK)  # the vocabulary's padding and unknown tokens

    def __init__(self, tokenizer: Tokenizer, max_length: int = 64) -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.tokenizer, self.max_length = tokenizer, max_length
        self.pad_id, self.unk_id = (tokenizer.token_to_id(t) for t in self.SPECIAL)
        if self.pad_id is None or self.unk_id is None:
            raise ValueError(f"tokenizer vocabulary must contain {' and '.join(self.SPECIAL)}")

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int = 30_000, min_frequency: int = 2,
            max_length: int = 64) -> TextEncoder:
        """Learn the vocabulary from ``texts`` (pass the train split only)."""
        tok = Tokenizer(WordLevel(unk_token=UNK))
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                   special_tokens=[PAD, UNK], show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok, max_length)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """Token ids, at most ``max_length``; a text with no tokens becomes ``[<unk>]`` (length >= 1)."""
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        encodings = self.tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=False)
        return [(e.ids[: self.max_length] or [self.unk_id]) for e in encodings]

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(folder / TOKENIZER_FILE))
        config = {"max_length": self.max_length, **({"kind": self.KIND} if self.KIND else {})}
        (folder / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> TextEncoder:
        folder = Path(folder)
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(Tokenizer.from_file(str(folder / TOKENIZER_FILE)), config["max_length"])


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence of this batch: (ids [B, T], lengths [B])."""
    ids = pad_sequence([torch.as_tensor(s, dtype=torch.long) for s in sequences], batch_first=True,
                       padding_value=pad_id)
    return ids, torch.tensor([len(s) for s in sequences], dtype=torch.long)


class Collator:
    """``collate_fn`` for ``(token_ids, target)`` pairs; targets are class ids or multi-hot vectors."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[tuple[Sequence[int], object]]) -> dict[str, torch.Tensor]:
        ids, lengths = pad_batch([b[0] for b in batch], self.pad_id)
        targets = torch.as_tensor([b[1] for b in batch])
        return {"input_ids": ids, "lengths": lengths, "labels": targets}


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar length (sorted within shuffled pools of ``batch_size * pool_factor``; unshuffled: by
    length). ``exact=True``: batches of one length each, no padding (the LSTM's fast path), leftovers together."""

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                 pool_factor: int = 50, seed: int = 0, exact: bool = False) -> None:
        self.lengths, self.batch_size, self.shuffle = list(lengths), batch_size, shuffle
        self.pool, self.exact = batch_size * pool_factor, exact
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._batches()) if self.exact and self.shuffle else math.ceil(len(self.lengths) / self.batch_size)

    def _cut(self, order: list[int]) -> list[list[int]]:
        return [order[i: i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _batches(self) -> list[list[int]]:
        length = self.lengths.__getitem__
        if not self.shuffle:
            return self._cut(sorted(range(len(self.lengths)), key=length))
        rng = random.Random(self.seed + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        if not self.exact:
            pools = [sorted(order[i: i + self.pool], key=length) for i in range(0, len(order), self.pool)]
            batches = [b for pool in pools for b in self._cut(pool)]
        else:  # full batches of one length; the leftovers of all lengths together (sorted by length, padded)
            batches, rest = [], []
            for _, group in itertools.groupby(sorted(order, key=length), key=length):
                group = list(group)
                full = len(group) - len(group) % self.batch_size
                batches += self._cut(group[:full])
                rest += group[full:]
            batches += self._cut(rest)
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()


def model_input_names(model: torch.nn.Module) -> set[str]:
    """Tokenizer outputs the model's ``forward`` accepts (DistilBERT and LLMs take no token_type_ids)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(base.forward).parameters
    return {k for k in ("input_ids", "attention_mask", "token_type_ids") if k in params}
