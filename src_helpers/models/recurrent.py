"""LSTM / GRU encoder over packed sequences (padding never reaches the state; a batch without padding runs the
fused kernels). Under bf16 autocast on a CPU without a bf16 RNN kernel the recurrent layer runs in fp32."""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

log = logging.getLogger(__name__)

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


@functools.cache
def cpu_bf16_rnn_supported(cell: str = "lstm") -> bool:
    """Whether this CPU runs the dense ``cell`` kernel in bf16 autocast (probed once; ``ONEDNN_MAX_CPU_ISA`` counts)."""
    rnn = CELLS[cell](4, 4, batch_first=True)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            rnn(torch.zeros(1, 2, 4))
    except RuntimeError as e:
        log.warning("this CPU has no bf16 %s kernel (no AVX512-BF16/AMX): the recurrent layers run in fp32 "
                    "under precision='bf16'; the rest stays bf16, which is emulated here and slower than fp32, "
                    "so prefer precision='fp32' on this CPU. oneDNN said: %s",
                    cell.upper(), str(e).splitlines()[0][:120])
        return False
    return True


def _bf16_cpu_autocast(x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16)


class RecurrentEncoder(nn.Module):
    """``forward(x [B,T,E], lengths [B]) -> (outputs [B,T,H*dirs], last)``; ``last``: the top layer's final states."""

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

    def _dense(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, ...]]:
        """The unpacked call (oneDNN kernels on CPU, cuDNN on GPU); fp32 where the CPU has no bf16 kernel."""
        if _bf16_cpu_autocast(x) and not cpu_bf16_rnn_supported(self.cell):
            with torch.autocast("cpu", enabled=False):
                return self.rnn(x.float())
        return self.rnn(x)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        T, lengths = x.size(1), lengths.cpu()
        if bool((lengths == T).all()):  # no padding in this batch: the dense path is exact and faster
            outputs, state = self._dense(x)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)  # no initial state given -> zeros, every call
            outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        h_n = state[0] if self.cell == "lstm" else state  # [layers*dirs, B, H]
        last = torch.cat(list(h_n[-self.num_dirs:]), dim=-1)  # top layer, all directions
        return outputs, last
