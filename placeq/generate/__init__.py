"""A topology generator for the pretraining corpus (issue 14, part 1): OTAs composed of real building blocks,
sized for the generic 1.8 V BSIM4 cards (`simulate/models/bsim4.lib`), as complete `Circuit` objects.

Blocks (docs/corpus.md has the table and the sizing ranges):
- input pair: NMOS, or PMOS (the whole circuit mirrored: NMOS <-> PMOS, VSS <-> VDD, every bias voltage
  reflected, every bias current's sign flipped; a mirror image has the same feedback polarity);
- first stage: simple (pair + loads), telescopic cascode (pair, input-type cascodes, complementary cascodes and
  current sources), folded cascode (pair, complementary current sources at the fold, complementary cascodes,
  input-type cascodes and sinks);
- loads / output: fully differential with current-source loads under common-mode feedback, or resistive loads
  (simple first stage, two stages); single ended with a current-mirror load (simple) or a wide-swing cascode
  mirror (telescopic, folded);
- CMFB: resistive (two sense resistors whose midpoint drives the controlled current sources' gates, optionally with
  sense capacitors) or transistor (two differential pairs against `VREF`, the `VREF` side into a diode that the
  controlled current sources mirror);
- optional second stage: common source (the device type the first-stage output sits a Vgs away from) with a
  current-source load (CMFB again when fully differential), Miller compensation (capacitor, optionally with a
  nulling resistor);
- bias: diode-connected references fed by bias currents, either one reference current with mirror legs feeding
  the other references, or a testbench current per reference; cascode gates from long, high-overdrive diodes.

Sizing is square law with overdrives and lengths drawn from ranges; the voltage plan (where each cascode source
and fold node sits) follows from threshold, overdrive and body effect estimates. What BSIM4 says is then
`placeq check`'s job (`placeq generate-topologies` keeps only what it accepts). Everything is deterministic in
(seed, index): `generate(count, seed)` returns the same circuits on every machine.

This package is torch-free and imports nothing of ours but `placeq` (tests/test_architecture.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from placeq.domain import Circuit, Device, DeviceKind, Subcircuit, Testbench

VDD = 1.8
# Effective square-law constants of the generic cards (mu0 * Cox, with the mobility degradation and the footprint's
# STI stress folded in; fitted to the cards' operating points) and a threshold with the stress shift.
KP = {"NMOS": 300e-6, "PMOS": 90e-6}
# Threshold at Vsb = 0 (with the nominal placement's STI stress) rolls up at short L: VT_LONG + VT_SHORT / L (um).
VT_LONG = {"NMOS": 0.44, "PMOS": 0.45}
VT_SHORT = {"NMOS": 0.04, "PMOS": 0.03}
GAMMA = 0.22  # body-effect coefficient (V^0.5) for the voltage plan (fitted, like KP and the thresholds)
PHI = 0.8
MAX_CRITICAL = 14
MIN_CRITICAL = 10  # 2^10 = 1,024 net weightings at least
MIN_W_UM = 0.5
FINGER_UM = 4.0  # target finger width

InputType = Literal["nmos", "pmos"]
Stage1 = Literal["simple", "telescopic", "folded"]
Output = Literal["fd", "se"]
Load = Literal["active", "resistive", "mirror"]
Cmfb = Literal["R", "T", "none"]
BiasStyle = Literal["mirror", "ports"]
Metric = Literal["offset", "cmrr"]

STAGE1_ABBREV: dict[str, str] = {"simple": "sim", "telescopic": "tel", "folded": "fc"}


@dataclass(frozen=True)
class Topology:
    """The block choices of one generated OTA."""

    input: InputType
    stage1: Stage1
    output: Output
    load: Load
    cmfb: Cmfb
    stages: int

    @property
    def key(self) -> str:
        """A short family name: gen_<stage1>_<input>_<fd|se>[_resload]_[cmfbR|cmfbT]_<n>st."""
        parts = [STAGE1_ABBREV[self.stage1], self.input, self.output]
        if self.load == "resistive":
            parts.append("resload")
        if self.cmfb != "none":
            parts.append(f"cmfb{self.cmfb}")
        parts.append(f"{self.stages}st")
        return "_".join(parts)


def topologies() -> list[Topology]:
    """Every valid combination of blocks, in a fixed order (34: 17 per input type).

    Simple stages always get a second stage (a one-stage simple OTA has about 30 dB, below the check's 40 dB);
    resistive loads only in fully differential two-stage OTAs (the second stage's CMFB sets the output).
    """
    out: list[Topology] = []
    inputs: tuple[InputType, ...] = ("nmos", "pmos")
    kinds: tuple[Cmfb, ...] = ("R", "T")
    firsts: tuple[Stage1, ...] = ("telescopic", "folded")
    for inp_t in inputs:
        for c in kinds:
            out.append(Topology(inp_t, "simple", "fd", "active", c, 2))
            out.append(Topology(inp_t, "simple", "fd", "resistive", c, 2))
        out.append(Topology(inp_t, "simple", "se", "mirror", "none", 2))
        for s1 in firsts:
            for stages in (1, 2):
                for c2 in kinds:
                    out.append(Topology(inp_t, s1, "fd", "active", c2, stages))
                out.append(Topology(inp_t, s1, "se", "mirror", "none", stages))
    return out


# --- the builder: an abstract orientation ('n' = the input pair's type, rail LO = its source rail) ------------------


def _body(vsb: float) -> float:
    """The threshold's rise with source-bulk voltage (the plan's estimate)."""
    return GAMMA * (math.sqrt(PHI + max(vsb, 0.0)) - math.sqrt(PHI))


def _r(x: float, step: float = 0.1) -> float:
    return round(max(step, round(x / step) * step), 6)


class _Builder:
    def __init__(self, flip: bool) -> None:
        self.flip = flip
        self.devices: list[Device] = []
        self.pairs: list[tuple[str, str]] = []
        self.selfsym: list[str] = []
        self.sizes: dict[str, tuple[float, float]] = {}  # abstract W/L per device name (for mirrors)
        self.count = 0

    # nets: "LO"/"HI" rails, "{n}"/"{p}" in names become the actual type letter
    def net(self, name: str) -> str:
        n, p = ("P", "N") if self.flip else ("N", "P")
        if name == "LO":
            return "VDD" if self.flip else "VSS"
        if name == "HI":
            return "VSS" if self.flip else "VDD"
        if name == "SUB":
            return "VSS"
        return name.replace("{n}", n).replace("{p}", p)

    def kind(self, t: str) -> DeviceKind:
        actual = t if not self.flip else ("p" if t == "n" else "n")
        return DeviceKind.NMOS if actual == "n" else DeviceKind.PMOS

    def name(self, prefix: str = "M") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def size(self, t: str, current: float, vov: float, length: float) -> tuple[float, float]:
        """(w, l) in um for `current` (A) at overdrive `vov` (V): w = 2 I L / (k' vov^2), at least MIN_W_UM (the
        length grows instead)."""
        kp = KP[self.kind(t).value]
        w = 2 * current * length / (kp * vov * vov)
        if w < MIN_W_UM:
            length = length * MIN_W_UM / w
            w = MIN_W_UM
        return _r(w), _r(length, 0.05)

    def mos(self, t: str, d: str, g: str, s: str, wl: tuple[float, float], tag: Subcircuit | tuple[Subcircuit, ...],
            name: str | None = None) -> str:
        name = name or self.name()
        w, length = wl
        nf = max(1, round(w / FINGER_UM))
        kind = self.kind(t)
        tags = tag if isinstance(tag, tuple) else (tag,)
        bulk = "LO" if t == "n" else "HI"
        self.devices.append(Device(
            name=name, kind=kind, tags=tags, model="nch" if kind is DeviceKind.NMOS else "pch",
            terminals={"D": self.net(d), "G": self.net(g), "S": self.net(s), "B": self.net(bulk)},
            w=w, l=length, nf=nf))
        self.sizes[name] = (w, length)
        return name

    def res(self, a: str, b: str, value: float, tag: Subcircuit) -> str:
        name = self.name("R")
        self.devices.append(Device(name=name, kind=DeviceKind.RES, tags=(tag,),
                                   terminals={"PLUS": self.net(a), "MINUS": self.net(b), "B": "VSS"},
                                   value=float(f"{value:.3g}")))
        return name

    def cap(self, a: str, b: str, value: float, tag: Subcircuit) -> str:
        name = self.name("C")
        self.devices.append(Device(name=name, kind=DeviceKind.CAP, tags=(tag,),
                                   terminals={"PLUS": self.net(a), "MINUS": self.net(b)},
                                   value=float(f"{value:.3g}")))
        return name

    def pair(self, a: str, b: str) -> None:
        self.pairs.append((a, b))


def _other(t: str) -> str:
    return "p" if t == "n" else "n"


@dataclass
class _Plan:
    """Drawn sizes and currents of one candidate (abstract orientation)."""

    iref: float
    i_tail: float
    vov_in: float
    vov_src: dict[str, float]
    vov_cas: dict[str, float]
    l_in: float
    l_src: dict[str, float]
    l_cas: float
    margin: float
    kinds: dict[str, str]  # abstract type -> "NMOS" / "PMOS"

    def vt(self, t: str, length: float, vsb: float = 0.0) -> float:
        k = self.kinds[t]
        return VT_LONG[k] + VT_SHORT[k] / length + _body(vsb)

    def vgs(self, t: str, vov: float, length: float, vsb: float = 0.0) -> float:
        return self.vt(t, length, vsb) + vov


def _draw_plan(rng: random.Random, b: _Builder) -> _Plan:
    iref = rng.choice((10e-6, 15e-6, 20e-6, 25e-6, 30e-6))
    return _Plan(
        iref=iref,
        i_tail=iref * rng.choice((2.0, 2.5, 3.0, 4.0)),
        vov_in=rng.uniform(0.08, 0.15),
        vov_src={"n": rng.uniform(0.15, 0.22), "p": rng.uniform(0.15, 0.22)},
        vov_cas={"n": rng.uniform(0.10, 0.16), "p": rng.uniform(0.10, 0.16)},
        l_in=rng.choice((0.3, 0.5, 0.5, 1.0)),
        l_src={"n": rng.choice((0.5, 1.0, 1.0, 2.0)), "p": rng.choice((0.5, 1.0, 1.0, 2.0))},
        l_cas=rng.choice((0.3, 0.5)),
        margin=rng.uniform(0.15, 0.22),
        kinds={t: b.kind(t).value for t in ("n", "p")},
    )


class _Bias:
    """The bias network: diode references made on demand, each fed by a mirror leg or its own testbench current."""

    def __init__(self, b: _Builder, plan: _Plan, style: BiasStyle) -> None:
        self.b, self.plan, self.style = b, plan, style
        self.currents: dict[str, float] = {}  # abstract net -> abstract current (+: into the net from HI)
        self.made: set[str] = set()
        self.diode: dict[str, tuple[float, float, float]] = {}  # net -> (w, l, current) of its diode

    def source_gate(self, t: str) -> str:
        """The gate net of type-t current sources ("VB{n}" / "VB{p}"), made on first use."""
        net = f"VB{{{t}}}"
        if net not in self.made:
            self.made.add(net)
            i = self.plan.iref
            wl = self.b.size(t, i, self.plan.vov_src[t], self.plan.l_src[t])
            self.b.mos(t, net, net, "LO" if t == "n" else "HI", wl, Subcircuit.BIAS)
            self.diode[net] = (*wl, i)
            self.feed(net, t, i, master=t == "n")
        return net

    def feed(self, net: str, t: str, current: float, master: bool = False) -> None:
        """Feed a type-t diode at `net`: a testbench current, or a leg of the other type mirroring its reference."""
        if master or self.style == "ports":
            self.currents[net] = current if t == "n" else -current
            return
        o = _other(t)
        gate = self.source_gate(o)
        self.b.mos(o, net, gate, "LO" if o == "n" else "HI", self.mirror(gate, current), Subcircuit.BIAS)

    def mirror(self, gate: str, current: float) -> tuple[float, float]:
        """(w, l) of a current source on `gate` carrying `current`: the reference's W scaled, its L kept."""
        w, length, i = self.diode[gate]
        return _r(w * current / i), length

    def cascode_gate(self, t: str, source_v: float, cascode: tuple[float, float], current: float) -> str:
        """The gate of type-t cascodes (`cascode` = their (w, l), each carrying `current`) that puts their sources
        `source_v` from the rail: a diode-connected replica of the cascode at the same current density on a resistor
        of `source_v` / I from the rail (the replica's source sits where the cascodes' sources should, so threshold,
        short-channel roll-up and body effect cancel)."""
        net = f"VBC{{{t}}}"
        if net in self.made:
            return net
        self.made.add(net)
        rail = "LO" if t == "n" else "HI"
        i = self.plan.iref / 2
        src = f"VBC{{{t}}}S"
        self.b.res(rail, src, source_v / i, Subcircuit.BIAS)
        self.b.mos(t, net, net, src, (_r(cascode[0] * i / current), cascode[1]), Subcircuit.BIAS)
        self.feed(net, t, i)
        return net


@dataclass(frozen=True)
class Generated:
    """One candidate: its circuit, its block choices and the drawn parameters (for the docs' table)."""

    circuit: Circuit
    topology: Topology
    params: dict[str, float | str]


def _level(t: str, plan: _Plan) -> float:
    """Where a self-biased type-t current source's gate (a diode-like CMFB or mirror node) sits, from LO."""
    vgs = plan.vgs(t, plan.vov_src[t], plan.l_src[t])
    return vgs if t == "n" else VDD - vgs


def build(topo: Topology, rng: random.Random, name: str, metric: Metric) -> Generated:
    """Draw sizes for `topo` and build its circuit (abstract orientation, mirrored for a PMOS input pair)."""
    b = _Builder(flip=topo.input == "pmos")
    plan = _draw_plan(rng, b)
    bias = _Bias(b, plan, rng.choice(("mirror", "ports")))
    fs, os_, fb, cm_tag = Subcircuit.FIRST_STAGE, Subcircuit.OTHER_STAGE, Subcircuit.FEEDBACK, Subcircuit.CMFB
    fd = topo.output == "fd"
    two = topo.stages == 2
    critical: list[str] = ["INP", "INM", "TAIL"]
    bias_voltages: dict[str, float] = {}
    params: dict[str, float | str] = {"iref_uA": plan.iref * 1e6, "i_tail_uA": plan.i_tail * 1e6,
                                      "bias": bias.style}

    # Output nets of the first stage: M1's side is the minus side (M1's drain falls when INP rises).
    if fd:
        o1m, o1p = ("O1M", "O1P") if two else ("OUTM", "OUTP")
    else:  # single ended: the mirror's diode on M1's side for one stage, on M2's side for two (the CS inverts)
        out1 = "O1" if two else "OUT"
        o1m, o1p = ("XD", out1) if not two else (out1, "XD")
    ctrl_gate = "VC1" if topo.cmfb == "R" else "VCMFB1" if topo.cmfb == "T" else "XD"
    half = plan.i_tail / 2

    # --- first stage ---------------------------------------------------------------------------------------------
    tail_gate = bias.source_gate("n")
    tail = b.mos("n", "TAIL", tail_gate, "LO", bias.mirror(tail_gate, plan.i_tail), fs)
    b.selfsym.append(tail)
    pair_wl = b.size("n", half, plan.vov_in, plan.l_in)
    tail_v = plan.vov_src["n"] + plan.margin  # the tail's |Vds|, from which the input common mode follows
    cm = tail_v + plan.vgs("n", plan.vov_in, plan.l_in, tail_v)
    ctrl_t: str  # type of the devices the CMFB (or the mirror) controls; the first-stage output sits a Vgs off them
    ctrl_i: float
    ctrl_wl: tuple[float, float]
    if topo.stage1 == "simple":
        d1, d2 = o1m, o1p
        m1 = b.mos("n", d1, "INP", "TAIL", pair_wl, fs)
        m2 = b.mos("n", d2, "INM", "TAIL", pair_wl, fs)
        b.pair(m1, m2)
        if topo.load == "resistive":
            drop = rng.uniform(0.62, 0.75)
            rl = drop / half
            params["r_load_kohm"] = round(rl / 1e3, 1)
            b.pair(b.res("HI", o1m, rl, fs), b.res("HI", o1p, rl, fs))
            ctrl_t, ctrl_i, ctrl_wl = "p", half, (0.0, 0.0)
            o1_level = VDD - drop
        else:
            ctrl_t, ctrl_i = "p", half
            ctrl_wl = b.size("p", half, plan.vov_src["p"], plan.l_src["p"])
            b.pair(b.mos("p", o1m, ctrl_gate, "HI", ctrl_wl, fs), b.mos("p", o1p, ctrl_gate, "HI", ctrl_wl, fs))
            o1_level = _level("p", plan)
        critical += [o1m, o1p]
    elif topo.stage1 == "telescopic":
        # outputs sit a source Vgs below HI (the CMFB's or mirror's level): the top sources' |Vds| halfway
        # between their Vdsat and that Vgs less the cascode's Vdsat; the pair's drains halfway up to the outputs
        o1_level = _level("p", plan)
        pc_drop = (2 * plan.vov_src["p"] + plan.vt("p", plan.l_src["p"]) - plan.vov_cas["p"]) / 2
        s1 = (tail_v + plan.vov_in + o1_level - plan.vov_cas["n"]) / 2
        ncas = b.size("n", half, plan.vov_cas["n"], plan.l_cas)
        pcas = b.size("p", half, plan.vov_cas["p"], plan.l_cas)
        vbcn = bias.cascode_gate("n", s1, ncas, half)
        vbcp = bias.cascode_gate("p", pc_drop, pcas, half)
        m1 = b.mos("n", "S1M", "INP", "TAIL", pair_wl, fs)
        m2 = b.mos("n", "S1P", "INM", "TAIL", pair_wl, fs)
        b.pair(m1, m2)
        b.pair(b.mos("n", o1m, vbcn, "S1M", ncas, fs), b.mos("n", o1p, vbcn, "S1P", ncas, fs))
        b.pair(b.mos("p", o1m, vbcp, "PCM", pcas, fs), b.mos("p", o1p, vbcp, "PCP", pcas, fs))
        ctrl_t, ctrl_i = "p", half
        ctrl_wl = b.size("p", half, plan.vov_src["p"], plan.l_src["p"])
        b.pair(b.mos("p", "PCM", ctrl_gate, "HI", ctrl_wl, fs), b.mos("p", "PCP", ctrl_gate, "HI", ctrl_wl, fs))
        critical += ["S1M", "S1P", o1m, o1p, "PCM", "PCP"]
    else:  # folded cascode
        i_top = plan.i_tail * rng.uniform(0.8, 1.2)
        i_br = i_top - half
        params["i_fold_uA"] = round(i_top * 1e6, 2)
        # outputs sit a sink Vgs above LO: the sinks' Vds halfway between their Vdsat and that Vgs less the
        # cascode's Vdsat; the fold nodes' |Vds| well above the top sources' Vdsat
        o1_level = _level("n", plan)
        f_drop = plan.vov_src["p"] + 0.22
        ns = (2 * plan.vov_src["n"] + plan.vt("n", plan.l_src["n"]) - plan.vov_cas["n"]) / 2
        pcas = b.size("p", i_br, plan.vov_cas["p"], plan.l_cas)
        ncas = b.size("n", i_br, plan.vov_cas["n"], plan.l_cas)
        vbcp = bias.cascode_gate("p", f_drop, pcas, i_br)
        vbcn = bias.cascode_gate("n", ns, ncas, i_br)
        m1 = b.mos("n", "FM", "INP", "TAIL", pair_wl, fs)
        m2 = b.mos("n", "FP", "INM", "TAIL", pair_wl, fs)
        b.pair(m1, m2)
        top_gate = bias.source_gate("p")
        top = bias.mirror(top_gate, i_top)
        b.pair(b.mos("p", "FM", top_gate, "HI", top, fs), b.mos("p", "FP", top_gate, "HI", top, fs))
        b.pair(b.mos("p", o1m, vbcp, "FM", pcas, fs), b.mos("p", o1p, vbcp, "FP", pcas, fs))
        b.pair(b.mos("n", o1m, vbcn, "NSM", ncas, fs), b.mos("n", o1p, vbcn, "NSP", ncas, fs))
        ctrl_t, ctrl_i = "n", i_br
        ctrl_wl = b.size("n", i_br, plan.vov_src["n"], plan.l_src["n"])
        b.pair(b.mos("n", "NSM", ctrl_gate, "LO", ctrl_wl, fs), b.mos("n", "NSP", ctrl_gate, "LO", ctrl_wl, fs))
        critical += ["FM", "FP", o1m, o1p, "NSM", "NSP"]

    # --- CMFB of the first stage ---------------------------------------------------------------------------------
    def cmfb(kind: Cmfb, a: str, c: str, gate: str, t: str, wl: tuple[float, float], i_each: float, level: float,
             tag: int) -> None:
        if kind == "R":
            r = rng.choice((150e3, 200e3, 300e3)) if two or tag == 2 else rng.choice((400e3, 500e3))
            b.pair(b.res(a, gate, r, cm_tag), b.res(c, gate, r, cm_tag))
            if rng.random() < 0.5:
                b.pair(b.cap(a, gate, 50e-15, cm_tag), b.cap(c, gate, 50e-15, cm_tag))
            critical.append(gate)
            params[f"cmfb{tag}_r_kohm"] = r / 1e3
            return
        # transistor CMFB: sense pairs of the other type against VREF; the VREF side feeds the diode at `gate`
        s = _other(t)
        vref = f"VREF{tag}"
        bias_voltages[vref] = level
        i_t = plan.iref
        sense_gate = bias.source_gate(s)
        srail = "LO" if s == "n" else "HI"
        dump = f"ND{tag}"
        sense = b.size(s, i_t / 2, 0.15, 0.5)
        cs_a, cs_b = f"CSA{tag}", f"CSB{tag}"
        b.pair(b.mos(s, cs_a, sense_gate, srail, bias.mirror(sense_gate, i_t), cm_tag),
               b.mos(s, cs_b, sense_gate, srail, bias.mirror(sense_gate, i_t), cm_tag))
        b.pair(b.mos(s, dump, a, cs_a, sense, cm_tag), b.mos(s, dump, c, cs_b, sense, cm_tag))
        b.pair(b.mos(s, gate, vref, cs_a, sense, cm_tag), b.mos(s, gate, vref, cs_b, sense, cm_tag))
        drail = "LO" if t == "n" else "HI"
        diode = (_r(wl[0] * i_t / i_each), wl[1])
        b.pair(b.mos(t, gate, gate, drail, diode, cm_tag), b.mos(t, dump, dump, drail, diode, cm_tag))
        critical.extend([gate, dump, cs_a, cs_b])

    if fd and topo.load != "resistive":
        cmfb(topo.cmfb, o1m, o1p, ctrl_gate, ctrl_t, ctrl_wl, ctrl_i, o1_level, 1)

    # --- second stage --------------------------------------------------------------------------------------------
    outputs: tuple[str, str] | tuple[str]
    if two:
        c = ctrl_t  # the CS device: the type the first-stage output sits a Vgs away from
        lt = _other(c)
        i2 = half * rng.choice((1.0, 1.5, 2.0, 3.0))
        params["i2_uA"] = round(i2 * 1e6, 2)
        if topo.load == "resistive":
            cs_wl = b.size(c, i2, max(VDD - o1_level - plan.vt(c, plan.l_src[c]), 0.1), plan.l_src[c])
        else:
            cs_wl = (_r(ctrl_wl[0] * i2 / ctrl_i), ctrl_wl[1])
        crail = "LO" if c == "n" else "HI"
        lrail = "LO" if lt == "n" else "HI"
        cc = rng.choice((0.3e-12, 0.5e-12, 0.8e-12))
        # a nulling resistor in 60% (always in the 9-device single-ended simple OTA: its Z node is the tenth
        # critical net)
        nulling = rng.random() < 0.6 or (topo.stage1 == "simple" and not fd)
        params["cc_pF"] = cc * 1e12
        params["rz_kohm"] = 0.0
        rz = rng.choice((1e3, 2e3, 3e3, 5e3))
        if nulling:
            params["rz_kohm"] = rz / 1e3

        def miller(o1: str, out: str, z: str) -> tuple[str, str | None]:
            if nulling:
                return b.cap(o1, z, cc, fb), b.res(z, out, rz, fb)
            return b.cap(o1, out, cc, fb), None

        if fd:
            load_gate = "VC2" if topo.cmfb == "R" else "VCMFB2"
            b.pair(b.mos(c, "OUTP", o1m, crail, cs_wl, os_), b.mos(c, "OUTM", o1p, crail, cs_wl, os_))
            load_wl = b.size(lt, i2, plan.vov_src[lt], plan.l_src[lt])
            b.pair(b.mos(lt, "OUTP", load_gate, lrail, load_wl, os_), b.mos(lt, "OUTM", load_gate, lrail, load_wl, os_))
            ca, ra = miller(o1m, "OUTP", "ZP")
            cb, rb = miller(o1p, "OUTM", "ZM")
            b.pair(ca, cb)
            if ra and rb:
                b.pair(ra, rb)
            critical += ["OUTP", "OUTM"] + (["ZP", "ZM"] if nulling else [])
            level2 = 0.9 if topo.cmfb == "T" else _level(lt, plan)
            cmfb(topo.cmfb, "OUTP", "OUTM", load_gate, lt, load_wl, i2, level2, 2)
            outputs = ("OUTP", "OUTM")
        else:
            b.mos(c, "OUT", o1m, crail, cs_wl, os_)
            load_gate = bias.source_gate(lt)
            b.mos(lt, "OUT", load_gate, lrail, bias.mirror(load_gate, i2), os_)
            miller(o1m, "OUT", "Z")
            critical += ["OUT"] + (["Z"] if nulling else [])
            outputs = ("OUT",)
    else:
        outputs = (o1p, o1m) if fd else (o1p,)

    # --- testbench, names ----------------------------------------------------------------------------------------
    flip = b.flip

    def refl(v: float) -> float:
        return VDD - v if flip else v

    for net in ("VB{n}", "VB{p}", "VBC{n}", "VBC{p}", "XD"):
        if net in bias.made or (net == "XD" and not fd):
            critical.append(net)
    critical += [v for v in bias_voltages if v not in critical]
    nets = set().union(*({*d.terminals.values()} for d in b.devices))
    crit = [b.net(n) for n in dict.fromkeys(critical) if b.net(n) in nets][:MAX_CRITICAL]
    if len(crit) < MIN_CRITICAL:  # a small OTA: the rails too, so that its space holds 2^10 weightings
        crit += [r for r in (b.net("HI"), b.net("LO")) if r not in crit][: MIN_CRITICAL - len(crit)]
    currents = {b.net(n): (-i if flip else i) for n, i in bias.currents.items()}
    voltages = {b.net(n): round(refl(v), 3) for n, v in bias_voltages.items()}
    cm = round(refl(cm), 3)
    params["cm_V"] = cm
    tb = Testbench(metric=metric, inputs=("INP", "INM"), outputs=outputs, supplies={"VDD": VDD, "VSS": 0.0},
                   common_mode=cm, bias_voltages=voltages, bias_currents=currents)
    ports = ["INP", "INM", *outputs, *currents, *voltages, "VDD", "VSS"]
    loads = {"active": "current-source loads", "resistive": "resistive loads", "mirror": "mirror load"}
    describe = (f"Generated OTA ({topo.key}): {topo.input.upper()} input pair, {topo.stage1} first stage, "
                f"{'fully differential' if fd else 'single ended'} with {loads[topo.load]}"
                f"{'' if topo.cmfb == 'none' else f', {topo.cmfb}-CMFB'}"
                f"{', common-source second stage with Miller compensation' if two else ''}; {bias.style} bias. "
                f"Metric: {metric}.")
    circuit = Circuit(name=name, ports=tuple(dict.fromkeys(ports)), devices=tuple(b.devices),
                      symmetry_pairs=tuple(b.pairs), self_symmetric=tuple(b.selfsym), critical_nets=tuple(crit),
                      testbench=tb, provenance={"tags": "given", "symmetry": "given", "critical_nets": "given",
                                                "testbench": "given"},
                      description=describe)
    return Generated(circuit=circuit, topology=topo, params=params)


def candidate(seed: int, index: int) -> Generated:
    """Candidate `index` of the sequence `seed`: topologies cycle through a seeded shuffle of `topologies()` (so a
    run of 34 covers each once), the metric alternates (offset, cmrr, ...), the sizes are drawn from (seed, index)."""
    order = topologies()
    random.Random(seed).shuffle(order)
    topo = order[index % len(order)]
    metric: Metric = "offset" if index % 2 == 0 else "cmrr"
    rng = random.Random(seed * 1_000_003 + index)
    return build(topo, rng, f"gen_{topo.key}_{index:03d}", metric)


def generate(count: int, seed: int = 0) -> list[Generated]:
    """The first `count` candidates of the sequence `seed` (deterministic)."""
    return [candidate(seed, i) for i in range(count)]
