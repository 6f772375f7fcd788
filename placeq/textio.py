"""Reading a user's text file (JSON, sidecars, placements) with errors that name the file and line, not a traceback.

A binary or non-UTF-8 file is bad input like any other: it raises the caller's `InputError` subclass naming
``file:line`` of the first byte that is not UTF-8.
"""

from __future__ import annotations

from pathlib import Path

from placeq.errors import InputError


def read_text(path: Path, error: type[InputError] = InputError, what: str = "file") -> str:
    """The UTF-8 text of `path` (a leading BOM dropped); `error` names ``path`` or ``path:line`` when it cannot."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise error(str(path), f"cannot read {what}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(f"{path}:{line}", f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): is this a {what}?") from exc
