"""RWKV encoder: transformers' causal ``RwkvModel`` (random init, a zero state per example). On a GPU the attention
runs transformers' WKV kernel through ``_WKV``: its own backward (4.57) overruns [C]-sized gradient buffers and mixes
dtypes under bf16. The kernel is compiled once per process, for the first model's context length; longer batches
run the PyTorch recurrence (a warning says so)."""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from .pooling import both_directions


class _WKV(torch.autograd.Function):
    """WKV over [B, T, C] with transformers' compiled kernel; fp32, or bf16 for bf16 keys (as the kernel offers)."""

    @staticmethod
    def forward(ctx, kernel, time_decay, time_first, key, value):
        dtype = torch.bfloat16 if key.dtype == torch.bfloat16 else torch.float32
        w = -torch.exp(time_decay.float()).contiguous()
        u = time_first.to(dtype).contiguous()
        k, v = key.to(dtype).contiguous(), value.to(dtype).contiguous()
        y = torch.empty_like(k)
        (kernel.forward_bf16 if dtype == torch.bfloat16 else kernel.forward)(w, u, k, v, y)
        ctx.save_for_backward(w, u, k, v, y)
        ctx.kernel, ctx.dtypes = kernel, (time_decay.dtype, time_first.dtype, key.dtype, value.dtype)
        return y.to(key.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        w, u, k, v, y = ctx.saved_tensors
        batch, _, channels = k.shape
        gw = torch.empty(batch, channels, dtype=k.dtype, device=k.device)  # per example: the kernel writes [B, C]
        gu = torch.empty_like(gw)
        gk, gv = torch.empty_like(k), torch.empty_like(v)
        backward = ctx.kernel.backward_bf16 if k.dtype == torch.bfloat16 else ctx.kernel.backward
        backward(w, u, k, v, y, grad_y.to(k.dtype).contiguous(), gw, gu, gk, gv)
        td, tf, kd, vd = ctx.dtypes
        return None, gw.float().sum(0).to(td), gu.float().sum(0).to(tf), gk.to(kd), gv.to(vd)


@functools.cache
def _attention_class() -> type:
    from transformers.models.rwkv import modeling_rwkv

    class RwkvSelfAttentionCuda(modeling_rwkv.RwkvSelfAttention):
        """``RwkvSelfAttention`` whose stateless CUDA forward uses ``_WKV`` (the same kernel, a correct backward)."""

        def forward(self, hidden, state=None, use_cache=False):
            if not hidden.is_cuda or state is not None or use_cache:
                return super().forward(hidden, state=state, use_cache=use_cache)
            receptance, key, value, _ = self.extract_key_value(hidden)
            kernel = modeling_rwkv.rwkv_cuda_kernel  # one per process (see _kernel_context_length)
            batch, steps, channels = key.shape
            if kernel is None or steps > kernel.max_seq_length or (batch * channels) % min(channels, 32):
                rwkv, _ = modeling_rwkv.rwkv_linear_attention_cpu(self.time_decay, self.time_first, key, value)
            else:
                rwkv = _WKV.apply(kernel, self.time_decay, self.time_first, key, value)
            return self.output(receptance * rwkv), None

    return RwkvSelfAttentionCuda


def _kernel_context_length(context_length: int) -> int:
    """The context length to hand transformers: that of the WKV kernel already loaded, if any (see above)."""
    from transformers.models.rwkv import modeling_rwkv

    kernel = modeling_rwkv.rwkv_cuda_kernel
    if kernel is None:
        return context_length
    if context_length > kernel.max_seq_length:
        warnings.warn(f"the RWKV CUDA kernel of this process was compiled for {kernel.max_seq_length} tokens; "
                      f"longer batches of this model (context_length={context_length}) use the slower PyTorch "
                      "recurrence (restart Python to compile it for more)", stacklevel=3)
    return kernel.max_seq_length


def _rwkv(dim: int, num_layers: int, context_length: int) -> nn.Module:
    from transformers import RwkvConfig, RwkvModel

    # vocab_size=1: the classifier owns the embedding and passes inputs_embeds. rescale_every=0: no
    # in-place weight rescaling when switching train/eval (it would change saved weights).
    config = RwkvConfig(vocab_size=1, hidden_size=dim, num_hidden_layers=num_layers,
                        context_length=_kernel_context_length(context_length), intermediate_size=4 * dim,
                        rescale_every=0, use_cache=False)
    model = RwkvModel(config)
    for block in model.blocks:
        block.attention.__class__ = _attention_class()  # same weights; only the CUDA forward differs
    return model


class RwkvEncoder(nn.Module):
    """``forward(x [B,T,E], lengths) -> (outputs, last)``; optional right-to-left second model."""

    def __init__(self, input_dim: int, num_layers: int = 2, context_length: int = 64,
                 bidirectional: bool = False) -> None:
        super().__init__()
        self.context_length = context_length
        self.fwd = _rwkv(input_dim, num_layers, context_length)
        self.bwd = _rwkv(input_dim, num_layers, context_length) if bidirectional else None
        self.out_dim = input_dim * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.size(1) > self.context_length:
            raise ValueError(f"sequence length {x.size(1)} > RWKV context_length {self.context_length}")
        return both_directions(self.fwd, self.bwd, x, lengths,
                               lambda model, h: model(inputs_embeds=h, use_cache=False).last_hidden_state)
