"""bf16 autocast on every CPU: where oneDNN has no bf16 LSTM kernel (AVX2-only CPUs) the recurrent layer
falls back to fp32 with one log line instead of crashing inside torch.

``ONEDNN_MAX_CPU_ISA=AVX2`` makes oneDNN behave as on such a CPU, so these tests check the fallback on
any x86 machine (on an AVX2-only machine the variable changes nothing)."""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
import textwrap

import pytest
import torch

from src_helpers.config import REPO_ROOT
from src_helpers.models import recurrent
from src_helpers.models.recurrent import RecurrentEncoder

x86 = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                         reason="ONEDNN_MAX_CPU_ISA=AVX2 emulates an AVX2-only x86 CPU")

SCRIPT = textwrap.dedent("""
    import logging, sys
    import torch
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from src_helpers.data.goemotions import load_goemotions
    from src_helpers.models.recurrent import cpu_bf16_rnn_supported
    from src_helpers.training.loop import RnnTrainer
    print("SUPPORTED", cpu_bf16_rnn_supported("lstm"), flush=True)
    r = RnnTrainer({"arch": "lstm", "embedding_dim": 16, "hidden_dim": 16, "num_layers": 1},
                   {"epochs": 3, "batch_size": 32, "learning_rate": 5e-3, "num_threads": 1, "precision": "bf16",
                    "exact_lengths": True}, min_frequency=1, progress=False).fit(load_goemotions(source="sample"),
                                                                                sys.argv[1])
    losses = r.history["train_loss"].tolist()
    print("LEARNS", losses[-1] < losses[0], flush=True)
""")


@x86
@pytest.mark.slow
def test_bf16_lstm_training_on_a_cpu_without_bf16_falls_back_to_fp32(tmp_path) -> None:
    script = tmp_path / "bf16_avx2.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "run")], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "SUPPORTED False" in out and "LEARNS True" in out
    assert out.count("no bf16 LSTM kernel") == 1, "one clear log line, not one per batch"
    assert (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("bidirectional", [True, False])
def test_fp32_fallback_gives_the_fp32_result(monkeypatch, caplog, bidirectional: bool) -> None:
    """The fallback path (forced here) equals the plain fp32 dense call, under bf16 autocast."""
    torch.manual_seed(0)
    enc = RecurrentEncoder("lstm", 8, 8, num_layers=2, bidirectional=bidirectional).eval()
    x, lengths = torch.randn(3, 5, 8), torch.full((3,), 5)
    with torch.no_grad():
        expected, expected_last = enc(x, lengths)
        monkeypatch.setattr(recurrent, "cpu_bf16_rnn_supported", lambda cell: False)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, last = enc(x.bfloat16(), lengths)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, enc(x.bfloat16().float(), lengths)[0])
    torch.testing.assert_close(out, expected, atol=2e-2, rtol=0)  # bf16 rounding of the input only
    torch.testing.assert_close(last, expected_last, atol=2e-2, rtol=0)


def test_probe_is_cached_and_logs_once(monkeypatch, caplog) -> None:
    calls = []

    class Broken(torch.nn.LSTM):
        def forward(self, *a, **k):
            calls.append(1)
            raise RuntimeError("could not create a primitive descriptor for the LSTM forward propagation primitive")

    recurrent.cpu_bf16_rnn_supported.cache_clear()
    monkeypatch.setitem(recurrent.CELLS, "lstm", Broken)
    try:
        with caplog.at_level(logging.WARNING, logger=recurrent.__name__):
            assert recurrent.cpu_bf16_rnn_supported("lstm") is False
            assert recurrent.cpu_bf16_rnn_supported("lstm") is False
    finally:
        recurrent.cpu_bf16_rnn_supported.cache_clear()
    assert len(calls) == 1 and sum("no bf16 LSTM kernel" in r.message for r in caplog.records) == 1
