"""One name per option across trainers: ``learning_rate`` and ``precision``. Former names (``lr``, ``fp16``) are
accepted with a DeprecationWarning, and checkpoints and committed run configs written with them still match."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, fields
from pathlib import Path

import pytest
import torch

from src_helpers.config import REPO_ROOT
from src_helpers.data.goemotions import load_goemotions
from src_helpers.training import finetune as ft
from src_helpers.training.checkpoints import data_fingerprint
from src_helpers.training.loop import TrainConfig, train_classifier

TINY_GRU = {"arch": "gru", "embedding_dim": 16, "hidden_dim": 16, "num_layers": 1, "dropout": 0.1}
FAST = {"epochs": 3, "batch_size": 32, "learning_rate": 5e-3, "num_threads": 1, "patience": 10}
COMMITTED = sorted((REPO_ROOT / "notebook_outputs" / "runs").glob("transformer_*/config.json"))


@pytest.fixture(scope="module")
def sample() -> dict:
    return load_goemotions(source="sample")


# ------------------------------------------------------------------------------------- the alias rule
def test_old_names_are_accepted_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="learning_rate="):
        assert TrainConfig(lr=1e-3).learning_rate == 1e-3
    with pytest.warns(DeprecationWarning, match="precision="):
        assert ft.FTConfig(fp16=True).precision == "fp16"
    with pytest.warns(DeprecationWarning, match="precision="):
        assert ft.FTConfig(fp16=False).precision == "fp32"


def test_old_and_new_name_together_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="learning_rate"):
        TrainConfig(lr=1e-3, learning_rate=1e-3)
    with pytest.raises(TypeError, match="precision"):
        ft.FTConfig(fp16=True, precision="bf16")


def test_one_name_for_each_option() -> None:
    for cls in (TrainConfig, ft.FTConfig):
        names = {f.name for f in fields(cls)}
        assert {"learning_rate", "precision"} <= names and not {"lr", "fp16"} & names
    with pytest.raises(ValueError, match="precision"):
        ft.FTConfig(precision="fp8")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")  # the RNN trainer has fp32 and bf16 only


def test_precision_flags(monkeypatch) -> None:
    assert ft.precision_flags("bert", "fp16") == {"fp16": False, "bf16": False}  # CPU: always fp32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert ft.precision_flags("bert", "fp32") == {"fp16": False, "bf16": False}
    assert ft.precision_flags("bert", "bf16") == {"fp16": False, "bf16": True}
    assert ft.precision_flags("bert", "fp16") == {"fp16": True, "bf16": False}
    assert ft.precision_flags("mobilebert", "fp16") == {"fp16": False, "bf16": True}
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert ft.precision_flags("bert", "bf16") == {"fp16": False, "bf16": False}


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_learning_rate_with_lr_alias_and_precision() -> None:
    assert ft.config_from_args(ft.parse_args(["--lr", "1e-4"])).learning_rate == 1e-4
    cfg = ft.config_from_args(ft.parse_args(["--learning-rate", "2e-4", "--precision", "bf16"]))
    assert (cfg.learning_rate, cfg.precision) == (2e-4, "bf16")
    assert ft.config_from_args(ft.parse_args([])).precision == "fp16"
    with pytest.raises(SystemExit):
        ft.parse_args(["--precision", "fp8"])


# ------------------------------------------------------------------------------- stored configurations
def test_checkpoint_with_the_old_lr_key_still_resumes(sample: dict, tmp_path: Path) -> None:
    def stop_after_one(epoch: int, row: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_classifier(sample, run, TINY_GRU, FAST, min_frequency=1, progress=False, on_epoch_end=stop_after_one)
    last = run / "checkpoints" / "last.pt"
    ckpt = torch.load(last, weights_only=False)
    train = ckpt["fingerprint"]["train"]
    ckpt["fingerprint"]["train"] = {("lr" if k == "learning_rate" else k): v for k, v in train.items()}
    torch.save(ckpt, last)  # as written before the rename

    res = train_classifier(sample, run, TINY_GRU, FAST, min_frequency=1, progress=False)
    assert res.config["epochs_run"] == 3 and list(res.history["epoch"]) == [1, 2, 3]
    with pytest.raises(ValueError, match="another configuration"):  # another learning rate is still refused
        train_classifier(sample, run, TINY_GRU, {**FAST, "learning_rate": 1e-3}, min_frequency=1, progress=False)


def _new_names(old: dict) -> ft.FTConfig:
    """The same settings as a committed run's ``ft`` (stored with today's option names)."""
    names = {f.name for f in fields(ft.FTConfig)}
    return ft.FTConfig(**{k: v for k, v in old.items() if k in names})


@pytest.mark.skipif(not COMMITTED, reason="no committed transformer runs")
@pytest.mark.parametrize("config_file", COMMITTED, ids=lambda p: p.parent.name)
def test_committed_transformer_run_is_reused_for_the_same_settings(config_file: Path, sample: dict,
                                                                   tmp_path: Path) -> None:
    stored = json.loads(config_file.read_text())
    assert "precision" in stored["ft"] and "fp16" not in stored["ft"]  # upgraded by tools.migrate_run_folders
    run = tmp_path / config_file.parent.name
    (run / "model").mkdir(parents=True)
    shutil.copy(config_file, run / "config.json")
    (run / "model" / "config.json").write_text("{}")
    cfg = _new_names(stored["ft"])
    meta = {"ft": ft._config_dict(cfg)["ft"], "labels": "ekman", "data": data_fingerprint(sample)}
    assert ft._reusable(run, meta)
    other = "bf16" if cfg.precision == "fp16" else "fp16"
    assert not ft._reusable(run, {**meta, "ft": {**meta["ft"], "precision": other}})


def test_old_fp16_flag_compares_as_its_precision() -> None:
    new = asdict(ft.FTConfig(precision="fp32"))
    old = {k: v for k, v in new.items() if k != "precision"}
    assert ft._same_config({**old, "fp16": False}, new)
    assert not ft._same_config({**old, "fp16": True}, new)
    assert ft._same_config({**old, "fp16": True}, asdict(ft.FTConfig(precision="fp16")))
