"""Device footprints: a device's outline and pin shapes from its sizes, in device coordinates (um).

The placer needs a rectangle per device and a box per terminal; the netlists carry only sizes (w, l, nf, m or a
passive value). These rules are a plausible 40 nm-class stand-in (no PDK is public; MAGICAL ships fake numbers
too), deterministic, and every dimension is rounded UP to `SNAP_UM` (0.1 um) so that a device's half width lies
on the placer's 0.05 um grid and mirrored placements stay exact.

MOSFET (m rows of nf fingers; w is the total width over the nf fingers of one copy, finger width wf = w / nf):

    width  = 2*DIFF_END + nf*l + (nf+1)*SD_PITCH        (diffusion ends, gates, contacted source/drain strips)
    row    = wf + 2*POLY_EXT                            (one row of fingers with poly end-caps)
    height = MARGIN + TAP + GAP + STRAP + GAP + m*row + (m-1)*GAP + GAP + STRAP + GAP + STRAP + MARGIN

    bottom -> top:  B (substrate/well tap, full width) | S strap | m finger rows | D strap | G strap

CAP (MOM capacitor, CAP_DENSITY F/um^2): a square of the capacitor area plus a CAP_MARGIN ring; PLUS is a comb
bus along the left edge, MINUS along the right edge, B (the body or shield net of a three-terminal PDK cap) a
strip along the bottom between them. `value` None (UT-AnLay leaves passives unsized) means DEFAULT_CAP_F.

FinFET (`nfin` set): the drawn finger width is nfin * FIN_PITCH (the fins of one finger stacked at their pitch);
the electrical width w = nf * nfin * FIN_WEFF (2 * fin height + fin width) is what the importer stores.

RES (unsalicided poly, RES_SHEET ohm/square, RES_WIDTH wide): length = squares * RES_WIDTH, folded into
vertical segments of at most RES_SEGMENT_MAX um; PLUS head on top, MINUS head at the bottom, B (the well/body
the resistor sits on) a strip along the left edge. `value` None means DEFAULT_RES_OHM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from placeq.domain import Device, DeviceKind

SNAP_UM = 0.1  # every footprint dimension is a multiple of this (twice the placer grid)

# MOSFET rules (um)
SD_PITCH = 0.20  # contacted source/drain strip between gates (0.06 contact + 2 x 0.07 gate spacing)
DIFF_END = 0.10  # diffusion extension beyond the outer contact strips
POLY_EXT = 0.12  # poly end-cap beyond diffusion
TAP = 0.30  # substrate / n-well tap strip (bulk pin)
STRAP = 0.20  # metal-1 strap carrying a S, D or G pin
GAP = 0.10  # spacing between straps, taps and diffusion
MARGIN = 0.10  # keep-out ring (well enclosure share)
MIN_FINGER_W = 0.12  # smallest drawable finger width
# FinFET rules (ASAP7-like, the node of ALIGN's examples: fin pitch 27 nm, fin height 32 nm, fin width 6.5 nm)
FIN_PITCH = 0.027  # um between fins: a finger of nfin fins is nfin * FIN_PITCH tall
FIN_WEFF = 0.0705  # um of electrical width per fin (2 * 0.032 + 0.0065)
DEFAULT_L_UM = 0.04  # um, a MOSFET length when a netlist gives none and no other length (docs/formats.md)
DEFAULT_W_UM = 1.0  # um, a MOSFET width when the netlist names an undefined parameter and gives no other width

# Capacitor rules
CAP_DENSITY = 2.0e-15  # F / um^2 (stacked MOM)
CAP_MARGIN = 0.30  # um, ring around the array holding the comb buses
CAP_BUS = 0.20  # um, width of the PLUS / MINUS bus
DEFAULT_CAP_F = 100e-15  # F, used when a netlist leaves the capacitor unsized
MIN_CAP_SIDE = 1.0  # um

# Resistor rules
RES_SHEET = 400.0  # ohm / square (unsalicided p+ poly)
RES_WIDTH = 0.40  # um
RES_SPACE = 0.20  # um between folded segments
RES_SEGMENT_MAX = 10.0  # um, longest straight segment before folding
RES_HEAD = 0.30  # um, contact head at each end
DEFAULT_RES_OHM = 5.0e3  # ohm, used when a netlist leaves the resistor unsized
MIN_RES_LEN = 1.0  # um


@dataclass(frozen=True)
class Footprint:
    """A device outline w x h (um) and its pins as (x0, y0, x1, y1) boxes relative to the lower-left corner."""

    w: float
    h: float
    pins: dict[str, tuple[float, float, float, float]]


def _snap(v: float) -> float:
    """Round up to the SNAP_UM grid (in integer steps, so the result is exactly k * SNAP_UM as a float)."""
    return math.ceil(round(v / SNAP_UM, 9)) * SNAP_UM


def _r(v: float) -> float:
    return round(v, 6)


def _mos(device: Device) -> Footprint:
    if device.w is None or device.l is None:  # Device's validator forbids this; kept for type narrowing
        raise ValueError(f"{device.name}: MOSFET without w or l")
    nf, rows = device.nf, device.m
    drawn = device.nfin * FIN_PITCH if device.nfin is not None else device.w / nf
    wf = max(drawn, MIN_FINGER_W)
    w = _snap(2 * DIFF_END + nf * device.l + (nf + 1) * SD_PITCH + 2 * MARGIN)
    row = wf + 2 * POLY_EXT
    h = _snap(MARGIN + TAP + GAP + STRAP + GAP + rows * row + (rows - 1) * GAP + GAP + STRAP + GAP + STRAP + MARGIN)
    x0, x1 = MARGIN, w - MARGIN
    y = MARGIN
    pins: dict[str, tuple[float, float, float, float]] = {}
    pins["B"] = (_r(x0), _r(y), _r(x1), _r(y + TAP))
    y += TAP + GAP
    pins["S"] = (_r(x0), _r(y), _r(x1), _r(y + STRAP))
    y += STRAP + GAP + rows * row + (rows - 1) * GAP + GAP
    pins["D"] = (_r(x0), _r(y), _r(x1), _r(y + STRAP))
    y += STRAP + GAP
    pins["G"] = (_r(x0), _r(y), _r(x1), _r(y + STRAP))
    return Footprint(w=w, h=h, pins={t: pins[t] for t in device.terminals})


def _cap(device: Device) -> Footprint:
    value = device.value if device.value is not None else DEFAULT_CAP_F
    side = max(math.sqrt(value / CAP_DENSITY), MIN_CAP_SIDE)
    w = h = _snap(side + 2 * CAP_MARGIN)
    pins = {
        "PLUS": (0.05, 0.05, _r(0.05 + CAP_BUS), _r(h - 0.05)),
        "MINUS": (_r(w - 0.05 - CAP_BUS), 0.05, _r(w - 0.05), _r(h - 0.05)),
        "B": (_r(0.1 + CAP_BUS), 0.05, _r(w - 0.1 - CAP_BUS), _r(0.05 + CAP_BUS)),  # shield / substrate strip
    }
    return Footprint(w=w, h=h, pins={t: pins[t] for t in device.terminals if t in pins})


def _res(device: Device) -> Footprint:
    value = device.value if device.value is not None else DEFAULT_RES_OHM
    length = max(value / RES_SHEET * RES_WIDTH, MIN_RES_LEN)
    segments = math.ceil(length / RES_SEGMENT_MAX)
    seg_len = length / segments
    body_w = segments * RES_WIDTH + (segments - 1) * RES_SPACE
    bw = STRAP  # body strip on the left
    w = _snap(MARGIN + bw + GAP + body_w + MARGIN)
    h = _snap(MARGIN + RES_HEAD + seg_len + RES_HEAD + MARGIN)
    xb = MARGIN + bw + GAP
    pins = {
        "PLUS": (_r(xb), _r(h - MARGIN - RES_HEAD), _r(w - MARGIN), _r(h - MARGIN)),
        "MINUS": (_r(xb), _r(MARGIN), _r(w - MARGIN), _r(MARGIN + RES_HEAD)),
        "B": (_r(MARGIN), _r(MARGIN), _r(MARGIN + bw), _r(h - MARGIN)),
    }
    return Footprint(w=w, h=h, pins={t: pins[t] for t in device.terminals if t in pins})


def footprint(device: Device) -> Footprint:
    """The device's outline and pin boxes (device coordinates, um), by the rules in this module's docstring."""
    if device.kind in (DeviceKind.NMOS, DeviceKind.PMOS):
        return _mos(device)
    if device.kind is DeviceKind.CAP:
        return _cap(device)
    return _res(device)
