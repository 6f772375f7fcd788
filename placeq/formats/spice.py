"""SPICE (HSPICE / ngspice) statements: ``.subckt``/``.ends``, ``.model``, ``.param``, ``.option scale``, and
element cards, of which the builder keeps M, R, C (and X instances of PDK device cells). Other directives
(``.include``, ``.lib``, analyses, ``.measure``) are skipped: they carry nothing a placement needs.

Card shapes (ngspice manual ch. 3-4, HSPICE elements reference):
``Mname d g s b model w=.. l=.. nf=.. m=..``, ``Rname a b value|model [value] [r=..]``,
``Cname a b value|model [value] [c=..]``, ``Xname nets... master params``.
"""

from __future__ import annotations

from placeq.errors import NetlistError
from placeq.formats._tokens import Card, Line, Netlist, parse_number, split_param, tokens

# Element letters a schematic netlist of an OTA may hold; the builder keeps M, R, C and X.
ELEMENT_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def is_title(line: Line) -> bool:
    """SPICE's first line is the title unless it is a directive or an M/R/C/X card (start files with ``*``)."""
    return line.lineno == 1 and not line.text.startswith(".") and (line.text[:1].upper() or "*") not in "MRCX"


def _params(toks: list[str], start: int, where: str) -> tuple[list[str], dict[str, str]]:
    """Positional tokens, then ``key=value`` params (keys lower-cased); a positional after a param is an error."""
    positional: list[str] = []
    params: dict[str, str] = {}
    for tok in toks[start:]:
        kv = split_param(tok)
        if kv is None:
            if tok.lower() == "params:":
                continue
            if params:
                raise NetlistError(where, f"{tok!r} after parameters: nets and the model come before key=value")
            positional.append(tok.strip("()"))
        else:
            params[kv[0].lower().lstrip("(")] = kv[1].rstrip(")")
    return [p for p in positional if p], params


def handle(line: Line, nl: Netlist, source: str) -> bool:
    """Record one logical SPICE line in `nl`; False once ``.end`` is reached (the rest of the file is ignored)."""
    where = f"{source}:{line.lineno}"
    toks = tokens(line.text)
    if not toks:  # nothing but separators (a lone "\\" continuation, odd whitespace)
        return True
    head = toks[0].lower()
    if head.startswith("."):
        return _directive(head, toks, nl, where, line)
    letter = head[0].upper()
    if letter not in ELEMENT_LETTERS:
        raise NetlistError(where, f"cannot read {toks[0]!r}: not a SPICE element card or directive")
    positional, params = _params(toks, 1, where)
    values: tuple[str, ...] = ()
    if letter in "RC":
        if len(positional) < 2:
            raise NetlistError(where, f"{toks[0]}: a {'resistor' if letter == 'R' else 'capacitor'} needs 2 nets")
        nets, rest = tuple(positional[:2]), positional[2:]
        master = None
        for tok in rest:
            if _is_value(tok, nl):
                values += (tok,)
            elif master is None:
                master = tok
            else:
                raise NetlistError(where, f"{toks[0]}: unexpected {tok!r} after model {master!r}")
    elif letter in "MX":
        if len(positional) < 2:
            raise NetlistError(where, f"{toks[0]}: expected nets then a model name")
        nets, master = tuple(positional[:-1]), positional[-1]
    elif letter in "VI":  # Vname n+ n- [DC] value ...: two nets, then the source's values
        nets, master, values = tuple(positional[:2]), None, tuple(positional[2:])
    else:
        nets, master = tuple(positional), None
    nl.add(Card(toks[0], nets, master, values, params, where, line.dialect, letter))
    return True


def _is_value(tok: str, nl: Netlist) -> bool:
    if tok[0] in "'{\"" or parse_number(tok, "spice") is not None:
        return True
    return tok.lower() in nl.scope.values or tok.lower() in nl.subckt_params.get(nl.current or "", {})


def _directive(head: str, toks: list[str], nl: Netlist, where: str, line: Line) -> bool:
    if head == ".end":
        return False
    if head == ".subckt":
        if len(toks) < 2:
            raise NetlistError(where, ".subckt needs a name")
        ports, params = _params(toks, 2, where)
        nl.open_subckt(toks[1], tuple(ports), where)
        for key, value in params.items():
            nl.define(key, value, where, line.dialect)
    elif head == ".ends":
        nl.close_subckt(toks[1] if len(toks) > 1 else None, where)
    elif head == ".model":
        if len(toks) < 3:
            raise NetlistError(where, ".model needs a name and a type")
        nl.models[toks[1].lower()] = toks[2].split("(")[0].lower()
    elif head in (".param", ".params"):
        for tok in toks[1:]:
            kv = split_param(tok)
            if kv is None:
                raise NetlistError(where, f".param: expected name=value, got {tok!r}")
            nl.define(kv[0], kv[1], where, line.dialect)
    elif head in (".option", ".options", ".opt"):
        for tok in toks[1:]:
            kv = split_param(tok)
            if kv is not None and kv[0].lower() == "scale":
                nl.scale = nl.scope.evaluate(kv[1], where, "scale", line.dialect)
    # Other directives (.global, .include, .lib, analyses, .measure, ...) carry nothing a placement needs.
    return True
