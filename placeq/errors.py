"""Exceptions of the placeq core. Each names the field or file location at fault, so callers can answer 4xx.

    PlaceqError
     ├── InputError            bad user input; `.field` says where (a JSON path or "file:line")
     │    ├── NetlistError     a netlist or sidecar file that cannot be parsed
     │    ├── PlacementFileError  MAGICAL place.* files that cannot be parsed
     │    └── PlacementMismatch   a placement that disagrees with its circuit
     └── UnknownDesign         no circuit of that name
"""

from __future__ import annotations


class PlaceqError(Exception):
    """Base of every placeq error."""


class InputError(PlaceqError, ValueError):
    """Bad input; `field` names where (JSON path like ``devices[2].w`` or ``file.sp:12``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NetlistError(InputError):
    """A SPICE/Spectre netlist or a UT-AnLay sidecar file that cannot be read."""


class PlacementFileError(InputError):
    """A MAGICAL place.result / place.pin / place.connection file that cannot be read."""


class PlacementMismatch(InputError):
    """A placement whose devices, pins or nets disagree with the circuit it claims to be of."""


class UnknownDesign(PlaceqError, KeyError):
    """No built-in or registered circuit of that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown design {name!r}; known: {', '.join(known)}")
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return str(self.args[0])
