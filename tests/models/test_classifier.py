"""Every architecture behind the one classifier interface: shapes, masking, determinism, targets, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src_helpers.models import ARCHS, ModelConfig
from src_helpers.models.classifier import EmotionClassifier, build_model
from src_helpers.models.xlstm_encoder import slstm_backend

TINY = {"vocab_size": 50, "embedding_dim": 16, "hidden_dim": 12, "num_layers": 2, "dropout": 0.2,
        "context_length": 16, "num_heads": 2}


def tiny(arch: str, **kw) -> EmotionClassifier:
    torch.manual_seed(0)
    return build_model({**TINY, "arch": arch, **kw}).eval()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 0, 0, 0], [12, 0, 0, 0, 0]])
    return ids, torch.tensor([5, 2, 1])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "meanmax"])
def test_shapes_every_pooling(arch: str, pooling: str) -> None:
    bidirectional = arch in ("lstm", "gru") or pooling == "meanmax"
    logits = tiny(arch, pooling=pooling, bidirectional=bidirectional)(*batch())
    assert logits.shape == (3, 7) and torch.isfinite(logits).all()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_outputs(arch: str, bidirectional: bool) -> None:
    model = tiny(arch, bidirectional=bidirectional, pooling="mean" if bidirectional else "last")
    ids, lengths = batch()
    out = model(ids, lengths)
    more_padding = torch.cat([ids, torch.zeros(3, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(more_padding, lengths), out, atol=1e-5, rtol=1e-5)
    # each example alone, without any padding, gives its row of the batch
    for row in range(3):
        alone = model(ids[row: row + 1, : lengths[row]], lengths[row: row + 1])
        torch.testing.assert_close(alone, out[row: row + 1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_unpadded_batch_takes_the_dense_path_with_the_same_result(arch: str, pooling: str) -> None:
    model = tiny(arch, pooling=pooling)
    same = torch.tensor([[5, 6, 7], [8, 9, 10]])
    dense = model(same, torch.tensor([3, 3]))  # no padding: dense call, no packing
    with_longer = torch.tensor([[5, 6, 7, 0], [8, 9, 10, 0], [11, 12, 13, 14]])
    packed = model(with_longer, torch.tensor([3, 3, 4]))  # padded batch: packed call
    torch.testing.assert_close(dense, packed[:2], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_padding_token_value_is_irrelevant(arch: str) -> None:
    """Whatever sits after the last real token (a pad id or any other id) never reaches the output."""
    model = tiny(arch, pooling="max", bidirectional=True)
    ids, lengths = batch()
    garbage = ids.clone()
    garbage[ids == 0] = 42
    torch.testing.assert_close(model(garbage, lengths), model(ids, lengths), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_eval_is_deterministic_and_train_uses_dropout(arch: str) -> None:
    model = tiny(arch, dropout=0.5)
    ids, lengths = batch()
    torch.testing.assert_close(model(ids, lengths), model(ids, lengths), atol=0, rtol=0)
    model.train()
    assert not torch.equal(model(ids, lengths), model(ids, lengths)), "dropout is active in training"


@pytest.mark.parametrize("arch", ARCHS)
def test_both_targets_and_their_losses(arch: str) -> None:
    ids, lengths = batch()
    single, multi = tiny(arch, target="single"), tiny(arch, target="multi")
    p = single.probabilities(single(ids, lengths))
    torch.testing.assert_close(p.sum(1), torch.ones(3))
    loss = single.loss_fn(label_smoothing=0.1)(single(ids, lengths), torch.tensor([0, 3, 6]))
    assert loss.ndim == 0 and loss > 0
    q = multi.probabilities(multi(ids, lengths))
    assert ((q > 0) & (q < 1)).all() and not torch.allclose(q.sum(1), torch.ones(3))
    y = torch.zeros(3, 7)
    y[0, [1, 3]] = 1
    y[1, 6] = y[2, 0] = 1
    loss = multi.loss_fn(class_weights=torch.full((7,), 2.0))(multi(ids, lengths), y)
    loss.backward()
    assert all(p.grad is not None for p in multi.head.parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_save_load_round_trip(arch: str, tmp_path: Path) -> None:
    model = tiny(arch, target="multi", pooling="meanmax", input_dim=8)
    model.save_pretrained(tmp_path / arch)
    again = EmotionClassifier.from_pretrained(tmp_path / arch)
    assert again.config == model.config and not again.training
    ids, lengths = batch()
    torch.testing.assert_close(again(ids, lengths), model(ids, lengths), atol=0, rtol=0)


def test_rwkv_state_is_per_example_and_not_carried() -> None:
    """The reference RWKV shared one state across the batch and carried it between batches."""
    model = tiny("rwkv")
    ids, lengths = batch()
    first = model(ids, lengths)
    model(torch.randint(1, 50, (3, 5)), torch.tensor([5, 5, 5]))  # an unrelated batch in between
    torch.testing.assert_close(model(ids, lengths), first, atol=0, rtol=0)
    torch.testing.assert_close(model(ids[[2, 0, 1]], lengths[[2, 0, 1]]), first[[2, 0, 1]], atol=1e-5, rtol=1e-5)


def test_xlstm_uses_mlstm_and_slstm_blocks_with_cpu_backend() -> None:
    from xlstm import mLSTMBlock, sLSTMBlock

    model = tiny("xlstm", num_layers=3, slstm_at=[1])
    kinds = [type(b) for b in model.encoder.fwd.blocks]
    assert kinds == [mLSTMBlock, sLSTMBlock, mLSTMBlock]
    assert slstm_backend() == ("cuda" if torch.cuda.is_available() else "vanilla")


def test_frozen_embeddings_and_projection() -> None:
    model = tiny("gru", freeze_embeddings=True, input_dim=8)
    assert not model.embedding.weight.requires_grad and model.proj.out_features == 8
    with pytest.raises(ValueError, match="shape"):
        model.load_embeddings(torch.zeros(3, 3))


@pytest.mark.parametrize("bad", [{"arch": "transformer"}, {"pooling": "cls"}, {"target": "ordinal"},
                                 {"pad_id": 99}])
def test_bad_config_is_named(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        ModelConfig(**{**TINY, **bad})


def test_unknown_config_key_and_sequence_too_long() -> None:
    with pytest.raises(ValueError, match="unknown model config keys"):
        build_model({"arch": "lstm", "hidden": 3})
    model = tiny("xlstm")
    with pytest.raises(ValueError, match="context_length"):
        model(torch.ones(1, 20, dtype=torch.long), torch.tensor([20]))
