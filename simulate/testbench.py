"""The measurement testbench around an OTA: one netlist gives both labels (offset from op, CMRR from AC).

Fully differential (two outputs): the inputs are driven from the common-mode source through ideal unity
feedback, V(INP) = Vcm + (V(OUTM) - V(OUTP))/2 and V(INM) = Vcm - (V(OUTM) - V(OUTP))/2. With open-loop gain A
the differential output settles at Vos * A / (1 + A), i.e. the input-referred offset (0.1% error at 60 dB), and
with the AC source on Vcm the differential output is A_cm->dm / (1 + A) = 1 / CMRR. Single-ended: the + input
sits at Vcm (AC 1), the - input follows the output through a 0 V source that also carries AC 1, so
offset = V(OUT) - V(INP) and CMRR = 1 / |v(OUT)| (the checked method of ../shared/notes/spice-feasibility.md).
Convention: OUTP rises with INP (for a single output, OUT rises with INP).
"""

from __future__ import annotations

from dataclasses import dataclass

from placeq.domain import Testbench
from placeq.errors import InputError

TOLERANCES = ".option reltol=1e-6 vntol=1e-10 abstol=1e-15"  # solver noise below 0.01 uV (notes, pitfall 8)
CM_NODE = "tb_cm"


@dataclass(frozen=True)
class TestbenchLines:
    """Netlist lines of the testbench, and the nodes that hold the measurement."""

    lines: tuple[str, ...]
    pos: str  # node whose voltage minus `neg` is the offset
    neg: str
    differential: bool
    rails: tuple[float, float]
    watch: tuple[str, ...]  # outputs and inputs: checked against the rails after every op


def testbench_lines(tb: Testbench, node: dict[str, str], temperature_c: float) -> TestbenchLines:
    """Sources, feedback, loads and options for `tb`; `node` maps circuit nets to netlist hub nodes."""
    if not tb.supplies:
        raise InputError("testbench.supplies", "at least one supply is needed")
    lines: list[str] = []
    for net, volts in tb.supplies.items():
        lines.append(f"VSUP_{node[net]} {node[net]} 0 DC {volts!r}")
    top = node[max(tb.supplies, key=lambda n: tb.supplies[n])]
    for net, volts in tb.bias_voltages.items():
        lines.append(f"VBIAS_{node[net]} {node[net]} 0 DC {volts!r}")
    for net, amps in tb.bias_currents.items():
        lines.append(f"IBIAS_{node[net]} {top} {node[net]} DC {amps!r}")
    inp, inm = node[tb.inputs[0]], node[tb.inputs[1]]
    differential = len(tb.outputs) == 2
    if differential:
        outp, outm = node[tb.outputs[0]], node[tb.outputs[-1]]
        lines += [
            f"VCM {CM_NODE} 0 DC {tb.common_mode!r} AC 1",
            f"EFBP {inp} {CM_NODE} {outm} {outp} 0.5",
            f"EFBM {inm} {CM_NODE} {outp} {outm} 0.5",
        ]
        pos, neg = outp, outm
    else:
        out = node[tb.outputs[0]]
        lines += [f"VCM {inp} 0 DC {tb.common_mode!r} AC 1", f"VFB {inm} {out} DC 0 AC 1"]
        pos, neg = out, inp
    if tb.load_cap > 0:
        for k, net in enumerate(tb.outputs):
            lines.append(f"CLOAD{k} {node[net]} 0 {tb.load_cap!r}")
    lines += [TOLERANCES, f".temp {temperature_c!r}"]
    rails = (min(tb.supplies.values()), max(tb.supplies.values()))
    watch = tuple(dict.fromkeys(node[n] for n in (*tb.outputs, *tb.inputs)))
    return TestbenchLines(lines=tuple(lines), pos=pos, neg=neg, differential=differential, rails=rails, watch=watch)


def control_block(pos: str, neg: str, differential: bool) -> str:
    """A `.control` block for running a written netlist by hand: `ngspice -b file.cir` prints both labels of
    that one simulation, and the complex common-mode gain (cm_re, cm_im) that the rms gradient label combines
    over a placement's three netlists (`simulate.label.combine_gradients`)."""
    cm = f"v({pos}) - v({neg})" if differential else f"v({pos})"
    return "\n".join([
        ".control",
        "set num_threads=1",
        "op",
        f"let offset_v = v({pos}) - v({neg})",
        "print offset_v",
        "ac lin 1 10 10",
        f"let cmrr_db = -20 * log10(mag({cm}))",
        "print cmrr_db",
        f"let cm_re = real({cm})",
        f"let cm_im = imag({cm})",
        "print cm_re cm_im",
        ".endc",
    ])


LOOP_FREQ_HZ = 1.0  # the loop gain is read here: below every OTA's dominant pole, so it is the DC gain
_LOOP_C = "1e9"  # farads: the feedback low-pass R = 1 ohm, C = 1 GF has its pole at 0.16 nHz


def loop_gain_lines(tb: Testbench, node: dict[str, str], temperature_c: float) -> TestbenchLines:
    """The labelling testbench with its feedback closed at DC and open at `LOOP_FREQ_HZ` (for `placeq check`).

    The feedback runs through a 1 ohm / 1 GF low-pass, so the op is exactly the labelling op, while at 1 Hz the
    loop is broken (attenuated by 1e-9) and an AC source drives the inputs differentially: v(pos) - v(neg) is then
    the open-loop gain A of the amplifier at its operating point. Its sign says whether the testbench's feedback is
    negative (A > 0: OUTP rises with INP) and its size whether the unity-feedback offset is meaningful
    (error 1/(1 + A)).
    """
    base = testbench_lines(tb, node, temperature_c)
    inp, inm = node[tb.inputs[0]], node[tb.inputs[1]]
    keep = [ln for ln in base.lines if not ln.startswith(("VCM ", "EFBP ", "EFBM ", "VFB "))]
    if base.differential:
        outp, outm = node[tb.outputs[0]], node[tb.outputs[-1]]
        feedback = [
            f"VCM {CM_NODE} 0 DC {tb.common_mode!r}",
            f"ETB_DIFF tb_fb 0 {outm} {outp} 1",
            "RTB_LP tb_fb tb_lp 1",
            f"CTB_LP tb_lp 0 {_LOOP_C}",
            f"VTB_ACP tb_acp {CM_NODE} DC 0 AC 0.5",
            f"VTB_ACM tb_acm {CM_NODE} DC 0 AC -0.5",
            f"EFBP {inp} tb_acp tb_lp 0 0.5",
            f"EFBM {inm} tb_acm tb_lp 0 -0.5",
        ]
    else:
        out = node[tb.outputs[0]]
        feedback = [  # a buffer first: the low-pass's 1 GF would short the output at 1 Hz
            f"VCM {inp} 0 DC {tb.common_mode!r} AC 1",
            f"ETB_BUF tb_buf 0 {out} 0 1",
            "RTB_LP tb_buf tb_lp 1",
            f"CTB_LP tb_lp 0 {_LOOP_C}",
            f"EFB {inm} 0 tb_lp 0 1",
        ]
    return TestbenchLines(lines=tuple(feedback + keep), pos=base.pos, neg=base.neg, differential=base.differential,
                          rails=base.rails, watch=base.watch)
