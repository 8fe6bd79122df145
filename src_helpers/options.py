"""Renamed options: the trainers' configs name the learning rate ``learning_rate`` and the numeric precision
``precision``. Old keyword names (``lr``, ``fp16``) are still accepted with a ``DeprecationWarning``, and stored
configs and checkpoint fingerprints written before the rename are read with the new names."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

# old name -> (new name, old value -> new value)
Renames = dict[str, tuple[str, Callable[[Any], Any]]]


def same(value: Any) -> Any:
    return value


def fp16_to_precision(value: Any) -> str:
    """The former ``fp16: bool``: True was mixed precision (fp16 on CUDA), False full fp32."""
    return "fp16" if value else "fp32"


def rename_keys(d: dict, renames: Renames) -> dict:
    """``d`` with its old keys replaced by the new ones (values converted); a new key present wins."""
    out = {k: v for k, v in d.items() if k not in renames}
    for old, (new, convert) in renames.items():
        if old in d and new not in d:
            out[new] = convert(d[old])
    return out


def accept_renamed(renames: Renames) -> Callable[[type], type]:
    """Class decorator for a dataclass: its ``__init__`` also takes the old keyword names, with a
    ``DeprecationWarning`` naming the new option; the old and the new name together are a ``TypeError``."""

    def decorate(cls: type) -> type:
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            for old, (new, _) in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{cls.__name__}: pass {new}= only ({old}= is its former name)")
                warnings.warn(f"{cls.__name__}({old}=...) is deprecated: use {new}=", DeprecationWarning,
                              stacklevel=2)
            init(self, *args, **rename_keys(kwargs, renames))

        cls.__init__ = __init__
        return cls

    return decorate
