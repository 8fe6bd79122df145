"""Fine-tuning path on tiny random models (offline): train, save, reload, predict; LoRA; options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, pipeline

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.goemotions import load_goemotions, subsample
from src_helpers.predict import predict, predict_proba
from src_helpers.training import finetune as ft
from src_helpers.training.losses import class_weights
from src_helpers.training.transformer_model import precision_flags, resolve_model_name
from tests.tiny_models import KINDS, make_tiny_model
from tests.training.helpers import finetune


@pytest.fixture(scope="module")
def splits():
    s = load_goemotions(source="sample")
    return subsample(s["train"], 48, seed=1), subsample(s["dev"], 21), subsample(s["test"], 21)


def _config(folder, **kw) -> ft.FTConfig:
    base = dict(model_name=str(folder), epochs=1, batch_size=8, eval_batch_size=16, max_length=32,
                learning_rate=1e-3, logging_steps=2, num_threads=1)
    return ft.FTConfig(**{**base, **kw})


@pytest.mark.parametrize("kind", KINDS)
def test_train_save_reload_predict(kind, splits, tmp_path):
    train, dev, test = splits
    src = make_tiny_model(kind, tmp_path / "hub" / kind)
    before = {k: v.clone() for k, v in AutoModelForSequenceClassification.from_pretrained(src).state_dict().items()}
    res = finetune(train, dev, test, _config(src), tmp_path / "run")

    assert res.trainable_params == res.total_params > 0
    assert np.isfinite(res.history["train_loss"]).all() and 0 <= res.dev["macro_f1"] <= 1
    assert res.test["n"] == len(test) and res.test_probs.shape == (len(test), 7)
    np.testing.assert_allclose(res.test_probs.sum(1), 1, atol=1e-4)
    after = AutoModelForSequenceClassification.from_pretrained(res.model_dir).state_dict()
    changed = [k for k in before if k in after and not torch.equal(before[k], after[k])]
    assert changed, "training changed no weight"
    assert after_config_labels(res.model_dir) == list(EKMAN_LABELS)

    probs, names = predict_proba(test["text"].tolist(), res.model_dir)  # reload reproduces the run's test probs
    assert names == list(EKMAN_LABELS)
    np.testing.assert_allclose(probs, res.test_probs, atol=2e-4)
    top = predict("what a lovely surprise", res.model_dir, top_k=2)[0]
    assert len(top) == 2 and top[0]["score"] >= top[1]["score"]
    clf = pipeline("text-classification", model=str(res.model_dir), top_k=None)
    assert {d["label"] for d in clf(["so angry"])[0]} == set(EKMAN_LABELS)


def after_config_labels(model_dir) -> list[str]:
    cfg = AutoModelForSequenceClassification.from_pretrained(model_dir).config
    return [cfg.id2label[i] for i in range(cfg.num_labels)]


@pytest.mark.parametrize("kind", ["distilbert", "llama"])
def test_lora_trains_adapter_and_saves_merged_model(kind, splits, tmp_path):
    train, dev, test = splits
    src = make_tiny_model(kind, tmp_path / "hub" / kind)
    res = finetune(train, dev, test, _config(src, lora=True, lora_r=4), tmp_path / "run")
    assert 0 < res.trainable_params < res.total_params
    assert not any("lora" in k for k in AutoModelForSequenceClassification.from_pretrained(res.model_dir).state_dict())
    probs, _ = predict_proba(test["text"].tolist(), res.model_dir)
    np.testing.assert_allclose(probs, res.test_probs, atol=2e-4)


def test_multi_label_with_class_weights_and_reuse(splits, tmp_path):
    train, dev, test = splits
    src = make_tiny_model("distilbert", tmp_path / "hub")
    cfg = _config(src, target="multi", class_weights=True, epochs=2)
    res = finetune(train, dev, test, cfg, tmp_path / "run")
    assert 0.05 <= res.threshold <= 0.95 and res.test_pred.shape == (len(test), 7)
    assert (res.test_pred.sum(1) >= 1).all() and len(res.history) == 2
    probs, _ = predict_proba(test["text"].tolist(), res.model_dir)  # sigmoid scores, not a softmax
    np.testing.assert_allclose(probs, res.test_probs, atol=2e-4)

    again = finetune(train, dev, test, _config(src, target="multi", class_weights=True, epochs=2,
                                                  num_threads=2), tmp_path / "run")
    assert again.dev == res.dev and np.array_equal(again.test_pred, res.test_pred)
    for split in ("dev", "test"):  # a reused run carries its labels: results tables and intervals need them
        np.testing.assert_array_equal(getattr(again, f"y_{split}"), getattr(res, f"y_{split}"))
        np.testing.assert_allclose(getattr(again, f"{split}_probs"), getattr(res, f"{split}_probs"), atol=1e-5)
    with pytest.raises(ValueError, match="another config"):
        finetune(train, dev, test, _config(src, target="multi", epochs=3), tmp_path / "run")


def test_class_weights_are_balanced():
    w = class_weights(np.array([0, 0, 0, 1]), "single")
    assert w[0] < w[1] and torch.isclose(w[0] * 3, torch.tensor(4 / 7))
    pw = class_weights(np.array([[1, 0], [1, 1], [1, 0], [0, 0]] + [[0, 0]] * 0, dtype=float), "multi")
    assert torch.allclose(pw, torch.tensor([1 / 3, 3.0]))


def test_mobilebert_never_fp16(monkeypatch):
    assert precision_flags("mobilebert", "fp16") == {"fp16": False, "bf16": False}  # CPU: fp32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert precision_flags("mobilebert", "fp16") == {"fp16": False, "bf16": False}
    assert precision_flags("bert", "fp16") == {"fp16": True, "bf16": False}
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert precision_flags("mobilebert", "fp16") == {"fp16": False, "bf16": True}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_4bit_without_cuda_is_a_clear_error(tmp_path, splits):
    src = make_tiny_model("llama", tmp_path / "hub")
    with pytest.raises(RuntimeError, match="CUDA"):
        finetune(*splits, _config(src, lora=True, load_in_4bit=True), tmp_path / "run")


def test_default_model_is_the_bundled_minilm():
    folder = resolve_model_name(None)
    assert folder.endswith("model") and (Path(folder) / "config.json").exists()
    assert resolve_model_name("albert-base-v2") == "albert-base-v2"


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="target"):
        ft.FTConfig(target="both")


@pytest.mark.parametrize(("flags", "message"), [
    (["--train-rows", "-5"], "argument --train-rows: must be an integer >= 1, got '-5'"),
    (["--train-rows", "0"], "argument --train-rows: must be an integer >= 1, got '0'"),
    (["--epochs", "0"], "argument --epochs: must be a number > 0, got '0'"),
    (["--epochs", "nan"], "argument --epochs: must be a number > 0, got 'nan'"),
    (["--learning-rate=-1e-5"], "argument --learning-rate: must be a number > 0, got '-1e-5'"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got '0'"),
    (["--max-length", "4"], "argument --max-length: must be an integer >= 8, got '4'"),
    (["--warmup-ratio", "1.5"], "argument --warmup-ratio: must be a number in [0, 1], got '1.5'"),
    (["--num-threads", "0"], "argument --num-threads: must be an integer >= 1, got '0'"),
])
def test_cli_refuses_an_out_of_range_flag_before_training(flags, message, monkeypatch, capsys):
    monkeypatch.setattr(ft.TransformerTrainer, "fit", lambda *a, **k: pytest.fail("trained despite a bad flag"))
    with pytest.raises(SystemExit) as exit_info:
        ft.main(flags)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_cli_refuses_the_28_labels_with_a_single_label_target(monkeypatch, capsys):
    monkeypatch.setattr(ft.TransformerTrainer, "fit", lambda *a, **k: pytest.fail("trained despite a bad flag"))
    with pytest.raises(SystemExit) as exit_info:
        ft.main(["--labels", "goemotions", "--target", "single"])
    assert exit_info.value.code == 2 and "--labels goemotions has multi-label targets only" in capsys.readouterr().err


def test_epoch_history_groups_logs():
    logs = [{"loss": 2.0, "epoch": 0.5}, {"loss": 1.0, "epoch": 1.0},
            {"eval_loss": 1.5, "eval_macro_f1": 0.3, "eval_accuracy": 0.4, "epoch": 1.0},
            {"loss": 0.5, "epoch": 1.5}, {"eval_loss": 1.2, "eval_macro_f1": 0.5, "eval_accuracy": 0.6, "epoch": 2.0}]
    h = ft.epoch_history(logs)
    assert h["train_loss"].tolist() == [1.5, 0.5] and h["dev_macro_f1"].tolist() == [0.3, 0.5]


def test_a_nan_dev_macro_f1_is_never_the_best_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import EvalPrediction

    monkeypatch.setattr(ft, "report", lambda *a, **k: {"macro_f1": float("nan"), "accuracy": 0.5})
    compute = ft.make_compute_metrics("single")
    with pytest.warns(UserWarning, match="dev macro-F1 is NaN: reported as -inf"):
        scores = compute(EvalPrediction(predictions=np.zeros((2, 7)), label_ids=np.array([0, 1])))
    assert scores == {"macro_f1": float("-inf"), "accuracy": 0.5}



def test_a_run_without_kept_checkpoints_keeps_its_model_only(splits, tmp_path):
    """``keep_checkpoints=False`` (quick profile): the finished run folder holds no ``checkpoint-N`` (weights plus
    optimizer and scheduler state), ``model/`` still loads and reproduces the run, and ``ft_config.json`` still
    refuses another config in that folder; by default (full profile) the resumable checkpoints stay."""
    train, dev, test = splits
    src = make_tiny_model("distilbert", tmp_path / "hub")
    kept = finetune(train, dev, test, _config(src), tmp_path / "kept")
    assert [p.name for p in (kept.run_dir / "checkpoints").glob("checkpoint-*")], "full profile: resumable"
    res = finetune(train, dev, test, _config(src), tmp_path / "run", resume=False, keep_checkpoints=False)
    assert sorted(p.name for p in (res.run_dir / "checkpoints").iterdir()) == ["ft_config.json"]
    probs, _ = predict_proba(test["text"].tolist(), res.model_dir)
    np.testing.assert_allclose(probs, res.test_probs, atol=2e-4)
    again = finetune(train, dev, test, _config(src), tmp_path / "run", keep_checkpoints=False)
    assert again.extra["train_seconds"] == res.extra["train_seconds"], "the finished run is reused"
    with pytest.raises(ValueError, match="holds checkpoints of another config"):
        finetune(train, dev, test, _config(src, learning_rate=2e-3), tmp_path / "run", keep_checkpoints=False)


def test_a_finished_run_of_an_older_format_is_refused_naming_the_migration(tmp_path: Path) -> None:
    from src_helpers.experiments.run_folders import RunFolderError
    from src_helpers.training import load_trainer

    run = tmp_path / "old"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (run / "config.json").write_text(json.dumps({"ft": {"model_name": "minilm"}, "target": "single"}))
    for read in (ft._records, load_trainer):
        with pytest.raises(RunFolderError, match="format_version 1, .*tools.migrate_run_folders"):
            read(run)
