"""The technology file: every layout-effect parameter with its equation, unit, default and description.

Users override any subset with `--tech FILE` (JSON: keys of `Tech`; unknown keys are an error naming the key).
The equations, applied per placement (x, y in um, device centre (xc, yc), layout bounding box centre (x0, y0)):

    routing     per net a rectilinear minimum spanning tree over its pin centres, rooted at the hub (the pin
                nearest the pins' centroid); pin k hangs on the hub through its own branch
                R_k = (wire_r_per_um * path_k + via_r) * (supply_r_scale on supply nets, else 1),
                C_k = wire_c_per_um * edge_k to ground (path_k: tree path hub -> k, edge_k: k's own tree edge)
    gradient    dVth = vth_grad_x * (xc - x0) + vth_grad_y * (yc - y0)              (|Vth| up for dVth > 0)
                beta *= 1 + beta_grad_x * (xc - x0) + beta_grad_y * (yc - y0)       (as W scaling)
    well prox.  dVth += wpe_dvth * exp(-d / wpe_decay_um),  d = distance of the device box to the layout edge
    spacing     dVth += spacing_dvth * exp(-s / spacing_decay_um),  s = gap to the nearest other device
                (only when s < spacing_max_um)

Magnitudes are placeholders of a generic 0.18 um-class process, tuned so that a 16k-placement design space
spans about 0.1-3 mV of offset (the range of the paper's Fig. 1); they are data, not physics constants.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from placeq.errors import InputError

_HERE = Path(__file__).resolve().parent
DEFAULT_TECH_FILE = _HERE / "tech_default.json"


def _key(default: Any, description: str) -> Any:
    return field(default=default, metadata={"description": description})


@dataclass(frozen=True)
class Tech:
    """Layout-effect parameters (see the module docstring for the equations)."""

    name: str = _key("placeq-generic-180", "Name recorded with every label.")
    wire_r_per_um: float = _key(0.8, "Routing resistance per um of wire (ohm/um).")
    wire_c_per_um: float = _key(0.15e-15, "Routing capacitance to ground per um of wire (F/um).")
    via_r: float = _key(2.0, "Contact/via resistance of every pin branch (ohm).")
    supply_r_scale: float = _key(0.1, "Factor on wire R of supply nets (power rails are wider).")
    vth_grad_x: float = _key(40e-6, "Systematic threshold gradient along x (V/um).")
    vth_grad_y: float = _key(15e-6, "Systematic threshold gradient along y (V/um).")
    beta_grad_x: float = _key(2e-4, "Relative current-factor gradient along x (1/um).")
    beta_grad_y: float = _key(1e-4, "Relative current-factor gradient along y (1/um).")
    wpe_dvth: float = _key(3e-3, "Well-proximity threshold shift at the layout edge (V).")
    wpe_decay_um: float = _key(2.0, "Decay length of the well-proximity shift (um).")
    spacing_dvth: float = _key(1e-3, "Threshold shift of a device abutting a neighbour (V).")
    spacing_decay_um: float = _key(0.5, "Decay length of the neighbour-spacing shift (um).")
    spacing_max_um: float = _key(5.0, "Neighbours farther than this have no spacing effect (um).")
    model_file: str = _key("models/bsim4.lib", "BSIM4 model cards (nch, pch); relative to the tech file.")
    temperature_c: float = _key(27.0, "Simulation temperature (C).")
    base_dir: str = _key(str(_HERE), "Directory `model_file` is relative to (set by `load_tech`).")

    def __post_init__(self) -> None:
        for name in ("wire_r_per_um", "wire_c_per_um", "via_r", "supply_r_scale", "wpe_decay_um",
                     "spacing_decay_um", "spacing_max_um"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or value != value:
                raise InputError(f"tech.{name}", f"must be a non-negative number, got {value!r}")
        for name in ("wpe_decay_um", "spacing_decay_um"):
            if getattr(self, name) == 0:
                raise InputError(f"tech.{name}", "must be positive")

    @property
    def model_path(self) -> Path:
        return (Path(self.base_dir) / self.model_file).resolve()

    def model_cards(self) -> str:
        """The model card text (inlined into every netlist so that it runs by hand anywhere)."""
        try:
            return self.model_path.read_text()
        except OSError as exc:
            raise InputError("tech.model_file", f"cannot read {self.model_path}: {exc.strerror}") from exc

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("base_dir")
        return data

    def content_hash(self) -> str:
        """sha256 over the parameters and the model card text (what a cached label depends on)."""
        payload = json.dumps(self.to_dict(), sort_keys=True) + self.model_cards()
        return hashlib.sha256(payload.encode()).hexdigest()

    @classmethod
    def describe(cls) -> dict[str, tuple[Any, str]]:
        """key -> (default, description), for docs and `--help`."""
        return {f.name: (f.default, f.metadata["description"]) for f in fields(cls) if f.name != "base_dir"}


def load_tech(path: str | Path | None = None) -> Tech:
    """The default technology, with the keys of the JSON file at `path` (if given) overriding it."""
    data = json.loads(DEFAULT_TECH_FILE.read_text())
    base = _HERE
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise InputError("tech", f"cannot read {p}: {exc.strerror}") from exc
        try:
            override = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}:{exc.lineno}", f"invalid JSON: {exc.msg}") from exc
        if not isinstance(override, dict):
            raise InputError(str(p), "a technology file is a JSON object")
        known = set(Tech.describe())
        for key in override:
            if key not in known:
                raise InputError(f"{p}: {key}", f"unknown technology key; known: {', '.join(sorted(known))}")
        data.update(override)
        if "model_file" in override:
            base = p.resolve().parent
    return Tech(**data, base_dir=str(base))
