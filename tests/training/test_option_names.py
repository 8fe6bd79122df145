"""One name per option across trainers: ``learning_rate`` and ``precision``; the fine-tuning CLI's flags come from
``FTConfig``'s fields, and committed run configs (in the one run-folder format) are reused for the same settings."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from src_helpers.config import REPO_ROOT
from src_helpers.data.goemotions import load_goemotions
from src_helpers.training import finetune as ft
from src_helpers.training.configs import TrainConfig
from src_helpers.training.resume import REUSE, data_fingerprint, decide
from src_helpers.training.transformer_model import precision_flags

COMMITTED = sorted((REPO_ROOT / "notebook_outputs" / "runs").glob("transformer_*/config.json"))


@pytest.fixture(scope="module")
def sample() -> dict:
    return load_goemotions(source="sample")


def test_one_name_for_each_option() -> None:
    for cls in (TrainConfig, ft.FTConfig):
        names = {f.name for f in fields(cls)}
        assert {"learning_rate", "precision"} <= names and not {"lr", "fp16"} & names
    with pytest.raises(TypeError):
        TrainConfig(lr=1e-3)  # the former name is gone
    with pytest.raises(ValueError, match="precision"):
        ft.FTConfig(precision="fp8")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")  # the RNN trainer has fp32 and bf16 only


def test_precision_flags(monkeypatch) -> None:
    assert precision_flags("bert", "fp16") == {"fp16": False, "bf16": False}  # CPU: always fp32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert precision_flags("bert", "fp32") == {"fp16": False, "bf16": False}
    assert precision_flags("bert", "bf16") == {"fp16": False, "bf16": True}
    assert precision_flags("bert", "fp16") == {"fp16": True, "bf16": False}
    assert precision_flags("mobilebert", "fp16") == {"fp16": False, "bf16": True}
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert precision_flags("bert", "bf16") == {"fp16": False, "bf16": False}


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_flags_are_the_config_fields() -> None:
    config = lambda argv: ft.dataclass_from_args(ft.FTConfig, ft.parse_args(argv))  # noqa: E731
    assert config(["--learning-rate", "1e-4"]).learning_rate == 1e-4
    cfg = config(["--learning-rate", "2e-4", "--precision", "bf16", "--lora", "--num-threads", "2"])
    assert (cfg.learning_rate, cfg.precision, cfg.lora, cfg.num_threads) == (2e-4, "bf16", True, 2)
    assert config([]) == ft.FTConfig(), "the CLI's defaults are the dataclass's"
    with pytest.raises(SystemExit):
        ft.parse_args(["--precision", "fp8"])
    with pytest.raises(SystemExit):
        ft.parse_args(["--lr", "1e-4"])  # the former name is gone


# ------------------------------------------------------------------------------- stored configurations
@pytest.mark.skipif(not COMMITTED, reason="no committed transformer runs")
@pytest.mark.parametrize("config_file", COMMITTED, ids=lambda p: p.parent.name)
def test_committed_transformer_run_is_reused_for_the_same_settings(config_file: Path, sample: dict,
                                                                   tmp_path: Path) -> None:
    stored = json.loads(config_file.read_text())
    run = tmp_path / config_file.parent.name
    (run / "model").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(stored))
    (run / "model" / "config.json").write_text("{}")
    names = {f.name for f in fields(ft.FTConfig)}
    cfg = ft.FTConfig(**{k: v for k, v in stored["ft"].items() if k in names})
    settings, data = ft._settings(ft._ft_dict(cfg), stored["labels"]), data_fingerprint(sample)
    finished, _ = ft._records(run)
    if stored["data"] is None:  # data never recorded: reused as it is
        assert decide(finished, None, settings, data) == REUSE
    other = "bf16" if cfg.precision == "fp16" else "fp16"
    assert decide(finished, None, {**settings, "precision": other}, data) != REUSE


def test_precision_compares_as_stored() -> None:
    new = ft._settings(ft._ft_dict(ft.FTConfig(precision="fp32")), "ekman")
    assert new != ft._settings(ft._ft_dict(ft.FTConfig(precision="fp16")), "ekman")
    assert new == ft._settings(ft._ft_dict(ft.FTConfig(precision="fp32", num_threads=3)), "ekman"), "runtime field"
