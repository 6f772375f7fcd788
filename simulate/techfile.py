"""The technology file: every layout-effect parameter with its equation, unit, default, source and description.

Users override any subset with `--tech FILE` (JSON: keys of `Tech`; unknown keys are an error naming the key).
What each placement changes (x, y in um; device centre (xc, yc), layout bounding box centre (x0, y0)):

    routing     per net a rectilinear minimum spanning tree over its pin centres, rooted at the hub (the pin
                nearest the pins' centroid); pin k hangs on the hub through its own branch
                R_k = (wire_r_per_um * path_k + via_r) * (supply_r_scale on supply nets, else 1),
                C_k = wire_c_per_um * edge_k to ground (path_k: tree path hub -> k, edge_k: k's own tree edge)
    gradient    dVth = gx * (xc - x0) + gy * (yc - y0)    beta *= 1 + (bx * (xc - x0) + by * (yc - y0))
                for a gradient vector g = (gx, gy) and (bx, by) = g * beta_grad / vth_grad. Pelgrom's distance term
                is statistical: two devices D apart differ by sigma = S_VT * D. So g is drawn per die with
                independent zero-mean components of standard deviation vth_grad = S_VT (a uniformly random
                direction). gradient_label "rms": the label is the rms of the metric over that distribution (three
                simulations a placement, exact for a metric linear in g); "fixed": one simulation at
                |g| = vth_grad along gradient_angle_deg.
    well prox.  BSIM4 instance `sc` = distance (um) from the active area to the nearest n-well edge; n-wells are
                the PMOS actives grown by nwell_enclosure_um, merged when closer than nwell_space_um; BSIM4's
                WPE model (wpemod=1, coefficients in the model cards) gives the threshold and mobility shifts
    stress      BSIM4 instance `sa`, `sb`, `sd` from the footprint; BSIM4's stress model (coefficients in the
                model cards) gives the mobility and threshold shifts

`effects` switches each of gradient, wpe, lod, wires off (what docs/simulator.md's variance shares use). The
magnitudes and their published sources are in docs/simulator.md ("Calibration") and beside each key below.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from placeq.errors import InputError

EFFECTS = ("gradient", "wpe", "lod", "wires")
GRADIENT_LABELS = ("rms", "fixed")
# keys of earlier technology files and what replaced them (an old --tech file gets a clear error, not a guess)
RENAMED = {
    "vth_grad_x": "vth_grad (per-axis standard deviation; the direction is now random, or gradient_angle_deg)",
    "vth_grad_y": "vth_grad (per-axis standard deviation; the direction is now random, or gradient_angle_deg)",
    "beta_grad_x": "beta_grad", "beta_grad_y": "beta_grad",
    "wpe_dvth": "the model cards' kvth0we (BSIM4 WPE through the instance parameter sc)",
    "wpe_decay_um": "the model cards' scref (BSIM4 WPE)",
    "spacing_dvth": "nothing: BSIM4 has no spacing term; stress enters through sa/sb/sd (effects: lod)",
    "spacing_decay_um": "nothing (see spacing_dvth)", "spacing_max_um": "nothing (see spacing_dvth)",
}

_HERE = Path(__file__).resolve().parent
DEFAULT_TECH_FILE = _HERE / "tech_default.json"


def _key(default: Any, description: str) -> Any:
    return field(default=default, metadata={"description": description})


@dataclass(frozen=True)
class Tech:
    """Layout-effect parameters (see the module docstring for the equations)."""

    name: str = _key("placeq-generic-calibrated", "Name recorded with every label.")
    wire_r_per_um: float = _key(1.8, "Routing resistance per um of wire (ohm/um): FreePDK45 metal2/3, 0.25 "
                                     "ohm/sq, at twice its 0.07 um minimum width.")
    wire_c_per_um: float = _key(0.1e-15, "Routing capacitance to ground per um of wire (F/um): Nangate45 metal3, "
                                         "0.105 fF/um (OpenROAD setRC).")
    via_r: float = _key(5.0, "Contact/via resistance of every pin branch (ohm): FreePDK45 via1-3, 5 ohm a cut.")
    supply_r_scale: float = _key(0.5, "Factor on wire R of supply nets: rails at ~4x minimum width (sky130 "
                                      "0.48 um rails on 0.14 um minimum) against signal wires at 2x.")
    vth_grad: float = _key(4e-6, "Threshold gradient, standard deviation per axis (V/um): Pelgrom's S_VT.")
    beta_grad: float = _key(2.7e-6, "Current-factor gradient, standard deviation per axis (1/um): S_VT scaled "
                                    "by Pelgrom's A_beta / A_VT (derived; no published S_beta found).")
    gradient_label: str = _key("rms", "'rms': label = rms of the metric over random gradient directions; "
                                      "'fixed': one gradient along gradient_angle_deg.")
    gradient_angle_deg: float = _key(0.0, "Gradient direction of the 'fixed' label (degrees from +x).")
    nwell_enclosure_um: float = _key(0.2, "N-well enclosure of a PMOS active area (um): MOSIS SCMOS deep "
                                          "rule 2.3, 6 lambda, at lambda = 0.033 um.")
    nwell_space_um: float = _key(0.2, "N-wells closer than this are drawn as one well (um): SCMOS deep rule "
                                      "1.3, wells at the same potential, 6 lambda.")
    sc_floor_um: float = _key(0.5, "Smallest `sc` passed to BSIM4 (um). BSIM4's SCA grows as 1 / sc; the "
                                   "published near-edge shifts (20-50 mV) are the largest we let it give, which "
                                   "the cards reach at 0.5 um.")
    effects: tuple[str, ...] = _key(EFFECTS, "Layout effects that are on (any of gradient, wpe, lod, wires).")
    model_file: str = _key("models/bsim4.lib", "BSIM4 model cards (nch, pch) with WPE and stress coefficients; "
                                               "relative to the tech file.")
    temperature_c: float = _key(27.0, "Simulation temperature (C).")
    base_dir: str = _key(str(_HERE), "Directory `model_file` is relative to (set by `load_tech`).")

    def __post_init__(self) -> None:
        for name in ("wire_r_per_um", "wire_c_per_um", "via_r", "supply_r_scale", "vth_grad", "beta_grad",
                     "nwell_enclosure_um", "nwell_space_um", "sc_floor_um"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or value != value:
                raise InputError(f"tech.{name}", f"must be a non-negative number, got {value!r}")
        if self.sc_floor_um == 0:
            raise InputError("tech.sc_floor_um", "must be positive (BSIM4's SCA grows as 1 / sc)")
        if self.gradient_label not in GRADIENT_LABELS:
            raise InputError("tech.gradient_label", f"must be one of {', '.join(GRADIENT_LABELS)}, "
                             f"got {self.gradient_label!r}")
        unknown = [e for e in self.effects if e not in EFFECTS]
        if unknown:
            raise InputError("tech.effects", f"unknown effect {unknown[0]!r}; known: {', '.join(EFFECTS)}")
        object.__setattr__(self, "effects", tuple(self.effects))

    def on(self, effect: str) -> bool:
        """Whether layout effect `effect` (one of EFFECTS) is simulated."""
        return effect in self.effects

    def gradient_vectors(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """The (threshold, current-factor) gradient vectors to simulate per placement: none when the gradient
        is off, [0, x, y] for the rms label (magnitude vth_grad along each axis), one for the fixed label."""
        if not self.on("gradient"):
            return [((0.0, 0.0), (0.0, 0.0))]
        ratio = self.beta_grad / self.vth_grad if self.vth_grad else 0.0
        if self.gradient_label == "fixed":
            a = math.radians(self.gradient_angle_deg)
            g = (self.vth_grad * math.cos(a), self.vth_grad * math.sin(a))
            return [(g, (g[0] * ratio, g[1] * ratio))]
        s = self.vth_grad
        return [((0.0, 0.0), (0.0, 0.0)), ((s, 0.0), (s * ratio, 0.0)), ((0.0, s), (0.0, s * ratio))]

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
        data["effects"] = list(self.effects)
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
            if key in RENAMED:
                raise InputError(f"{p}: {key}", f"no longer a technology key; replaced by {RENAMED[key]}")
            if key not in known:
                raise InputError(f"{p}: {key}", f"unknown technology key; known: {', '.join(sorted(known))}")
        data.update(override)
        if "model_file" in override:
            base = p.resolve().parent
    return Tech(**data, base_dir=str(base))
