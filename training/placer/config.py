"""Placer parameters: one frozen dataclass, every key with a description and a default, loadable from JSON.

The defaults follow MAGICAL's IdeaPlaceEx where it has an answer (power nets at 0.2 of the net weight, bulk pins
left out of the wirelength, Adam, quadratic symmetry, LSE-like smoothing) and the paper's Sec. III-A for the
design space (raise the weight of a subset of the critical nets, keep the boundary term fixed).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from placeq.errors import InputError


def _key(default: Any, description: str) -> Any:
    return field(default=default, metadata={"description": description})


@dataclass(frozen=True)
class PlacerConfig:
    """Parameters of the batched analytical placer, the legalizer and the design-space weights."""

    # Design space (paper Sec. III-A)
    base_weight: float = _key(1.0, "Weight of every signal net.")
    critical_weight: float = _key(10.0, "Weight of a critical net that is raised in a placement's subset.")
    power_net_weight: float = _key(0.2, "Weight of supply nets (relative to base), as IdeaPlaceEx's 0.2.")
    include_bulk_pins: bool = _key(False, "Count bulk (B) pins in the wirelength (IdeaPlaceEx ignores them).")
    io_pins: bool = _key(True, "Ports as fixed pins on the outline, counted in the wirelength (MAGICAL's IO pins).")
    # Geometry
    grid_um: float = _key(0.05, "Placement grid (um); footprints are multiples of 2 grids so mirrors stay exact.")
    spacing_um: float = _key(0.2, "Minimum spacing between device outlines (um); a multiple of grid_um.")
    white_space: float = _key(0.5, "Target white-space ratio: outline area = device area * (1 + white_space).")
    aspect_ratio: float = _key(1.0, "Target outline height / width.")
    # Objective weights and schedule (start -> end, geometric over the iterations)
    iterations: int = _key(90, "Gradient steps of global placement.")
    lr_start: float = _key(0.05, "Adam step at the start, as a fraction of the outline's mean side.")
    lr_end: float = _key(0.003, "Adam step at the end, as a fraction of the outline's mean side.")
    gamma_start: float = _key(0.05, "Wirelength/overlap smoothing at the start, as a fraction of the outline side.")
    gamma_end: float = _key(0.01, "Smoothing at the end, as a fraction of the outline side.")
    overlap_start: float = _key(0.05, "Overlap penalty weight at the start (per um^2 of smoothed overlap).")
    overlap_end: float = _key(5.0, "Overlap penalty weight at the end.")
    symmetry_start: float = _key(0.05, "Symmetry penalty weight at the start (per um^2 of asymmetry).")
    symmetry_end: float = _key(20.0, "Symmetry penalty weight at the end.")
    boundary_weight: float = _key(1.0, "Weight a of the boundary term f_BND (fixed over the design space).")
    init_spread: float = _key(0.25, "Std of the initial positions around the centre, as a fraction of the side.")
    init_jitter: float = _key(
        0.0, "Extra per-placement std of the initial positions (fraction of side); 0 = weights are the only lever."
    )
    # Execution
    threads: int = _key(1, "torch threads per placing process (1 is fastest per core: the ops are small).")
    workers: int = _key(1, "Placing processes; chunks of batch_size run in parallel (use the core count).")
    batch_size: int = _key(1024, "Placements optimized together (rows of the B x N tensors).")
    device: str = _key("cpu", "torch device of global placement ('cpu' or 'cuda').")

    def __post_init__(self) -> None:
        positive = ("grid_um", "white_space", "aspect_ratio", "lr_start", "lr_end", "gamma_start", "gamma_end")
        for name in positive:
            if not getattr(self, name) > 0:
                raise InputError(name, f"must be > 0, got {getattr(self, name)}")
        for name in ("iterations", "threads", "workers", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(name, f"must be >= 1, got {getattr(self, name)}")
        steps = self.spacing_um / self.grid_um
        if self.spacing_um < 0 or abs(steps - round(steps)) > 1e-9:
            raise InputError("spacing_um", f"must be a non-negative multiple of grid_um={self.grid_um}")
        if self.base_weight <= 0 or self.critical_weight <= 0 or self.power_net_weight < 0:
            raise InputError("critical_weight", "net weights must be positive")

    @classmethod
    def describe(cls) -> dict[str, tuple[Any, str]]:
        """Key -> (default, description), for docs and --help."""
        out: dict[str, tuple[Any, str]] = {}
        for f in fields(cls):
            default = f.default if f.default is not MISSING else None
            out[f.name] = (default, str(f.metadata["description"]))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> PlacerConfig:
        known = {f.name: f for f in fields(cls)}
        for key, value in data.items():
            if key not in known:
                raise InputError(f"{source}.{key}", f"unknown placer parameter; known: {', '.join(known)}")
            expected = type(known[key].default)
            ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
            if not ok or (expected is not bool and isinstance(value, bool)):
                raise InputError(f"{source}.{key}", f"expected {expected.__name__}, got {value!r}")
        values: dict[str, Any] = {k: (float(v) if type(known[k].default) is float else v) for k, v in data.items()}
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path) -> PlacerConfig:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(str(p), f"cannot read placer config: {exc}") from exc
        if not isinstance(data, dict):
            raise InputError(str(p), "placer config must be a JSON object")
        return cls.from_dict(data, source=p.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
