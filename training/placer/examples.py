"""A small hand-made circuit for tests, docs and benchmarks of the placer (no netlist reader needed).

A fully differential two-stage Miller OTA, 15 devices: NMOS input pair, PMOS loads, tail, PMOS second stage,
NMOS second-stage sinks, Miller caps with zero-nulling resistors, a bias mirror and a CMFB-ish sense pair.
Six matched pairs, one self-symmetric tail, five critical nets (32 placements in the full space).
"""

from __future__ import annotations

from placeq.domain import Circuit, Device, DeviceKind, Subcircuit, Testbench

N, P = DeviceKind.NMOS, DeviceKind.PMOS
FIRST, OTHER, FB, CMFB, BIAS = (Subcircuit.FIRST_STAGE, Subcircuit.OTHER_STAGE, Subcircuit.FEEDBACK,
                                Subcircuit.CMFB, Subcircuit.BIAS)


def _mos(name: str, kind: DeviceKind, d: str, g: str, s: str, w: float, l: float, nf: int,  # noqa: E741
         tag: Subcircuit, m: int = 1) -> Device:
    bulk = "VSS" if kind is N else "VDD"
    return Device(name=name, kind=kind, tags=(tag,), terminals={"D": d, "G": g, "S": s, "B": bulk},
                  w=w, l=l, nf=nf, m=m)


def two_stage_ota() -> Circuit:
    """The 15-device test OTA (see module docstring)."""
    devices = (
        _mos("M1", N, "X1", "INP", "TAIL", 8.0, 0.5, 4, FIRST),
        _mos("M2", N, "X2", "INM", "TAIL", 8.0, 0.5, 4, FIRST),
        _mos("M3", P, "X1", "VCMFB", "VDD", 6.0, 0.5, 3, FIRST),
        _mos("M4", P, "X2", "VCMFB", "VDD", 6.0, 0.5, 3, FIRST),
        _mos("M5", N, "TAIL", "VBN", "VSS", 12.0, 1.0, 4, FIRST),
        _mos("M6", P, "OUTM", "X1", "VDD", 16.0, 0.2, 8, OTHER),
        _mos("M7", P, "OUTP", "X2", "VDD", 16.0, 0.2, 8, OTHER),
        _mos("M8", N, "OUTM", "VBN", "VSS", 8.0, 0.5, 4, OTHER),
        _mos("M9", N, "OUTP", "VBN", "VSS", 8.0, 0.5, 4, OTHER),
        Device(name="C1", kind=DeviceKind.CAP, tags=(FB,), terminals={"PLUS": "X1", "MINUS": "Z1"}, value=200e-15),
        Device(name="C2", kind=DeviceKind.CAP, tags=(FB,), terminals={"PLUS": "X2", "MINUS": "Z2"}, value=200e-15),
        Device(name="R1", kind=DeviceKind.RES, tags=(FB,), terminals={"PLUS": "Z1", "MINUS": "OUTM", "B": "VSS"},
               value=4e3),
        Device(name="R2", kind=DeviceKind.RES, tags=(FB,), terminals={"PLUS": "Z2", "MINUS": "OUTP", "B": "VSS"},
               value=4e3),
        _mos("M10", N, "VBN", "VBN", "VSS", 4.0, 1.0, 2, BIAS),
        _mos("M11", P, "VCMFB", "VCMFB", "VDD", 4.0, 0.5, 2, CMFB),
    )
    return Circuit(
        name="ota_small",
        ports=("INP", "INM", "OUTP", "OUTM", "VBN", "VDD", "VSS"),
        devices=devices,
        symmetry_pairs=(("M1", "M2"), ("M3", "M4"), ("M6", "M7"), ("M8", "M9"), ("C1", "C2"), ("R1", "R2")),
        self_symmetric=("M5",),
        critical_nets=("X1", "X2", "OUTP", "TAIL", "Z1"),
        testbench=Testbench(metric="offset", inputs=("INP", "INM"), outputs=("OUTP", "OUTM"),
                            supplies={"VDD": 1.1, "VSS": 0.0}, common_mode=0.6, bias_currents={"VBN": 20e-6}),
        description="Fully differential two-stage Miller OTA used to test the placer.",
    )
