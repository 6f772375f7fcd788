"""File formats -> domain objects. Every reader raises an `InputError` subclass naming ``file:line`` (or
``file:DEVICE`` for the UT-AnLay JSON sidecars); see docs/formats.md for what each format holds.

    netlists     SPICE (.subckt/M/R/C, SI suffixes, + continuations) and Spectre (Virtuoso output), auto-detected
    utanlay      <design>.json device kinds, <design>.channel subcircuit tags
    symmetry     MAGICAL .sym matched pairs / self-symmetric devices
    magical      MAGICAL place.result / place.pin / place.connection -> Placement (and back)
"""

from placeq.formats._tokens import parse_number
from placeq.formats.magical import read_magical_placement, write_magical_placement
from placeq.formats.netlist import detect_dialect, infer_kind, parse_netlist, read_netlist
from placeq.formats.symmetry import Symmetry, apply_symmetry, parse_symmetry, read_symmetry
from placeq.formats.utanlay import parse_channels, parse_types, read_channels, read_types

__all__ = [
    "Symmetry",
    "apply_symmetry",
    "detect_dialect",
    "infer_kind",
    "parse_channels",
    "parse_netlist",
    "parse_number",
    "parse_symmetry",
    "parse_types",
    "read_channels",
    "read_magical_placement",
    "read_netlist",
    "read_symmetry",
    "read_types",
    "write_magical_placement",
]
