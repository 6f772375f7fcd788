"""Post-layout SPICE netlists from placement arrays: a fixed template per design, only numbers change.

The template is built once from the circuit, the batch's pin structure and the technology; `layout_values`
computes every placement's numbers as arrays (wires, device shifts) and `render` formats one placement. Netlist
shape per device terminal: the terminal's node `p_<device>_<terminal>` hangs on its net's hub node through its
branch resistor (and capacitor), see `parasitics`. MOSFETs carry BSIM4's layout instance parameters (`sa`, `sb`,
`sd` for stress, `sc` for well proximity; the model cards turn them into shifts), and the process gradient as
`delvto` (threshold shift; ngspice adds it to vth0, so for PMOS the sign flips to raise |Vth|) and a W scaled by
the current-factor shift. A technology with an effect switched off (`Tech.effects`) leaves its parameters out.

Mode "dc" (the labelling default) routes only pins that carry DC current (MOS drain/source, resistor ends) and
leaves out wire capacitors: branches into gates and capacitor plates carry no DC current and femtofarads do
nothing at 10 Hz, so the op and the 10 Hz AC are unchanged (tests check it) while ngspice parses half the
elements. Mode "full" (what `--netlists` writes) has every branch's R and C.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import Circuit, DeviceKind
from placeq.errors import InputError, PlacementMismatch
from simulate.lde import FAR_UM, diffusion, gradient, well_distance
from simulate.parasitics import branch_rc
from simulate.techfile import Tech
from simulate.testbench import TestbenchLines, control_block, testbench_lines

Mode = Literal["dc", "full"]
_MOS = (DeviceKind.NMOS, DeviceKind.PMOS)


def _node_names(nets: list[str]) -> dict[str, str]:
    """Net -> ngspice node: lower case (ngspice folds case), [a-z0-9_] only, unique, never ground."""
    out: dict[str, str] = {}
    used: set[str] = {"0", "gnd"}
    for net in nets:
        base = re.sub(r"[^a-z0-9_]", "_", net.lower())
        if base[0].isdigit() or base in used:
            base = f"n_{base}"
        name, k = base, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        out[net] = name
    return out


@dataclass(frozen=True)
class LayoutValues:
    """The numbers of B placements: branch R/C per routed pin, dVth, W and well distance per device."""

    r: np.ndarray  # (B, Q) ohm
    c: np.ndarray  # (B, Q) F
    delvto: np.ndarray  # (B, N) V, ngspice sign convention
    w: np.ndarray  # (B, N) um (beta-scaled MOSFET width; unused for passives)
    sc: np.ndarray  # (B, N) um, BSIM4 distance to the well edge (written only when the template has `wpe`)

    def stack(self, *others: LayoutValues) -> LayoutValues:
        """Rows of self then of each of `others` (the gradient variants of one chunk, simulated together)."""
        parts = (self, *others)
        return LayoutValues(*(np.concatenate([getattr(v, f) for v in parts]) for f in ("r", "c", "delvto", "w",
                                                                                          "sc")))


@dataclass(frozen=True)
class NetlistTemplate:
    """Everything fixed for one design; picklable so workers receive it once per chunk."""

    design: str
    mode: Mode
    models: str
    head: tuple[str, ...]  # device lines split around their numbers: (N,) prefixes
    mid: tuple[str, ...]  # text between W and delvto (MOSFET) or "" (passive)
    is_mos: tuple[bool, ...]
    pin_lines: tuple[tuple[str, str, str], ...]  # (Q,) (R name, pin node, hub node)
    bench: TestbenchLines
    hubs: tuple[str, ...]  # hub node of every net, in circuit net order
    widths: tuple[float, ...]  # (N,) schematic MOSFET widths (um), 0 for passives
    via_r: float  # branch resistance of the nominal (wire-free) netlist
    wpe: bool = False  # MOSFET lines end in ` sc=<um>u`
    nodeset: str = ""

    def with_nodeset(self, volts: dict[str, float]) -> NetlistTemplate:
        """The same template with a `.nodeset` at the nominal operating point (fewer Newton steps, no gmin)."""
        text = ".nodeset " + " ".join(f"v({n})={v:.6g}" for n, v in volts.items())
        return replace(self, nodeset=text)

    def render(self, values: LayoutValues, i: int, title: str = "", control: bool = False) -> str:
        """The netlist of placement i (a string ngspice parses; with `control`, runnable by hand)."""
        w, dv, r, c, sc = values.w[i], values.delvto[i], values.r[i], values.c[i], values.sc[i]
        lines = [f"* placeq post-layout netlist: {self.design} {title}".rstrip(), self.models]
        for n in range(len(self.head)):
            if self.is_mos[n]:
                well = f" sc={sc[n]:.6g}u" if self.wpe else ""
                lines.append(f"{self.head[n]}{w[n]:.9g}u{self.mid[n]}{dv[n]:.9g}{well}")
            else:
                lines.append(self.head[n])
        full = self.mode == "full"
        for q, (name, pin, hub) in enumerate(self.pin_lines):
            lines.append(f"RW{name} {pin} {hub} {r[q]:.9g}")
            if full and c[q] > 0:
                lines.append(f"CW{name} {pin} 0 {c[q]:.9g}")
        lines.extend(self.bench.lines)
        if self.nodeset:
            lines.append(self.nodeset)
        if control:
            lines.append(control_block(self.bench.pos, self.bench.neg, self.bench.differential))
        lines.append(".end")
        return "\n".join(lines) + "\n"

    def line_renderer(self) -> Callable[[LayoutValues, int, str], list[bytes]]:
        """`render` for the shared library: placement i's netlist as the encoded non-blank lines ngspice reads.

        The same text as `render(values, i, title)` split into lines (tests compare them), but the fixed parts are
        encoded once per chunk instead of joined, split and encoded again per placement (issue 15: ~0.1 ms a label).
        """
        models = [ln.encode() for ln in self.models.splitlines() if ln.strip()]
        head = [h.encode() for h in self.head]
        mos = [(n, h, m) for n, (h, m, is_mos) in enumerate(zip(self.head, self.mid, self.is_mos, strict=True))
               if is_mos]
        pins = [(f"RW{name} {pin} {hub} ", f"CW{name} {pin} 0 ") for name, pin, hub in self.pin_lines]
        tail = [ln.encode() for ln in (*self.bench.lines, self.nodeset, ".end") if ln.strip()]
        full = self.mode == "full"
        wpe = self.wpe
        banner = f"* placeq post-layout netlist: {self.design} "

        def lines(values: LayoutValues, i: int, title: str = "") -> list[bytes]:
            w, dv, r = values.w[i].tolist(), values.delvto[i].tolist(), values.r[i].tolist()
            sc = values.sc[i].tolist()
            out = [(banner + title).rstrip().encode(), *models, *head]
            for n, h, m in mos:
                well = f" sc={sc[n]:.6g}u" if wpe else ""
                out[1 + len(models) + n] = f"{h}{w[n]:.9g}u{m}{dv[n]:.9g}{well}".encode()
            if full:
                c = values.c[i].tolist()
                for q, (rp, cp) in enumerate(pins):
                    out.append(f"{rp}{r[q]:.9g}".encode())
                    if c[q] > 0:
                        out.append(f"{cp}{c[q]:.9g}".encode())
            else:
                out += [f"{rp}{rq:.9g}".encode() for (rp, _), rq in zip(pins, r, strict=True)]
            out += tail
            return out

        return lines


@dataclass(frozen=True)
class _Routing:
    """Static routing plan: per net, the routed pins and where their coordinates come from."""

    nets: tuple[tuple[int, tuple[int, ...]], ...]  # (net index, routed pin ids)
    pin_source: np.ndarray  # (F,) index into batch pins, or -1: use the device centre
    pin_device: np.ndarray  # (F,) device index
    supply: np.ndarray  # (M,) bool: net is a supply
    emit: np.ndarray  # (Q,) which of the F routed pins get an element (all in "full" mode)


def _routed(kind: DeviceKind, terminal: str, mode: Mode) -> bool:
    if terminal == "B":
        return False  # wells and taps connect to the supply by their own rings
    if mode == "full":
        return True
    return (kind in _MOS and terminal in ("D", "S")) or kind is DeviceKind.RES


def build_template(circuit: Circuit, batch: PlacementBatch, tech: Tech, mode: Mode = "dc") -> tuple[
        NetlistTemplate, _Routing]:
    """The design's netlist template and routing plan (checks that the batch is a placement of `circuit`)."""
    if circuit.testbench is None:
        raise InputError("circuit.testbench", f"{circuit.name} has no testbench: nothing to measure")
    if batch.design != circuit.name:
        raise PlacementMismatch("design", f"placements are of {batch.design!r}, circuit is {circuit.name!r}")
    if tuple(batch.device_names) != tuple(d.name for d in circuit.devices):
        raise PlacementMismatch("devices", "placement devices differ from the circuit's (names or order)")
    nets = circuit.nets()
    node = _node_names(nets)
    net_index = {n: k for k, n in enumerate(nets)}
    batch_pin = {(int(d), t): k for k, (d, t) in enumerate(zip(batch.pin_device, batch.pin_terminal, strict=True))}
    head: list[str] = []
    mid: list[str] = []
    sa, sb, sd = diffusion()
    stress = f" sa={sa!r}u sb={sb!r}u sd={sd!r}u" if tech.on("lod") else ""
    pin_lines: list[tuple[str, str, str]] = []
    per_net: dict[int, list[int]] = {}
    source: list[int] = []
    owner: list[int] = []
    emit: list[int] = []
    for n, dev in enumerate(circuit.devices):
        term_node: dict[str, str] = {}
        for term, net in dev.terminals.items():
            term_node[term] = node[net]
            if not _routed(dev.kind, term, "full"):
                continue
            # the tree spans every pin of the net in both modes, so "dc" drops only current-free branches
            f = len(source)
            per_net.setdefault(net_index[net], []).append(f)
            source.append(batch_pin.get((n, term), -1))
            owner.append(n)
            if _routed(dev.kind, term, mode):
                pin = f"p_{node[net]}_{n}_{term.lower()}"
                pin_lines.append((f"{n}_{term.lower()}", pin, node[net]))
                emit.append(f)
                term_node[term] = pin
        t = term_node
        if dev.kind in _MOS:
            model = "nch" if dev.kind is DeviceKind.NMOS else "pch"
            head.append(f"M{n}_{dev.name} {t['D']} {t['G']} {t['S']} {t['B']} {model} W=")
            mid.append(f" L={dev.l!r}u nf={dev.nf} m={dev.m}{stress} delvto=")
        elif dev.kind is DeviceKind.CAP:
            head.append(f"C{n}_{dev.name} {t['PLUS']} {t['MINUS']} {dev.value or 100e-15!r}")
            mid.append("")
        else:
            head.append(f"R{n}_{dev.name} {t['PLUS']} {t['MINUS']} {dev.value or 5e3!r}")
            mid.append("")
    bench = testbench_lines(circuit.testbench, node, tech.temperature_c)
    supplies = set(circuit.testbench.supplies)
    template = NetlistTemplate(
        design=circuit.name, mode=mode, models=tech.model_cards().strip(), head=tuple(head), mid=tuple(mid),
        is_mos=tuple(d.kind in _MOS for d in circuit.devices), pin_lines=tuple(pin_lines), bench=bench,
        hubs=tuple(node[n] for n in nets), widths=tuple(d.w or 0.0 for d in circuit.devices), via_r=tech.via_r,
        wpe=tech.on("wpe"),
    )
    routing = _Routing(
        nets=tuple((k, tuple(qs)) for k, qs in per_net.items()),
        pin_source=np.array(source, dtype=np.int64), pin_device=np.array(owner, dtype=np.int64),
        supply=np.array([n in supplies for n in nets], dtype=bool), emit=np.array(emit, dtype=np.int64),
    )
    return template, routing


def layout_values(circuit: Circuit, batch: PlacementBatch, routing: _Routing, tech: Tech,
                  g_vth: tuple[float, float] = (0.0, 0.0), g_beta: tuple[float, float] = (0.0, 0.0)) -> LayoutValues:
    """All placements' numbers at once: (B, Q) branch R and C of the emitted pins, (B, N) delvto, W and sc, for
    the process gradient (g_vth in V/um, g_beta in 1/um; see `Tech.gradient_vectors`)."""
    boxes = batch.boxes  # (B, N, 4)
    b, q = boxes.shape[0], len(routing.pin_source)
    r, c = np.zeros((b, q)), np.zeros((b, q))
    wire_r, wire_c = (tech.wire_r_per_um, tech.wire_c_per_um) if tech.on("wires") else (0.0, 0.0)
    if wire_r or wire_c:
        centre = boxes[..., :2] + 0.5 * boxes[..., 2:]  # (B, N, 2)
        pin_centre = 0.5 * (batch.pin_boxes[..., :2] + batch.pin_boxes[..., 2:])  # (B, P, 2)
        src = routing.pin_source
        points = np.where((src >= 0)[None, :, None], pin_centre[:, np.maximum(src, 0)], centre[:, routing.pin_device])
        for net, qs in routing.nets:
            idx = np.array(qs)
            scale = tech.supply_r_scale if routing.supply[net] else 1.0
            r[:, idx], c[:, idx] = branch_rc(points[:, idx], wire_r, wire_c, tech.via_r, scale)
    else:  # no wires: every branch is its via (as `branch_rc` with zero wire gives)
        for net, qs in routing.nets:
            r[:, np.array(qs)] = tech.via_r * (tech.supply_r_scale if routing.supply[net] else 1.0)
    kinds = [d.kind for d in circuit.devices]
    if tech.on("wpe"):
        sc = well_distance(boxes, np.array([k is DeviceKind.PMOS for k in kinds]),
                           np.array([k is DeviceKind.NMOS for k in kinds]), tech.nwell_enclosure_um,
                           tech.nwell_space_um, tech.sc_floor_um)
    else:
        sc = np.zeros(boxes.shape[:2])
    delvto, w = _gradient_values(circuit, boxes, g_vth, g_beta)
    return LayoutValues(r=r[:, routing.emit], c=c[:, routing.emit], delvto=delvto, w=w, sc=sc)


def with_gradient(values: LayoutValues, circuit: Circuit, batch: PlacementBatch, g_vth: tuple[float, float],
                  g_beta: tuple[float, float]) -> LayoutValues:
    """`values` under another process gradient: only delvto and W depend on it (wires and wells do not)."""
    delvto, w = _gradient_values(circuit, batch.boxes, g_vth, g_beta)
    return replace(values, delvto=delvto, w=w)


def _gradient_values(circuit: Circuit, boxes: np.ndarray, g_vth: tuple[float, float],
                     g_beta: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(B, N) delvto in ngspice's sign convention and (B, N) beta-scaled W; passives get 0 and their W."""
    kinds = [d.kind for d in circuit.devices]
    is_mos = np.array([k in _MOS for k in kinds])
    dvth, beta = gradient(boxes, g_vth, g_beta)
    dvth, beta = np.where(is_mos[None, :], dvth, 0.0), np.where(is_mos[None, :], beta, 1.0)
    sign = np.array([-1.0 if k is DeviceKind.PMOS else 1.0 for k in kinds])
    width = np.array([d.w if d.w is not None else 0.0 for d in circuit.devices])
    return dvth * sign[None, :], width[None, :] * beta


def nominal_values(template: NetlistTemplate) -> LayoutValues:
    """Schematic numbers (vias only, no wires, no shifts) for the one-off nominal operating point."""
    q, n = len(template.pin_lines), len(template.head)
    return LayoutValues(r=np.full((1, q), max(template.via_r, 1e-3)), c=np.zeros((1, q)), delvto=np.zeros((1, n)),
                        w=np.array(template.widths, dtype=np.float64)[None, :], sc=np.full((1, n), FAR_UM))
