"""Spectre statements: ``subckt NAME ports`` / ``ends [NAME]``, ``parameters``, ``model``, and instances
``name (nets) master key=value ...`` (parentheses optional), as Virtuoso writes them (UT-AnLay's netlists).

In Spectre the master, not the instance name, says what an instance is (``M0 ... nfet_ud``, ``C1 ... mom_cap``);
the builder infers the kind from it. Analyses and control statements (``tran tran stop=1u``,
``simOpts options ...``) are skipped.
"""

from __future__ import annotations

import re

from placeq.errors import NetlistError
from placeq.formats._tokens import Card, Line, Netlist, split_param, tokens

# Statements whose first word is a keyword and that carry no devices.
_KEYWORDS = frozenset(
    {"global", "include", "ahdl_include", "library", "endlibrary", "section", "endsection", "statistics",
     "save", "real", "ic", "nodeset", "export", "paramset", "{", "}", "process", "mismatch", "vary",
     "correlate", "truncate", "if", "else", "function", "return", "sens", "check", "assert"}
)  # fmt: skip
# Masters of analyses and control statements (``name master params``).
_ANALYSES = frozenset(
    {"options", "tran", "ac", "dc", "noise", "info", "alter", "altergroup", "sweep", "montecarlo", "set",
     "shell", "pz", "xf", "sp", "stb", "pss", "pac", "pnoise", "pxf", "psp", "hb", "hbac", "hbnoise", "envlp",
     "qpss", "qpac", "checklimit", "dcmatch", "reliability", "loadpull", "lss", "sens"}
)  # fmt: skip
_PAREN_INSTANCE = re.compile(r"^(\S+?)\s*\(([^)]*)\)\s*(.*)$")


def _split(toks: list[str], where: str) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    params: dict[str, str] = {}
    for tok in toks:
        kv = split_param(tok)
        if kv is None:
            if params:
                raise NetlistError(where, f"{tok!r} after parameters: nets and the master come before key=value")
            positional.append(tok)
        else:
            params[kv[0].lower()] = kv[1]
    return positional, params


def handle(line: Line, nl: Netlist, source: str) -> bool:
    """Record one logical Spectre line in `nl` (always True: Spectre has no ``.end``)."""
    where = f"{source}:{line.lineno}"
    text = line.text
    if (opened := text.count("(")) != (closed := text.count(")")):
        raise NetlistError(where, f"unbalanced parentheses: {opened} '(' and {closed} ')'")
    toks = tokens(text.replace("(", " ( ").replace(")", " ) "))
    if not toks:  # nothing but separators
        return True
    head = toks[0]
    if head == "inline" and len(toks) > 1 and toks[1] == "subckt":
        toks, head = toks[1:], "subckt"
    if head == "topckt":  # MAGICAL's flow netlists open the design's cell with `topckt` (a subckt to us)
        head = toks[0] = "subckt"
    if head == "subckt":
        names = [t for t in toks[1:] if t not in "()"]
        if not names:
            raise NetlistError(where, "subckt needs a name")
        nl.open_subckt(names[0], tuple(names[1:]), where)
        return True
    if head == "ends":
        nl.close_subckt(toks[1] if len(toks) > 1 else None, where)
        return True
    if head == "parameters":
        for tok in toks[1:]:
            kv = split_param(tok)
            if kv is None:
                raise NetlistError(where, f"parameters: expected name=value, got {tok!r}")
            nl.define(kv[0], kv[1], where, line.dialect)
        return True
    if head == "model":
        _model(toks, nl, where)
        return True
    if head in _KEYWORDS:
        return True
    m = _PAREN_INSTANCE.match(text)
    if m is not None:
        nets = tuple(tokens(m.group(2)))
        rest, params = _split(tokens(m.group(3)), where)
        if not rest:
            raise NetlistError(where, f"{m.group(1)}: no master (model) after the nets")
        if len(rest) > 1:
            raise NetlistError(where, f"{m.group(1)}: unexpected {rest[1]!r} after master {rest[0]!r}")
        name, master = m.group(1), rest[0]
    else:
        positional, params = _split(tokens(text), where)
        if len(positional) < 2 or positional[-1] in _ANALYSES:
            return True  # `tran tran stop=1u`, `opts options ...`: not a device
        name, nets, master = positional[0], tuple(positional[1:-1]), positional[-1]
    if master in _ANALYSES:
        return True
    nl.add(Card(name, nets, master, (), params, where, line.dialect))
    return True


def _model(toks: list[str], nl: Netlist, where: str) -> None:
    """``model NAME TYPE type=n|p ...``: remember NAME's device type so instances of it get a kind."""
    if len(toks) < 3:
        raise NetlistError(where, "model needs a name and a type")
    _, params = _split([t for t in toks[3:] if t not in ("{", "}", "(", ")")], where)
    polarity = params.get("type", "").lower()
    kind = {"n": "nmos", "p": "pmos"}.get(polarity, toks[2].lower())
    nl.models[toks[1].lower()] = kind
