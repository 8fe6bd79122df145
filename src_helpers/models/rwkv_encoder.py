"""RWKV encoder: transformers' ``RwkvModel`` built from a config (random init).

Every forward starts from a fresh zero state per example (``use_cache=False``, no state passed in), so
nothing is shared across the batch or carried between batches. RWKV is causal: with right padding the
outputs at real tokens never see padding, and pooling uses the last real token or a masked mean/max.
"""

from __future__ import annotations

import torch
from torch import nn

from .pooling import last_real, reverse_padded


def _rwkv(dim: int, num_layers: int, context_length: int) -> nn.Module:
    from transformers import RwkvConfig, RwkvModel

    # vocab_size=1: the classifier owns the embedding and passes inputs_embeds. rescale_every=0: no
    # in-place weight rescaling when switching train/eval (it would change saved weights).
    config = RwkvConfig(vocab_size=1, hidden_size=dim, num_hidden_layers=num_layers,
                        context_length=context_length, intermediate_size=4 * dim, rescale_every=0,
                        use_cache=False)
    return RwkvModel(config)


class RwkvEncoder(nn.Module):
    """``forward(x [B,T,E], lengths) -> (outputs, last)``; optional right-to-left second model."""

    def __init__(self, input_dim: int, num_layers: int = 2, context_length: int = 64,
                 bidirectional: bool = False) -> None:
        super().__init__()
        self.context_length = context_length
        self.fwd = _rwkv(input_dim, num_layers, context_length)
        self.bwd = _rwkv(input_dim, num_layers, context_length) if bidirectional else None
        self.out_dim = input_dim * (2 if bidirectional else 1)

    def _run(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(inputs_embeds=x, use_cache=False, return_dict=True).last_hidden_state

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.size(1) > self.context_length:
            raise ValueError(f"sequence length {x.size(1)} > RWKV context_length {self.context_length}")
        out = self._run(self.fwd, x)
        last = last_real(out, lengths)
        if self.bwd is None:
            return out, last
        back = reverse_padded(self._run(self.bwd, reverse_padded(x, lengths)), lengths)
        return torch.cat([out, back], -1), torch.cat([last, back[:, 0]], -1)
