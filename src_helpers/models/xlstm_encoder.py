"""xLSTM encoder: the ``xlstm`` package's ``xLSTMBlockStack`` of mLSTM blocks with sLSTM blocks in between.

Both block types are causal (causal conv + recurrence), so with right padding the outputs at real tokens
never see padding. sLSTM runs its ``vanilla`` PyTorch backend on CPU and the CUDA kernel only on a GPU.
"""

from __future__ import annotations

import torch
from torch import nn

from .pooling import last_real, reverse_padded


def slstm_backend() -> str:
    return "cuda" if torch.cuda.is_available() else "vanilla"


def _stack(dim: int, num_blocks: int, slstm_at: list[int], num_heads: int, context_length: int,
           dropout: float, backend: str) -> nn.Module:
    from xlstm import (
        FeedForwardConfig,
        mLSTMBlockConfig,
        mLSTMLayerConfig,
        sLSTMBlockConfig,
        sLSTMLayerConfig,
        xLSTMBlockStack,
        xLSTMBlockStackConfig,
    )

    bad = [i for i in slstm_at if not 0 <= i < num_blocks]
    if bad:
        raise ValueError(f"slstm_at positions {bad} outside 0..{num_blocks - 1}")
    config = xLSTMBlockStackConfig(
        mlstm_block=mLSTMBlockConfig(mlstm=mLSTMLayerConfig(conv1d_kernel_size=4, qkv_proj_blocksize=4,
                                                            num_heads=num_heads)),
        slstm_block=sLSTMBlockConfig(
            slstm=sLSTMLayerConfig(backend=backend, num_heads=num_heads, conv1d_kernel_size=4,
                                   bias_init="powerlaw_blockdependent"),
            feedforward=FeedForwardConfig(proj_factor=1.3, act_fn="gelu")),
        context_length=context_length, num_blocks=num_blocks, embedding_dim=dim, slstm_at=slstm_at,
        dropout=dropout)
    return xLSTMBlockStack(config)


class XLSTMEncoder(nn.Module):
    """``forward(x [B,T,E], lengths) -> (outputs, last)``; ``last`` = output at the last real token.

    ``bidirectional`` adds a second stack that reads each example's real tokens right-to-left."""

    def __init__(self, input_dim: int, num_blocks: int = 2, slstm_at: list[int] | None = None,
                 num_heads: int = 4, context_length: int = 64, bidirectional: bool = False,
                 dropout: float = 0.0, backend: str | None = None) -> None:
        super().__init__()
        slstm_at = [1] if slstm_at is None else list(slstm_at)
        backend = backend or slstm_backend()
        self.context_length = context_length
        self.fwd = _stack(input_dim, num_blocks, slstm_at, num_heads, context_length, dropout, backend)
        self.bwd = (_stack(input_dim, num_blocks, slstm_at, num_heads, context_length, dropout, backend)
                    if bidirectional else None)
        self.out_dim = input_dim * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.size(1) > self.context_length:
            raise ValueError(f"sequence length {x.size(1)} > xLSTM context_length {self.context_length}")
        out = self.fwd(x)
        last = last_real(out, lengths)
        if self.bwd is None:
            return out, last
        back = reverse_padded(self.bwd(reverse_padded(x, lengths)), lengths)  # back in reading order
        return torch.cat([out, back], -1), torch.cat([last, back[:, 0]], -1)
