"""Padding-aware helpers shared by the encoders: masks, masked pooling, per-example reversal."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .config import POOLINGS


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean mask [B, T]: True at real tokens (positions < length)."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def last_real(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Output at each example's last real token: [B, T, H] -> [B, H]."""
    idx = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.size(-1))
    return outputs.gather(1, idx).squeeze(1)


def masked_mean(outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(outputs.dtype)
    return (outputs * m).sum(1) / m.sum(1).clamp(min=1.0)


def masked_max(outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)


def pool(outputs: torch.Tensor, last: torch.Tensor, lengths: torch.Tensor, how: str) -> torch.Tensor:
    """Sentence vector from per-token ``outputs`` [B, T, H]; ``last`` [B, H] is the encoder's final state."""
    if how == "last":
        return last
    mask = length_mask(lengths, outputs.size(1))
    if how == "mean":
        return masked_mean(outputs, mask)
    if how == "max":
        return masked_max(outputs, mask)
    if how == "meanmax":
        return torch.cat([masked_mean(outputs, mask), masked_max(outputs, mask)], dim=-1)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {how!r}")


def pooled_dim(hidden: int, how: str) -> int:
    return 2 * hidden if how == "meanmax" else hidden


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's real tokens in place of [B, T, ...]; padding stays at the end (its own inverse)."""
    T = x.size(1)
    pos = torch.arange(T, device=x.device)[None, :]
    idx = torch.where(pos < lengths[:, None], lengths[:, None] - 1 - pos, pos)
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


def both_directions(fwd: nn.Module, bwd: nn.Module | None, x: torch.Tensor, lengths: torch.Tensor,
                    run: Callable = lambda model, h: model(h)) -> tuple[torch.Tensor, torch.Tensor]:
    """``(outputs, last)`` of the causal ``fwd`` and, when given, of ``bwd`` reading the real tokens right-to-left."""
    out = run(fwd, x)
    last = last_real(out, lengths)
    if bwd is None:
        return out, last
    back = reverse_padded(run(bwd, reverse_padded(x, lengths)), lengths)  # back in reading order
    return torch.cat([out, back], -1), torch.cat([last, back[:, 0]], -1)
