"""What a port's name says it is: supply, input, output, common-mode reference, bias (issue 12).

Flows name OTA ports in a handful of ways (MAGICAL-CIRCUITS: VIP/VIM, VOP/VOM, INP/INM, OUTP/OUTM, IBIAS, VCM,
VREF; ALIGN: vinp/vinn, voutp/voutn, vbias*; UT-AnLay: INP/INM, OUTP/OUTM, VBN1). The testbench draft and the
testbench reader both start from these rules, and `placeq check` catches a polarity they got wrong (the loop gain's
sign), so a guess here is never silently trusted.
"""

from __future__ import annotations

import re

_HIGH = re.compile(r"^(a|d)?v(dd|cc|pos)[a-z0-9_]*$|^vdd|^avdd|^dvdd", re.IGNORECASE)
_LOW = re.compile(r"^(a|d)?(vss|gnd|vee|vneg|0)[a-z0-9_!]*$|^gnd|^vss", re.IGNORECASE)
_IN_POS = re.compile(r"^(v?in_?p|vi_?p|in\+|inplus|vinp|ip|vp)$", re.IGNORECASE)
_IN_NEG = re.compile(r"^(v?in_?[mn]|vi_?[mn]|in-|inminus|vinn|vinm|im|vn)$", re.IGNORECASE)
_OUT_POS = re.compile(r"^(v?out_?p|vo_?p|out\+|op|voutp)$", re.IGNORECASE)
_OUT_NEG = re.compile(r"^(v?out_?[mn]|vo_?[mn]|out-|on|voutn|voutm)$", re.IGNORECASE)
_OUT_SINGLE = re.compile(r"^(v?out|vo)$", re.IGNORECASE)
_CM_REF = re.compile(r"^(v?cm|vcm_?(in|ref)?|v?ref|vref_?cm|vocm|cmref|cm)$", re.IGNORECASE)


def supply_level(port: str) -> str | None:
    """"high", "low" or None."""
    if _HIGH.search(port):
        return "high"
    if _LOW.search(port):
        return "low"
    return None


def is_input(name: str) -> bool:
    """Named like a differential input (either polarity)."""
    return bool(_IN_POS.match(name) or _IN_NEG.match(name))


def input_pair(ports: tuple[str, ...]) -> tuple[str, str] | None:
    """(positive, negative) inputs by name, or None when the names do not say."""
    pos = [p for p in ports if _IN_POS.match(p)]
    neg = [p for p in ports if _IN_NEG.match(p)]
    if len(pos) == 1 and len(neg) == 1:
        return pos[0], neg[0]
    return None


def output_ports(ports: tuple[str, ...]) -> tuple[str, str] | tuple[str] | None:
    """(positive, negative) outputs, or (single,), by name; None when the names do not say."""
    pos = [p for p in ports if _OUT_POS.match(p)]
    neg = [p for p in ports if _OUT_NEG.match(p)]
    if len(pos) == 1 and len(neg) == 1:
        return pos[0], neg[0]
    single = [p for p in ports if _OUT_SINGLE.match(p)]
    if len(single) == 1:
        return (single[0],)
    if len(pos) + len(neg) == 1:  # one output named with a polarity (ALIGN's voutp): single-ended
        return ((pos + neg)[0],)
    return None


def is_cm_reference(port: str) -> bool:
    """A common-mode reference input (VCM, VREF): held at the common-mode voltage unless told otherwise."""
    return bool(_CM_REF.match(port))
