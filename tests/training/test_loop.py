"""The shared training loop: schedule, artifacts, both targets, early stopping, and exact resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score

from src_helpers.config import REPO_ROOT
from src_helpers.data.goemotions import load_goemotions
from src_helpers.evaluation.metrics import choose_threshold
from src_helpers.experiments.run_folders import load_run
from src_helpers.training.configs import TrainConfig
from src_helpers.training.loop import RnnTrainer, lr_lambda
from src_helpers.training.losses import class_weights
from tests.training.helpers import train_rnn

TINY_GRU = {"arch": "gru", "embedding_dim": 16, "hidden_dim": 16, "num_layers": 1, "dropout": 0.1}
FAST = {"epochs": 3, "batch_size": 32, "learning_rate": 5e-3, "num_threads": 1}


@pytest.fixture(scope="module")
def sample() -> dict:
    return load_goemotions(source="sample")


def test_schedule_warmup_then_decay() -> None:
    f = lr_lambda(100, 0.1, "linear")
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(100) == 0.0
    assert [f(s) for s in range(10, 100, 10)] == sorted([f(s) for s in range(10, 100, 10)], reverse=True)
    assert lr_lambda(100, 0.0, "cosine")(50) == pytest.approx(0.5)
    assert lr_lambda(100, 0.0, "constant")(99) == 1.0
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


def test_class_weights() -> None:
    w = class_weights(np.array([0, 0, 0, 1]), "single", n=2)
    assert w.tolist() == pytest.approx([4 / 6, 2.0])
    pos = class_weights(np.array([[1, 0], [1, 1], [0, 0], [1, 0]], dtype=np.float32), "multi", n=2)
    assert pos.tolist() == pytest.approx([1 / 3, 3.0])


def test_single_label_run_writes_honest_artifacts(sample: dict, tmp_path: Path) -> None:
    r = train_rnn(sample, tmp_path / "gru", TINY_GRU, {**FAST, "class_weights": True,
                         "label_smoothing": 0.1}, min_frequency=1, progress=False)
    run = load_run(tmp_path / "gru")
    assert list(run.history["epoch"]) == [1, 2, 3] and len(r.history) == 3
    assert run.config["model_config"]["arch"] == "gru" and run.config["best_epoch"] == r.best_epoch
    assert r.dev["macro_f1"] == pytest.approx(run.history["dev_macro_f1"].max())
    preds = run.predictions
    assert len(preds) == len(sample["test"]) and list(preds["id"]) == list(sample["test"]["comment_id"])
    assert run.metrics["test"]["accuracy"] == pytest.approx(accuracy_score(preds["y_true"], preds["y_pred"]))
    assert np.allclose(run.probs().sum(1), 1, atol=1e-3)
    assert (tmp_path / "gru/checkpoints/best.pt").exists() and (tmp_path / "gru/checkpoints/model/model.pt").exists()
    assert run.history["train_loss"].iloc[-1] < run.history["train_loss"].iloc[0], "it learns"


def test_bf16_autocast_with_exact_length_batches_learns(sample: dict, tmp_path: Path) -> None:
    r = train_rnn(sample, tmp_path / "bf16", {**TINY_GRU, "arch": "lstm"},
                         {**FAST, "precision": "bf16", "exact_lengths": True}, min_frequency=1, progress=False)
    assert r.history["train_loss"].iloc[-1] < r.history["train_loss"].iloc[0], "it learns"
    assert r.test_probs.dtype == np.float32 and np.allclose(r.test_probs.sum(1), 1, atol=1e-3)
    assert load_run(tmp_path / "bf16").config["train_config"]["precision"] == "bf16"


def test_multi_label_threshold_is_chosen_on_dev(sample: dict, tmp_path: Path) -> None:
    r = train_rnn(sample, tmp_path / "multi", TINY_GRU, FAST, target="multi", min_frequency=1,
                         progress=False)
    assert r.test["threshold"] == r.threshold == r.dev["threshold"]
    assert r.test_pred.shape == (len(sample["test"]), 7) and r.test_pred.sum(1).min() >= 1
    # the threshold is the one that maximises dev macro-F1 of the best model's dev probabilities
    from src_helpers.data.ekman import multi_hot
    from src_helpers.training.loop import evaluate_loader, make_loader
    dev = r.encoder.encode_batch(sample["dev"]["text"].tolist())
    y_dev = multi_hot(sample["dev"]["ekman_groups"].tolist())
    probs, _ = evaluate_loader(r.model, make_loader(dev, y_dev, r.encoder.pad_id, 64, shuffle=False))
    assert choose_threshold(y_dev, probs) == r.threshold


def test_early_stopping_and_resume_of_a_finished_run(sample: dict, tmp_path: Path) -> None:
    # nothing improves after epoch 1
    cfg = {**FAST, "epochs": 6, "learning_rate": 0.0, "warmup_ratio": 0.0, "patience": 2}
    r = train_rnn(sample, tmp_path / "stop", TINY_GRU, cfg, min_frequency=1, progress=False)
    assert r.best_epoch == 1 and len(r.history) == 3
    again = train_rnn(sample, tmp_path / "stop", TINY_GRU, cfg, min_frequency=1, progress=False)
    assert len(again.history) == 3 and again.test == r.test
    with pytest.raises(ValueError, match="another configuration"):
        train_rnn(sample, tmp_path / "stop", {**TINY_GRU, "hidden_dim": 8}, cfg, min_frequency=1)


SCRIPT = textwrap.dedent("""
    import sys, time
    from src_helpers.data.goemotions import load_goemotions
    from src_helpers.training.loop import RnnTrainer
    run_dir, stop_after = sys.argv[1], int(sys.argv[2])

    def hold(epoch, row):  # after this epoch's checkpoint: tell the test, then wait to be killed
        if epoch == stop_after:
            print("CHECKPOINTED", epoch, flush=True)
            time.sleep(300)

    RnnTrainer({"arch": "lstm", "embedding_dim": 16, "hidden_dim": 16, "num_layers": 2, "dropout": 0.3},
               {"epochs": 4, "batch_size": 32, "learning_rate": 5e-3, "num_threads": 1, "patience": 10, "seed": 7},
               min_frequency=1, progress=False,
               on_epoch_end=hold if stop_after else None).fit(load_goemotions(source="sample"), run_dir)
    print("FINISHED", flush=True)
""")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    script = tmp_path / "train_tiny.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}

    def start(run: str, stop_after: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(script), str(tmp_path / run), str(stop_after)], cwd=REPO_ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    full, killed = start("full", 0), start("killed", 2)  # both at once: two cores
    for line in killed.stdout:
        if line.startswith("CHECKPOINTED"):
            break
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    ckpt = torch.load(tmp_path / "killed/checkpoints/last.pt", weights_only=False)
    assert ckpt["state"]["epoch"] == 1 and not (tmp_path / "killed/metrics.json").exists()

    resumed = subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), "0"], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming killed after epoch 2" in resumed.stdout and "epoch 1:" not in resumed.stdout
    out, _ = full.communicate(timeout=120)
    assert full.returncode == 0 and "FINISHED" in out, out

    a = torch.load(tmp_path / "full/checkpoints/last.pt", weights_only=False)
    b = torch.load(tmp_path / "killed/checkpoints/last.pt", weights_only=False)
    assert a["state"]["epoch"] == b["state"]["epoch"] == 3
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    best_a = torch.load(tmp_path / "full/checkpoints/best.pt")["model"]
    best_b = torch.load(tmp_path / "killed/checkpoints/best.pt")["model"]
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)
    read = lambda run, f: (tmp_path / run / f).read_text()  # noqa: E731
    assert json.loads(read("full", "metrics.json")) == json.loads(read("killed", "metrics.json"))
    hist = [pd.read_csv(tmp_path / r / "history.csv").drop(columns="train_seconds") for r in ("full", "killed")]
    pd.testing.assert_frame_equal(*hist)
    preds = [pd.read_csv(tmp_path / r / "test_predictions.csv.gz") for r in ("full", "killed")]
    pd.testing.assert_frame_equal(*preds)


def test_a_run_without_kept_checkpoints_keeps_its_model_and_encoder(sample: dict, tmp_path: Path) -> None:
    """``keep_checkpoints=False`` (quick profile): ``last.pt`` and ``best.pt`` go once the run folder is written;
    the saved model and encoder stay and score new texts as the run did. By default (full profile) they stay."""
    from src_helpers.evaluation.cross_domain import model_probs
    from src_helpers.experiments.run_folders import load_result

    kept = train_rnn(sample, tmp_path / "kept", TINY_GRU, FAST, min_frequency=1, progress=False)
    assert {"last.pt", "best.pt"} <= {p.name for p in (kept.run_dir / "checkpoints").iterdir()}
    r = train_rnn(sample, tmp_path / "gru", TINY_GRU, FAST, min_frequency=1, progress=False,
                         keep_checkpoints=False)
    assert sorted(p.name for p in (r.run_dir / "checkpoints").iterdir()) == ["encoder", "model"]
    texts = sample["test"]["text"].tolist()
    np.testing.assert_allclose(model_probs(load_result(r.run_dir), texts), r.test_probs, atol=1e-5)


def test_an_untrained_trainer_has_the_runs_architecture_and_tokenizer(sample: dict, tmp_path: Path) -> None:
    """``RnnTrainer.untrained`` (inference timings without the weights): the run's model config and tokenizer,
    fresh weights; a tokenizer of other texts than the run's train split is refused."""
    trained = train_rnn(sample, tmp_path / "gru", TINY_GRU, {**FAST, "epochs": 1}, progress=False)
    config = load_run(tmp_path / "gru").config
    untrained = RnnTrainer.untrained(config, sample["train"]["text"].tolist())
    assert asdict(untrained.model.config) == config["model_config"]
    texts = sample["test"]["text"].tolist()
    assert untrained.encoder.encode_batch(texts) == load_text_encoder_of(tmp_path / "gru").encode_batch(texts)
    probs = untrained.predict_proba(texts)
    assert probs.shape == trained.test_probs.shape and not np.allclose(probs, trained.test_probs, atol=1e-3)
    with pytest.raises(ValueError, match="not the run's train split"):
        RnnTrainer.untrained(config, texts[:5])


def load_text_encoder_of(run_dir: Path):
    from src_helpers.models.embeddings import load_text_encoder

    return load_text_encoder(run_dir / "checkpoints" / "encoder")
