"""LSTM / GRU encoder over packed sequences: padding never reaches the state; initial states are zeros.

A batch without padding (all lengths equal, see ``LengthBucketSampler(exact=True)``) skips packing: the
dense call gives the same result and runs on the fused oneDNN/cuDNN kernels."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentEncoder(nn.Module):
    """``forward(x [B,T,E], lengths [B]) -> (outputs [B,T,H*dirs], last [B,H*dirs])``.

    ``last`` concatenates the top layer's final forward state (at each example's last real token) and,
    when bidirectional, the final backward state (at its first token)."""

    def __init__(self, cell: str, input_dim: int, hidden_dim: int, num_layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.cell = cell
        self.rnn = CELLS[cell](input_dim, hidden_dim, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.num_dirs = 2 if bidirectional else 1
        self.out_dim = hidden_dim * self.num_dirs

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        T, lengths = x.size(1), lengths.cpu()
        if bool((lengths == T).all()):  # no padding in this batch: the dense path is exact and faster
            outputs, state = self.rnn(x)  # (oneDNN kernels on CPU, cuDNN on GPU)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)  # no initial state given -> zeros, every call
            outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        h_n = state[0] if self.cell == "lstm" else state  # [layers*dirs, B, H]
        last = torch.cat(list(h_n[-self.num_dirs:]), dim=-1)  # top layer, all directions
        return outputs, last
