"""Checks of arguments where they enter (CLI flags, experiment overrides, study budgets), which name the argument
and what it allows (``Range``: what a number must be) in the same words."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import numbers
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """Finite numbers (never bools) from ``low`` (excluded with ``open_low``) to ``high``; ``integer``: integers."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    integer: bool = False

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{kind} {'>' if self.open_low else '>='} {self.low:g}"
        return f"{kind} <= {self.high:g}" if self.high is not None else kind

    def __contains__(self, value: object) -> bool:
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        return above and (self.high is None or value <= self.high)


COUNT = Range(1, integer=True)  # sizes, epochs, trials, rows
INDEX = Range(0, integer=True)  # a worker's number
POSITIVE = Range(0, open_low=True)  # learning rates, seconds
NON_NEGATIVE = Range(0)  # weight decay
FRACTION = Range(0, 1)  # warm-up ratio, dropout, label smoothing


def check_range(name: str, value: Any, allowed: Range, optional: bool = False) -> Any:
    """``value`` when it is in ``allowed`` (or None with ``optional``), else a ``ValueError`` naming ``name``."""
    if (optional and value is None) or value in allowed:
        return value
    raise ValueError(f"{name} must be {allowed}{' or None' if optional else ''}, got {value!r}")


def check_choice(name: str, value: Any, allowed: Iterable) -> Any:
    """``value`` when it is one of ``allowed``, else a ``ValueError`` naming ``name`` and the choices."""
    if value not in (allowed := tuple(allowed)):
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def cli(allowed: Range) -> Callable[[str], int | float]:
    """An argparse ``type`` reading a flag's text as a number in ``allowed`` (argparse's error names the flag)."""

    def parse(text: str) -> int | float:
        try:
            value = int(text) if allowed.integer else float(text)
        except ValueError:
            value = None
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    return parse


SIMPLE: dict[type, Callable[[object], bool]] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
    float: lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


_field_types = functools.cache(typing.get_type_hints)  # a dataclass's field types


def _simple_types(annotation: Any) -> tuple[list[type], bool] | None:
    """``(simple types, None allowed)`` of a bool/int/float/str/None annotation, else None (the dataclass checks)."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    args = typing.get_args(annotation) if union else (annotation,)
    kinds = [a for a in args if a is not type(None)]
    return (kinds, len(kinds) < len(args)) if all(k in SIMPLE for k in kinds) else None


def check_field(name: str, value: Any, cls: type, field: str, ranges: Mapping[str, Range] | None = None) -> None:
    """A ``ValueError`` naming ``name`` when ``value`` is not of ``cls.field``'s type or outside ``ranges[field]``."""
    kinds, optional = _simple_types(_field_types(cls).get(field)) or (None, value is None)
    if kinds is not None and not ((optional and value is None) or any(SIMPLE[k](value) for k in kinds)):
        expected = " or ".join([k.__name__ for k in kinds] + (["None"] if optional else []))
        raise ValueError(f"{name} must be of type {expected}, got {value!r} ({type(value).__name__})")
    if field in (ranges or {}):
        check_range(name, value, ranges[field], optional)


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, ranges: Mapping[str, Range] | None = None,
                        choices: Mapping[str, tuple] | None = None) -> None:
    """One ``--flag`` per field of dataclass ``cls`` (``--model-name``), typed, checked by ``ranges`` / ``choices``."""
    defaults = cls()
    for f in dataclasses.fields(cls):
        flag, default = "--" + f.name.replace("_", "-"), getattr(defaults, f.name)
        kinds, _ = _simple_types(_field_types(cls)[f.name]) or ([str], True)
        kw: dict[str, Any] = {"default": default, "help": f"default: {default}"}
        if bool in kinds:
            kw["action"] = argparse.BooleanOptionalAction
        elif f.name in (ranges or {}):
            kw["type"] = cli(ranges[f.name])
        elif f.name in (choices or {}):
            kw["choices"] = choices[f.name]
        elif _simple_types(_field_types(cls)[f.name]) is None:
            kw["nargs"] = "+"  # a list of strings
        else:
            kw["type"] = float if float in kinds else kinds[0]
        parser.add_argument(flag, **kw)


def dataclass_from_args(cls: type, args: argparse.Namespace) -> Any:
    """The dataclass ``cls`` built from the flags ``add_dataclass_flags`` added."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
