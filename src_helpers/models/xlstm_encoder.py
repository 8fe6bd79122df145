"""xLSTM encoder: the ``xlstm`` package's causal ``xLSTMBlockStack`` of mLSTM and sLSTM blocks. The sLSTM parameters
keep the ``vanilla`` (PyTorch) layout, so a state dict loads on every device; on CUDA tensors xlstm's fused kernel
runs on a re-laid-out view of them (bfloat16 under bf16 autocast, else float32)."""

from __future__ import annotations

import functools

import torch
from torch import nn

from .pooling import both_directions

BACKENDS = ("auto", "vanilla", "cuda")
_KERNEL_DTYPES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def slstm_backend(device: torch.device | str | None = None) -> str:
    """The sLSTM backend that runs on ``device`` (default: the GPU when there is one)."""
    cuda = torch.cuda.is_available() if device is None else torch.device(device).type == "cuda"
    return "cuda" if cuda else "vanilla"


def _kernel_dtype(x: torch.Tensor) -> str:
    if torch.is_autocast_enabled("cuda"):
        return _KERNEL_DTYPES.get(torch.get_autocast_dtype("cuda"), "float32")
    return _KERNEL_DTYPES.get(x.dtype, "float32")


_CUDA_FUNCTIONS: dict[tuple, type] = {}


def _cuda_function(config, dtype: str) -> type:
    """xlstm's autograd function around the compiled sLSTM kernel, one per shape and dtype (cached)."""
    from xlstm.blocks.slstm.cell import sLSTMCellConfig, sLSTMCellFuncGenerator

    key = (config.function, config.hidden_size, config.num_heads, config.num_states, config.num_gates,
           config.gradient_recurrent_cut, config.gradient_recurrent_clipval, dtype,
           tuple(sorted(config.constants.items())))
    if key not in _CUDA_FUNCTIONS:
        cuda_config = sLSTMCellConfig(
            hidden_size=config.hidden_size, num_heads=config.num_heads, num_states=config.num_states,
            backend="cuda", function=config.function, num_gates=config.num_gates,
            gradient_recurrent_cut=config.gradient_recurrent_cut,
            gradient_recurrent_clipval=config.gradient_recurrent_clipval, forward_clipval=config.forward_clipval,
            constants=dict(config.constants), dtype=dtype, dtype_b="float32",
            enable_automatic_mixed_precision=True)
        _CUDA_FUNCTIONS[key] = sLSTMCellFuncGenerator(True, cuda_config)
    return _CUDA_FUNCTIONS[key]


@functools.cache
def _device_aware_cell_class() -> type:
    from xlstm.blocks.slstm.cell import sLSTMCell_vanilla

    class DeviceAwareSLSTMCell(sLSTMCell_vanilla):
        """xlstm's vanilla sLSTM cell (same parameters, same layout) that runs the CUDA kernel on CUDA inputs."""

        kernel_backend = "auto"

        def _impl(self, training: bool, input: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
            if not input.is_cuda or self.kernel_backend == "vanilla":
                if self.kernel_backend == "cuda":
                    raise ValueError("sLSTM backend 'cuda' needs CUDA tensors; use backend='auto' or 'vanilla'")
                return super()._impl(training, input, state)
            c = self.config
            nh, gates, d = c.num_heads, c.num_gates, c.head_dim
            S, B = input.shape[:2]
            # vanilla layouts -> the kernel's: inputs [S,B,G,NH,D] -> [S,B,NH,G,D]; recurrent kernel
            # [NH, G*D, D_in] -> [NH, D_in, G*D]; bias [G, NH, D] -> [NH, G, D]. Views: gradients flow back.
            x = input.view(S, B, gates, nh, d).transpose(2, 3).reshape(S, B, -1)
            r = self._recurrent_kernel.transpose(1, 2)
            b = self._bias.view(gates, nh, d).transpose(0, 1).reshape(-1)
            func = _cuda_function(c, _kernel_dtype(input))
            return func.apply(training, x.contiguous(), state.contiguous(), r.contiguous(), b.contiguous())

    return DeviceAwareSLSTMCell


def _stack(dim: int, num_blocks: int, slstm_at: list[int], num_heads: int, context_length: int,
           dropout: float) -> nn.Module:
    from xlstm import (
        FeedForwardConfig,
        mLSTMBlockConfig,
        mLSTMLayerConfig,
        sLSTMBlockConfig,
        sLSTMLayerConfig,
        xLSTMBlockStack,
        xLSTMBlockStackConfig,
    )
    from xlstm.blocks.slstm.cell import sLSTMCell_vanilla

    if bad := [i for i in slstm_at if not 0 <= i < num_blocks]:
        raise ValueError(f"slstm_at positions {bad} outside 0..{num_blocks - 1}")
    config = xLSTMBlockStackConfig(
        mlstm_block=mLSTMBlockConfig(mlstm=mLSTMLayerConfig(conv1d_kernel_size=4, qkv_proj_blocksize=4,
                                                            num_heads=num_heads)),
        slstm_block=sLSTMBlockConfig(
            slstm=sLSTMLayerConfig(backend="vanilla", num_heads=num_heads, conv1d_kernel_size=4,
                                   bias_init="powerlaw_blockdependent"),
            feedforward=FeedForwardConfig(proj_factor=1.3, act_fn="gelu")),
        context_length=context_length, num_blocks=num_blocks, embedding_dim=dim, slstm_at=slstm_at,
        dropout=dropout)
    stack = xLSTMBlockStack(config)
    cell_class = _device_aware_cell_class()
    for module in stack.modules():
        if isinstance(module, sLSTMCell_vanilla):
            module.__class__ = cell_class  # same state, only the forward dispatch differs
    return stack


class XLSTMEncoder(nn.Module):
    """``forward(x [B,T,E], lengths) -> (outputs, last)`` (``bidirectional``: a second, right-to-left stack).
    ``backend``: ``"auto"`` (the CUDA kernel on CUDA tensors), ``"vanilla"`` (PyTorch) or ``"cuda"``."""

    def __init__(self, input_dim: int, num_blocks: int = 2, slstm_at: list[int] | None = None,
                 num_heads: int = 4, context_length: int = 64, bidirectional: bool = False,
                 dropout: float = 0.0, backend: str | None = None) -> None:
        super().__init__()
        slstm_at = [1] if slstm_at is None else list(slstm_at)
        self.context_length = context_length
        args = (input_dim, num_blocks, slstm_at, num_heads, context_length, dropout)
        self.fwd, self.bwd = _stack(*args), _stack(*args) if bidirectional else None
        self.out_dim = input_dim * (2 if bidirectional else 1)
        self.set_backend(backend or "auto")

    def set_backend(self, backend: str) -> None:
        """Switch the sLSTM kernel (``"auto"``, ``"vanilla"`` or ``"cuda"``); the parameters stay as they are."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        for module in self.modules():
            if hasattr(module, "kernel_backend"):
                module.kernel_backend = backend

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.size(1) > self.context_length:
            raise ValueError(f"sequence length {x.size(1)} > xLSTM context_length {self.context_length}")
        return both_directions(self.fwd, self.bwd, x, lengths)
