"""Reading UTF-8 data files with errors that name the file and line. Imports nothing of the package."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file and line."""


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text without a leading byte-order mark; bad bytes raise with file:line."""
    data = Path(path).read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataFormatError(f"{path}:{line}: not valid UTF-8 (byte {data[e.start]:#04x} at column {column}); "
                              "save the file as UTF-8") from None


def split_lines(text: str) -> list[str]:
    """Lines split at ``\\n`` only (``\\r`` before it dropped), unlike ``str.splitlines``: an editor's numbering."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def content_lines(path: str | Path, text: str) -> list[str]:
    """The lines of ``text`` without trailing blank lines; a blank line before the last row is an error."""
    lines = split_lines(text)
    while lines and not lines[-1].strip():
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataFormatError(f"{path}:{lineno}: blank line (a lost row?); only blank lines at the end "
                                  "of a file are ignored")
    return lines


def read_json(path: str | Path) -> Any:
    """Parsed JSON; invalid JSON raises with file:line:column."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
