from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src_helpers.data.encoding import PAD, UNK, Collator, LengthBucketSampler, TextEncoder, pad_batch

TRAIN = ["I love this!", "i LOVE that movie", "This is awful", "awful awful day", "what a day 😂",
         "😂 so funny", "love love love"]


@pytest.fixture
def encoder() -> TextEncoder:
    return TextEncoder.fit(TRAIN, min_frequency=1, max_length=8)


def test_specials_and_lowercase(encoder: TextEncoder) -> None:
    vocab = encoder.tokenizer.get_vocab()
    assert vocab[PAD] == encoder.pad_id == 0 and vocab[UNK] == encoder.unk_id == 1
    assert encoder.encode("LOVE") == encoder.encode("love") == [vocab["love"]]


def test_unknown_words_empty_text_and_emoji(encoder: TextEncoder) -> None:
    assert encoder.encode("zebra love") == [encoder.unk_id, encoder.tokenizer.token_to_id("love")]
    assert encoder.encode("") == [encoder.unk_id]
    assert encoder.encode("   ") == [encoder.unk_id]
    assert encoder.encode("😂")[0] == encoder.tokenizer.token_to_id("😂") != encoder.unk_id


def test_very_long_text_is_truncated(encoder: TextEncoder) -> None:
    ids = encoder.encode("love " * 4000)  # 20,000 characters
    assert len(ids) == encoder.max_length == 8


def test_min_frequency_drops_rare_words() -> None:
    enc = TextEncoder.fit(TRAIN, min_frequency=2)
    assert enc.tokenizer.token_to_id("movie") is None and enc.tokenizer.token_to_id("love") is not None


def test_save_and_reload(encoder: TextEncoder, tmp_path: Path) -> None:
    encoder.save_pretrained(tmp_path / "enc")
    again = TextEncoder.from_pretrained(tmp_path / "enc")
    assert again.max_length == 8 and again.vocab_size == encoder.vocab_size
    assert again.encode_batch(TRAIN) == encoder.encode_batch(TRAIN)


def test_bad_max_length() -> None:
    with pytest.raises(ValueError, match="max_length"):
        TextEncoder.fit(TRAIN, max_length=0)


def test_pad_batch_and_collator() -> None:
    ids, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    batch = Collator(pad_id=0)([([5, 6], 2), ([7], 0)])
    assert batch["input_ids"].shape == (2, 2) and batch["labels"].tolist() == [2, 0]
    multi = Collator(pad_id=0)([([5], [1.0, 0.0]), ([7], [0.0, 1.0])])
    assert multi["labels"].dtype == torch.float32 and multi["labels"].shape == (2, 2)


def test_bucket_sampler_covers_everything_once_and_groups_lengths() -> None:
    lengths = [(i * 37) % 50 + 1 for i in range(1000)]
    sampler = LengthBucketSampler(lengths, batch_size=32, pool_factor=10, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 10, "batches hold similar lengths"
    sampler.set_epoch(1)
    assert list(sampler) != batches, "a new epoch reshuffles"
    sampler.set_epoch(0)
    assert list(sampler) == batches, "same seed and epoch, same batches"


def test_bucket_sampler_eval_order_is_sorted() -> None:
    batches = list(LengthBucketSampler([3, 1, 2, 5], batch_size=2, shuffle=False))
    assert batches == [[1, 2], [0, 3]]


def test_exact_length_sampler_batches_hold_one_length() -> None:
    lengths = [(i * 37) % 20 + 1 for i in range(1000)]  # 20 lengths, 50 examples each
    sampler = LengthBucketSampler(lengths, batch_size=16, seed=1, exact=True)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    mixed = [b for b in batches if len({lengths[i] for i in b}) > 1]
    # per length 48 examples fill 3 batches; the 20 x 2 leftovers make ceil(40 / 16) = 3 mixed batches
    assert len(batches) == 20 * 3 + 3 and len(mixed) <= 3
    assert all(len(b) == 16 for b in batches if b not in mixed)
    assert list(sampler) == batches and (sampler.set_epoch(1) or list(sampler)) != batches
