"""The built-in OTA designs (paper Table I), stored as circuit JSON data next to this module.

OTA1 and OTA2 share one schematic (three-stage, nested Miller, resistive CMFB) with different sizing; OTA3 is a
two-stage Miller OTA with a CMFB amplifier; OTA4 is a two-stage OTA without compensation whose metric is CMRR.
Each has exactly 14 critical nets, so its design space holds 2^14 = 16,384 net weightings as in the paper. The
sizes were checked with our BSIM4 cards (`simulate/models`): every transistor saturated, open-loop gain
above 60 dB (see docs/circuits.md). `load_design` also accepts a circuit JSON file (what `placeq import-netlist`
writes), so a user's own circuit goes through the same pipeline.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from placeq.domain import Circuit
from placeq.errors import InputError, UnknownDesign
from placeq.textio import read_text

BUILTIN_DESIGNS: tuple[str, ...] = ("ota1", "ota2", "ota3", "ota4")

_DATA = Path(__file__).resolve().parent


def _validation_message(exc: ValidationError) -> tuple[str, str]:
    """(field path, message) of the first pydantic error, for an InputError that names the field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "circuit"
    return field, str(err["msg"])


def read_circuit(path: Path) -> Circuit:
    """Parse and validate a circuit JSON file; errors name the file and the offending field."""
    text = read_text(path, what="circuit file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg}") from exc
    try:
        return Circuit.model_validate(data)
    except ValidationError as exc:
        field, message = _validation_message(exc)
        raise InputError(f"{path}: {field}", message) from exc


@lru_cache(maxsize=len(BUILTIN_DESIGNS))
def _builtin(name: str) -> Circuit:
    return read_circuit(_DATA / f"{name}.json")


def load_design(name_or_path: str | Path) -> Circuit:
    """A built-in design by name (case-insensitive), or the circuit in a JSON file.

    Raises `UnknownDesign` when the argument is neither a built-in name nor an existing file, and `InputError`
    (naming file and field) when the file is not a valid circuit.
    """
    if isinstance(name_or_path, str) and name_or_path.lower() in BUILTIN_DESIGNS:
        return _builtin(name_or_path.lower())
    path = Path(name_or_path)
    if path.is_file():
        return read_circuit(path)
    raise UnknownDesign(str(name_or_path), list(BUILTIN_DESIGNS))


def list_designs() -> list[Circuit]:
    """The built-in designs in `BUILTIN_DESIGNS` order."""
    return [_builtin(name) for name in BUILTIN_DESIGNS]
