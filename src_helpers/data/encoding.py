"""Word-level tokenizer + vocabulary for the RNN models (Hugging Face ``tokenizers``, fitted on the train split,
saved with a run), batching helpers, and which tokenizer outputs a Hugging Face model takes."""

from __future__ import annotations

import inspect
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer
from torch.utils.data import Sampler

PAD, UNK = "<pad>", "<unk>"
CONFIG_FILE, TOKENIZER_FILE = "encoder_config.json", "tokenizer.json"


class TextEncoder:
    """Text -> list of token ids (lower-cased, NFKC, split on whitespace/punctuation, truncated)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int = 64) -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = tokenizer.token_to_id(PAD)
        self.unk_id = tokenizer.token_to_id(UNK)
        if self.pad_id is None or self.unk_id is None:
            raise ValueError(f"tokenizer vocabulary must contain {PAD} and {UNK}")

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int = 30_000, min_frequency: int = 2,
            max_length: int = 64, lowercase: bool = True) -> TextEncoder:
        """Learn the vocabulary from ``texts`` (pass the train split only)."""
        norm = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        tok = Tokenizer(WordLevel(unk_token=UNK))
        tok.normalizer = normalizers.Sequence(norm)
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
        (folder / CONFIG_FILE).write_text(json.dumps({"max_length": self.max_length}), encoding="utf-8")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> TextEncoder:
        folder = Path(folder)
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(Tokenizer.from_file(str(folder / TOKENIZER_FILE)), **config)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence of this batch: (ids [B, T], lengths [B])."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return ids, lengths


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
        if self.exact and self.shuffle:
            counts = Counter(self.lengths).values()
            rest = sum(c % self.batch_size for c in counts)
            return sum(c // self.batch_size for c in counts) + (rest + self.batch_size - 1) // self.batch_size
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def _cut(self, order: list[int]) -> list[list[int]]:
        return [order[i: i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _exact_batches(self, rng: random.Random) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        by_length: dict[int, list[int]] = {}
        for i in order:
            by_length.setdefault(self.lengths[i], []).append(i)
        batches, rest = [], []
        for length in sorted(by_length):
            group = by_length[length]
            full = len(group) - len(group) % self.batch_size
            batches += self._cut(group[:full])
            rest += group[full:]
        return batches + self._cut(rest)  # leftovers: sorted by length, padded

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            order.sort(key=self.lengths.__getitem__)
            yield from self._cut(order)
            return
        rng = random.Random(self.seed + self.epoch)
        if self.exact:
            batches = self._exact_batches(rng)
        else:
            rng.shuffle(order)
            batches = []
            for start in range(0, len(order), self.pool):
                batches += self._cut(sorted(order[start: start + self.pool], key=self.lengths.__getitem__))
        rng.shuffle(batches)
        yield from batches


def model_input_names(model: torch.nn.Module) -> set[str]:
    """Tokenizer outputs the model's ``forward`` accepts (DistilBERT and LLMs take no token_type_ids)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(base.forward).parameters
    return {k for k in ("input_ids", "attention_mask", "token_type_ids") if k in params}
