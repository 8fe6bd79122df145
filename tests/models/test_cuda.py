"""The four classifiers on a GPU: forward/backward, padding invariance, CPU vs CUDA agreement, training runs.

Skipped without CUDA (CI has no GPU). xLSTM's sLSTM CUDA kernel and RWKV's WKV kernel are compiled with
nvcc/ninja on first use (a few minutes; torch caches them in ``$TORCH_EXTENSIONS_DIR``). Sizes match
``benchmarks/train_speed.py`` (embedding 128, 4 heads, context 48) so the kernels are compiled once for both.
``SRC_HELPERS_CUDA_TEST_DEVICE=cpu`` runs the same checks on the CPU (to check the tests themselves).
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from src_helpers.data.goemotions import load_for_profile
from src_helpers.evaluation.results import targets
from src_helpers.models import ARCHS
from src_helpers.models.classifier import EmotionClassifier, build_model
from src_helpers.training.configs import TrainConfig
from src_helpers.training.loop import evaluate_loader, make_loader
from tests.training.helpers import train_rnn

DEVICE = os.environ.get("SRC_HELPERS_CUDA_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")

SMALL = {"vocab_size": 60, "embedding_dim": 128, "hidden_dim": 32, "num_layers": 2, "dropout": 0.2,
         "context_length": 48, "num_heads": 4}


@pytest.fixture(autouse=True)
def _no_tf32():
    """Full fp32 matmuls (TF32 would round CUDA results to ~1e-3 and blur the comparisons)."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def small(arch: str, **kw) -> EmotionClassifier:
    torch.manual_seed(0)
    return build_model({**SMALL, "arch": arch, **kw})


def batch(device: str = DEVICE) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([12, 7, 3, 1, 12, 5])
    ids = torch.randint(1, SMALL["vocab_size"], (len(lengths), 12), generator=g)
    ids[torch.arange(12)[None, :] >= lengths[:, None]] = 0
    return ids.to(device), lengths.to(device)


def autocast(precision: str) -> torch.autocast:
    return torch.autocast(torch.device(DEVICE).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


def check_kernels_ran(arch: str) -> None:
    """The CUDA paths are the compiled kernels, not a silent PyTorch fallback."""
    if DEVICE != "cuda":
        return
    if arch == "xlstm":
        from src_helpers.models.xlstm_encoder import _CUDA_FUNCTIONS
        assert _CUDA_FUNCTIONS, "the sLSTM CUDA kernel was not used"
    if arch == "rwkv":  # one kernel per process, compiled for the first context length built (rwkv_encoder.py)
        from transformers.models.rwkv import modeling_rwkv
        kernel = modeling_rwkv.rwkv_cuda_kernel
        assert kernel is not None, "the WKV CUDA kernel did not compile (needs ninja, nvcc)"
        assert kernel.max_seq_length >= 21, f"an earlier test loaded the WKV kernel for {kernel.max_seq_length} tokens"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("target", ["single", "multi"])
@pytest.mark.parametrize("arch", ARCHS)
def test_forward_backward(arch: str, target: str, precision: str) -> None:
    model = small(arch, target=target, bidirectional=True, pooling="last" if target == "single" else "meanmax")
    model.to(DEVICE).train()
    ids, lengths = batch()
    with autocast(precision):
        logits = model(ids, lengths)
    assert logits.shape == (6, 7) and logits.device.type == torch.device(DEVICE).type
    y = torch.tensor([0, 3, 6, 1, 2, 5], device=DEVICE)
    if target == "multi":
        y = torch.nn.functional.one_hot(y, 7).float()
    loss = model.loss_fn()(logits.float(), y)
    loss.backward()
    assert torch.isfinite(loss)
    unused = (".fwd.embeddings.", ".bwd.embeddings.")  # RWKV's own 1-row embedding (we pass inputs_embeds)
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad and not any(u in n for u in unused)}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), \
        [n for n, g in grads.items() if g is None or not torch.isfinite(g).all()]
    enc = [g for n, g in grads.items() if n.startswith("encoder.")]
    assert sum(float(g.abs().sum()) for g in enc) > 0, "gradients reach the encoder"
    check_kernels_ran(arch)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("arch", ARCHS)
def test_padding_does_not_change_outputs(arch: str, bidirectional: bool) -> None:
    model = small(arch, bidirectional=bidirectional, pooling="mean" if bidirectional else "last").to(DEVICE).eval()
    ids, lengths = batch()
    with torch.no_grad():
        out = model(ids, lengths)
        more = torch.cat([ids, torch.zeros(len(ids), 9, dtype=ids.dtype, device=DEVICE)], 1)
        torch.testing.assert_close(model(more, lengths), out, atol=1e-4, rtol=1e-4)
        garbage = more.clone()
        garbage[more == 0] = 42
        torch.testing.assert_close(model(garbage, lengths), out, atol=1e-4, rtol=1e-4)
        for row in range(len(ids)):  # each example alone, no padding at all
            alone = model(ids[row: row + 1, : lengths[row]], lengths[row: row + 1])
            torch.testing.assert_close(alone, out[row: row + 1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_cpu_and_cuda_agree(arch: str) -> None:
    """The same weights give the same logits and gradients on CPU (xLSTM: vanilla sLSTM) and on CUDA
    (xLSTM: the sLSTM CUDA kernel in fp32; RWKV: the WKV kernel; LSTM/GRU: cuDNN)."""
    cpu = small(arch, bidirectional=True, pooling="meanmax", dropout=0.0).train()  # train: kernels' backward
    gpu = copy.deepcopy(cpu).to(DEVICE)
    assert {k: tuple(v.shape) for k, v in cpu.state_dict().items()} == \
           {k: tuple(v.shape) for k, v in gpu.state_dict().items()}
    ids, lengths = batch("cpu")
    w = torch.randn(6, 7, generator=torch.Generator().manual_seed(1))
    out_cpu = cpu(ids, lengths)
    (out_cpu * w).sum().backward()
    out_gpu = gpu(ids.to(DEVICE), lengths.to(DEVICE))
    (out_gpu * w.to(DEVICE)).sum().backward()
    torch.testing.assert_close(out_gpu.cpu(), out_cpu, atol=1e-4, rtol=1e-3)
    grads_gpu = dict(gpu.named_parameters())
    errors = {n: rel_err(grads_gpu[n].grad, p.grad) for n, p in cpu.named_parameters()
              if p.grad is not None and p.grad.norm() > 1e-8}
    assert max(errors.values()) < 1e-3, sorted(errors.items(), key=lambda kv: -kv[1])[:5]
    check_kernels_ran(arch)
    if arch == "xlstm":  # on CUDA, the kernel and the PyTorch recurrence give the same result too
        gpu.encoder.set_backend("vanilla")
        with torch.no_grad():
            torch.testing.assert_close(gpu(ids.to(DEVICE), lengths.to(DEVICE)), out_gpu.detach(), atol=1e-4,
                                       rtol=1e-3)


@pytest.mark.parametrize("arch", ARCHS)
def test_bf16_autocast_stays_close_to_fp32(arch: str) -> None:
    model = small(arch, bidirectional=True, pooling="meanmax").to(DEVICE).eval()
    ids, lengths = batch()
    with torch.no_grad():
        fp32 = model(ids, lengths)
        with autocast("bf16"):
            bf16 = model(ids, lengths)
    assert torch.isfinite(bf16).all() and rel_err(bf16.float(), fp32) < 5e-2, rel_err(bf16.float(), fp32)


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoint_trained_on_cuda_loads_on_cpu(arch: str, tmp_path: Path) -> None:
    """Weights are device-neutral (xLSTM keeps the vanilla sLSTM layout on every device)."""
    model = small(arch, bidirectional=True, pooling="meanmax", dropout=0.0).to(DEVICE).train()
    ids, lengths = batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        model(ids, lengths).logsumexp(1).mean().backward()
        opt.step()
    model.eval()
    model.save_pretrained(tmp_path / arch)
    again = EmotionClassifier.from_pretrained(tmp_path / arch)  # on CPU
    with torch.no_grad():
        torch.testing.assert_close(again(ids.cpu(), lengths.cpu()), model(ids, lengths).cpu(), atol=1e-4, rtol=1e-3)
        back = copy.deepcopy(again).to(DEVICE)  # and back to the GPU
        torch.testing.assert_close(back(ids, lengths), model(ids, lengths), atol=1e-5, rtol=1e-5)


def test_rwkv_of_other_context_lengths_reuse_the_loaded_kernel() -> None:
    """Loading a second WKV kernel would abort the process; longer batches than the kernel's use PyTorch."""
    for ctx in (16, 64):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = small("rwkv", context_length=ctx, bidirectional=True, pooling="mean").to(DEVICE).eval()
        ids = torch.randint(1, SMALL["vocab_size"], (2, ctx), generator=torch.Generator().manual_seed(ctx))
        lengths = torch.tensor([ctx, ctx // 2])
        cpu = copy.deepcopy(model).cpu()
        with torch.no_grad():
            torch.testing.assert_close(model(ids.to(DEVICE), lengths.to(DEVICE)).cpu(), cpu(ids, lengths), atol=1e-4,
                                       rtol=1e-3)


@pytest.fixture(scope="module")
def sample() -> dict:
    return load_for_profile("quick")  # the bundled sample


MODEL = {"embedding_dim": 128, "hidden_dim": 32, "num_layers": 2, "bidirectional": True, "context_length": 48,
         "num_heads": 4, "dropout": 0.1}


@pytest.mark.parametrize(("precision", "exact"), [("fp32", False), ("bf16", True)])
@pytest.mark.parametrize("arch", ARCHS)
def test_training_run_on_cuda(arch: str, precision: str, exact: bool, sample: dict, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=2, batch_size=32, learning_rate=5e-3, device=DEVICE, precision=precision,
                      exact_lengths=exact)
    r = train_rnn(sample, tmp_path / arch, {**MODEL, "arch": arch}, cfg, max_length=48, min_frequency=1,
                         progress=False)
    assert len(r.history) == 2 and np.isfinite(r.history["train_loss"]).all()
    assert (tmp_path / arch / "checkpoints" / "model" / "model.pt").exists()
    assert next(r.model.parameters()).device.type == torch.device(DEVICE).type
    assert np.allclose(r.test_probs.sum(1), 1, atol=1e-3)
    check_kernels_ran(arch)
    if precision == "fp32":  # the saved model predicts the same on the CPU
        cpu = EmotionClassifier.from_pretrained(tmp_path / arch / "checkpoints" / "model")
        ids = r.encoder.encode_batch(sample["test"]["text"].tolist())
        loader = make_loader(ids, targets(sample["test"], "single"), r.encoder.pad_id, 256, shuffle=False)
        probs, _ = evaluate_loader(cpu, loader, "cpu")
        np.testing.assert_allclose(probs, r.test_probs, atol=1e-4)


def test_resume_of_a_finished_run_on_cuda(sample: dict, tmp_path: Path) -> None:
    """Starting a finished run again loads ``last.pt`` (RNG states included) and ends with the same model."""
    cfg = TrainConfig(epochs=2, batch_size=32, learning_rate=5e-3, device=DEVICE)
    args = (sample, tmp_path / "gru", {**MODEL, "arch": "gru"}, cfg)
    first = train_rnn(*args, max_length=48, min_frequency=1, progress=False)
    again = train_rnn(*args, max_length=48, min_frequency=1, progress=False)
    assert again.best_epoch == first.best_epoch
    np.testing.assert_allclose(again.test_probs, first.test_probs, atol=1e-6)
