"""The named steps ``fit`` is made of: loaders, optimizer set-up, one epoch, its evaluation, early stopping."""

from __future__ import annotations

import pytest

from src_helpers.data.goemotions import load_goemotions
from src_helpers.models import ModelConfig
from src_helpers.models.classifier import build_model
from src_helpers.training.loop import (
    TrainConfig,
    early_stopping,
    evaluate_epoch,
    make_encoder,
    make_loaders,
    make_optimizer,
    seed_everything,
    train_one_epoch,
)


def test_one_epoch_steps_lower_the_loss_and_follow_the_schedule() -> None:
    splits = load_goemotions(source="sample")
    encoder = make_encoder(splits["train"]["text"].tolist(), min_frequency=1)
    cfg = TrainConfig(epochs=3, batch_size=32, learning_rate=5e-3, num_threads=1, device="cpu")  # the model is here
    seed_everything(cfg.seed)
    model = build_model(ModelConfig.from_dict({"arch": "gru", "embedding_dim": 16, "hidden_dim": 16,
                                               "vocab_size": encoder.vocab_size, "pad_id": encoder.pad_id}))
    loaders, ys = make_loaders(encoder, splits, cfg, "single")
    steps = cfg.epochs * len(loaders["train"])
    optimizer, scheduler = make_optimizer(model, cfg, steps)
    losses = [train_one_epoch(model, loaders["train"], model.loss_fn(), optimizer, scheduler, cfg, epoch,
                              f"epoch {epoch + 1}", progress=False)[0] for epoch in range(cfg.epochs)]
    assert losses[-1] < losses[0]
    assert scheduler.last_epoch == steps and scheduler.get_last_lr()[0] == pytest.approx(0.0)  # linear decay to 0
    row = evaluate_epoch(model, loaders["dev"], ys["dev"], cfg, 2, losses[-1], 1.23, 0.0)
    assert list(row) == ["epoch", "train_loss", "dev_loss", "dev_macro_f1", "lr", "train_seconds", "dev_accuracy"]
    assert row["epoch"] == 3 and row["train_seconds"] == 1.2 and 0.0 <= row["dev_macro_f1"] <= 1.0


def test_early_stopping_counts_epochs_without_a_better_dev_f1() -> None:
    state = {"best_f1": -1.0, "best_epoch": -1, "bad_epochs": 0, "done": False}
    assert early_stopping(state, {"epoch": 1, "dev_macro_f1": 0.3}, patience=2)
    assert not early_stopping(state, {"epoch": 2, "dev_macro_f1": 0.3}, patience=2)  # equal is not better
    assert not state["done"] and state["bad_epochs"] == 1
    assert early_stopping(state, {"epoch": 3, "dev_macro_f1": 0.4}, patience=2) and state["bad_epochs"] == 0
    assert not early_stopping(state, {"epoch": 4, "dev_macro_f1": 0.1}, patience=2)
    assert not early_stopping(state, {"epoch": 5, "dev_macro_f1": 0.2}, patience=2)
    assert state["done"] and state["best_epoch"] == 3 and state["best_f1"] == 0.4


def test_a_nan_dev_f1_is_never_the_best_epoch() -> None:
    state = {"best_f1": -1.0, "best_epoch": -1, "bad_epochs": 0, "done": False}
    with pytest.warns(UserWarning, match="epoch 1: dev macro-F1 is NaN; the epoch is never chosen"):
        assert not early_stopping(state, {"epoch": 1, "dev_macro_f1": float("nan")}, patience=3)
    assert early_stopping(state, {"epoch": 2, "dev_macro_f1": 0.1}, patience=3)
    with pytest.warns(UserWarning, match="epoch 3"):
        assert not early_stopping(state, {"epoch": 3, "dev_macro_f1": float("nan")}, patience=3)
    assert state["best_epoch"] == 2 and state["best_f1"] == 0.1 and state["bad_epochs"] == 1
