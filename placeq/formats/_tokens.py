"""Shared lexing for SPICE and Spectre: logical lines, tokens, SI-suffixed numbers and parameter expressions.

Both dialects meet in one file more often than not (Spectre reads `.sp` files; Cadence netlists switch with
``simulator lang=``), so lines are joined and comments stripped here, one dialect at a time, and the card
parsers in `spice` and `spectre` only see clean logical lines.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from placeq.errors import NetlistError

Dialect = Literal["spice", "spectre"]


class UnknownParameter(NetlistError):
    """An expression names a parameter nobody defined (``w=w0`` without ``.param w0=...``)."""

    def __init__(self, field: str, message: str, parameter: str) -> None:
        super().__init__(field, message)
        self.parameter = parameter

# SPICE scale factors are case-insensitive and "m" is milli: "meg" (and HSPICE's "x") is mega. Letters after the
# factor are units and ignored ("2um", "1pF", "10kohm").
_SPICE_SCALE: dict[str, float] = {
    "t": 1e12, "g": 1e9, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18,
}  # fmt: skip
# Spectre scale factors are case-sensitive: "M" is mega and "m" milli.
_SPECTRE_SCALE: dict[str, float] = {
    "T": 1e12, "G": 1e9, "M": 1e6, "K": 1e3, "k": 1e3, "_": 1.0, "%": 1e-2, "c": 1e-2, "m": 1e-3, "u": 1e-6,
    "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18,
}  # fmt: skip
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([A-Za-z_%]*)")
_SIMULATOR_LANG = re.compile(r"^\s*simulator\s+lang\s*=\s*(\w+)", re.IGNORECASE)
_TOKEN = re.compile(r"""(?:'[^']*'|"[^"]*"|\{[^}]*\}|[^\s'"{}])+""")
_EQUALS = re.compile(r"\s*=\s*")


def parse_number(token: str, dialect: Dialect = "spice") -> float | None:
    """A number with an optional scale factor (``2u``, ``1.5meg``, ``10kohm``), or None if `token` is not one."""
    m = _NUMBER.fullmatch(token.strip())
    if m is None:
        return None
    value, suffix = float(m.group(1)), m.group(2)
    if not suffix:
        return value
    if dialect == "spice":
        low = suffix.lower()
        if low.startswith("meg"):
            return value * 1e6
        if low.startswith("mil"):
            return value * 25.4e-6
        if low[0] == "x":
            return value * 1e6
        scale = _SPICE_SCALE.get(low[0])
        return None if scale is None else value * scale
    scale = _SPECTRE_SCALE.get(suffix[0])
    if scale is None or (len(suffix) > 1 and not suffix[1:].isalpha()):
        return None
    return value * scale


@dataclass(frozen=True)
class Line:
    """One logical line (continuations joined, comments stripped) and where it started."""

    text: str
    lineno: int
    dialect: Dialect


def _strip_spice_comment(line: str) -> str:
    # HSPICE "$" and ngspice ";" start an inline comment; "$" only after whitespace (net names may hold "$").
    for mark in (" $", "\t$", ";"):
        cut = line.find(mark)
        if cut >= 0:
            line = line[:cut]
    return "" if line.startswith("$") else line


def _strip_spectre_comment(line: str) -> str:
    cut = line.find("//")
    return line if cut < 0 else line[:cut]


def logical_lines(text: str, dialect: Dialect, source: str) -> Iterator[Line]:
    """Logical lines in file order. ``simulator lang=spice|spectre`` switches the dialect from the next line on.

    SPICE: ``*`` comment lines, ``+`` continues the previous line, and so does a line after one ending in ``\\``
    (HSPICE). Spectre: ``//`` and ``*`` comments, a trailing ``\\`` continues onto the next line.
    """
    pending: list[str] = []
    start = 0
    joining = False  # the previous SPICE line ended with a backslash
    for lineno, raw in enumerate(text.splitlines(), start=1):
        lang = _SIMULATOR_LANG.match(raw)
        if lang is not None:
            if pending:
                yield Line(" ".join(pending), start, dialect)
                pending = []
            name = lang.group(1).lower()
            if name not in ("spice", "spectre"):
                raise NetlistError(f"{source}:{lineno}", f"unknown simulator language {lang.group(1)!r}")
            dialect = "spice" if name == "spice" else "spectre"
            continue
        stripped = raw.strip()
        if dialect == "spice":
            if not stripped or stripped.startswith("*"):
                continue
            body = _strip_spice_comment(stripped).strip()
            if not body:
                continue
            if body.startswith("+") or joining:
                if not pending:
                    raise NetlistError(f"{source}:{lineno}", "continuation line '+' without a line to continue")
                body = body[1:].strip() if body.startswith("+") else body
            elif pending:
                yield Line(" ".join(pending), start, dialect)
                pending, start = [], lineno
            else:
                start = lineno
            # HSPICE (and ALIGN's netlists) also continue a line that ends with a backslash.
            joining = body.endswith("\\")
            pending.append(body[:-1].strip() if joining else body)
        else:
            if stripped.startswith("*"):
                continue
            body = _strip_spectre_comment(stripped).strip()
            if not pending:
                start = lineno
            cont = body.endswith("\\")
            if cont:
                body = body[:-1].strip()
            if body:
                pending.append(body)
            if not cont and pending:
                yield Line(" ".join(pending), start, dialect)
                pending = []
    if pending:
        yield Line(" ".join(pending), start, dialect)


def tokens(text: str) -> list[str]:
    """Whitespace-separated tokens; ``key = value`` becomes ``key=value``; quotes and braces stay whole."""
    return _TOKEN.findall(_EQUALS.sub("=", text))


def split_param(token: str) -> tuple[str, str] | None:
    """``key=value`` -> (key, value), else None."""
    key, eq, value = token.partition("=")
    if not eq or not key or not value:
        return None
    return key, value


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt, "abs": abs, "min": min, "max": max, "exp": math.exp, "log": math.log, "int": int,
}  # fmt: skip
# A number with a scale factor inside an expression; an exponent (``1e-6``) is never read as the factor "e".
# Deepest expression tree evaluated: real netlists nest a handful of levels; thousands would hit Python's recursion
# limit (in the parser or in `Scope._eval`).
MAX_EXPR_DEPTH = 100
_SI_IN_EXPR = re.compile(r"(?<![\w.])((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![eE][+-]?\d)([A-Za-z_%][A-Za-z]*)")


@dataclass
class Scope:
    """Parameters visible to value expressions (``.param`` / ``parameters``, subckt defaults); names case-folded."""

    values: dict[str, float] = field(default_factory=dict)

    def define(self, name: str, value: str, where: str, dialect: Dialect) -> None:
        self.values[name.lower()] = self.evaluate(value, where, name, dialect)

    def evaluate(self, value: str, where: str, what: str, dialect: Dialect) -> float:
        """A number, a parameter name, or an arithmetic expression of them (``'2*wn'``, ``{wn/2}``)."""
        text = value.strip()
        if len(text) >= 2 and (text[0], text[-1]) in (("'", "'"), ('"', '"'), ("{", "}")):
            text = text[1:-1].strip()
        number = parse_number(text, dialect)
        if number is not None:
            return number

        def scaled(m: re.Match[str]) -> str:
            got = parse_number(m.group(0), dialect)
            if got is None:
                raise NetlistError(where, f"{what}={value}: bad scale factor in {m.group(0)!r}")
            return repr(got)

        try:
            tree = ast.parse(_SI_IN_EXPR.sub(scaled, text.replace("^", "**")), mode="eval")
            return float(self._eval(tree.body, where, what, value))
        except NetlistError:
            raise
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            raise NetlistError(where, f"{what}={value}: cannot evaluate ({exc})") from exc
        except (RecursionError, MemoryError) as exc:  # Python's own parser gives up on deep nesting
            raise NetlistError(where, f"{what}: expression nested too deeply") from exc

    def _eval(self, node: ast.expr, where: str, what: str, value: str, depth: int = 0) -> float:
        """Walk the expression tree; nesting past MAX_EXPR_DEPTH is refused as the netlist's error, before
        Python's recursion limit turns it into a RecursionError (a 500 in the API, issue 16)."""
        if depth > MAX_EXPR_DEPTH:
            raise NetlistError(where, f"{what}: expression nested deeper than {MAX_EXPR_DEPTH} levels")
        depth += 1
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            got = self.values.get(node.id.lower())
            if got is None:
                raise UnknownParameter(where, f"{what}={value}: unknown parameter {node.id!r}", node.id)
            return got
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self._eval(node.operand, where, what, value, depth)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self._eval(node.left, where, what, value, depth)
            return _BINARY[type(node.op)](left, self._eval(node.right, where, what, value, depth))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
            args = [self._eval(a, where, what, value, depth) for a in node.args]
            return float(_FUNCTIONS[node.func.id](*args))
        raise NetlistError(where, f"{what}={value}: unsupported expression")


@dataclass(frozen=True)
class Card:
    """An element statement before its kind is decided: instance name, nets, master, positional values, params."""

    name: str
    nets: tuple[str, ...]
    master: str | None
    values: tuple[str, ...]
    params: Mapping[str, str]
    where: str
    dialect: Dialect = "spice"
    letter: str = ""  # SPICE element letter (M, R, C, X, ...); "" for Spectre, where the master decides


@dataclass
class Netlist:
    """What the card parsers found: subcircuits (name -> ports, cards), top-level cards, model name -> type."""

    top: list[Card] = field(default_factory=list)
    subckts: dict[str, tuple[tuple[str, ...], list[Card]]] = field(default_factory=dict)
    subckt_where: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    scope: Scope = field(default_factory=Scope)
    scale: float = 1.0  # HSPICE `.option scale=`: multiplies MOSFET w and l
    current: str | None = None  # the subckt being read
    # Parameters a subckt declares (``.subckt ... a=1``, ``.param`` or ``parameters`` inside it): raw expressions,
    # evaluated per instance (placeq.formats.flatten), so two instances can size the same cell differently.
    subckt_params: dict[str, dict[str, tuple[str, Dialect]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the reader decided for the user (printed on import)

    def define(self, name: str, value: str, where: str, dialect: Dialect) -> None:
        """A ``.param``/``parameters`` statement: global at top level, the open subckt's default inside one."""
        if self.current is None:
            self.scope.define(name, value, where, dialect)
        else:
            self.subckt_params[self.current][name.lower()] = (value, dialect)

    def open_subckt(self, name: str, ports: tuple[str, ...], where: str) -> None:
        if self.current is not None:
            raise NetlistError(where, f"subckt {name!r} inside subckt {self.current!r}: nested definitions unsupported")
        if name in self.subckts:
            raise NetlistError(where, f"subckt {name!r} defined twice (first at {self.subckt_where[name]})")
        self.subckts[name] = (ports, [])
        self.subckt_where[name] = where
        self.subckt_params[name] = {}
        self.current = name

    def close_subckt(self, name: str | None, where: str) -> None:
        if self.current is None:
            raise NetlistError(where, "'ends' without an open subckt")
        if name is not None and name.lower() != self.current.lower():  # ngspice and Spectre ignore the name too
            self.notes.append(f"{where}: 'ends {name}' closes subckt {self.current!r} (read as its end)")
        self.current = None

    def add(self, card: Card) -> None:
        (self.top if self.current is None else self.subckts[self.current][1]).append(card)
