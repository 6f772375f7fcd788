"""ngspice drivers: the shared library through ctypes (fast path) and `ngspice -b` (fallback), same netlists.

Measured here (docs/simulator.md, ../shared/notes/spice-feasibility.md): shared mode costs about 1 ms per
op + AC; a process per simulation costs about 10 ms. Pitfalls handled in this module:
- OpenMP oversubscription: `set num_threads=1` right after init (batch: first line of the control block);
- silent failures: stderr is captured and runs mentioning singular matrices / no convergence are rejected, and
  the current plot name must change after each analysis (else we would read the previous placement's vectors);
- memory growth: `remcirc` + `destroy all` after every simulation;
- ngspice segfaults without HOME: the batch fallback always passes one;
- a crash of `ngspice -b` (killed by a signal) raises `SimulatorCrashed` rather than recording every placement
  as a failed label (a crash says nothing about the layouts, and failed labels are cached).
The library holds global state: create one `SharedSpice` per process, inside the worker, never before fork.
`PLACEQ_NGSPICE` names the executable of the batch fallback (default `ngspice` on PATH): a deployment can pin a
build, and the fault tests point it at a script that crashes or hangs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_ERROR = re.compile(r"singular|no convergence|timestep too small|error|fatal|cannot recover", re.IGNORECASE)


NGSPICE_ENV = "PLACEQ_NGSPICE"
VERSION_TIMEOUT_S = 30.0


class SpiceUnavailable(RuntimeError):
    """Neither libngspice nor the ngspice binary can be used on this machine."""


class SimulatorCrashed(RuntimeError):
    """ngspice died (killed by a signal) instead of finishing its deck."""


def ngspice_binary() -> str:
    """The executable of the batch fallback: ``$PLACEQ_NGSPICE``, else `ngspice` on PATH."""
    return os.environ.get(NGSPICE_ENV) or "ngspice"


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


@dataclass(frozen=True)
class Probe:
    """What to measure: nodes whose op voltage and 10 Hz AC response are read (lower-case ngspice names).

    Differential: offset = V(pos) - V(neg) under unity feedback; cm gain = |v(pos) - v(neg)| with the AC source on
    the input common mode. Single-ended: neg is the + input (offset = V(out) - V(inp)), cm gain = |v(out)|.
    """

    pos: str
    neg: str
    differential: bool
    rails: tuple[float, float]  # lowest and highest supply (V): node voltages must lie within
    nodes: tuple[str, ...]  # nodes whose op voltage is checked against the rails (outputs and inputs)
    ac: bool = True  # also run the 10 Hz AC (CMRR); offset-only designs skip it (it repeats the op)
    # every other net's node, checked the same way: a floating node that gmin stepping or ngspice -b's transient op
    # "solved" sits at hundreds of volts or NaN while the outputs look fine (issue 12: "ok" labels from such ops)
    hubs: tuple[str, ...] = ()

    @property
    def watched(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.nodes, *self.hubs)))


@dataclass(frozen=True)
class SimResult:
    """One simulation: offset (V) and common-mode-to-output gain (linear) at 10 Hz, or the failure reason."""

    offset: float
    cm_gain: float
    ok: bool
    reason: str = ""
    cm: complex = complex(math.nan, math.nan)  # the 10 Hz common-mode-to-output gain itself (|cm| = cm_gain)


class _VectorInfo(ctypes.Structure):
    _fields_ = [
        ("v_name", ctypes.c_char_p),
        ("v_type", ctypes.c_int),
        ("v_flags", ctypes.c_short),
        ("v_realdata", ctypes.POINTER(ctypes.c_double)),
        ("v_compdata", ctypes.POINTER(ctypes.c_double)),  # pairs (re, im)
        ("v_length", ctypes.c_int),
    ]


_SendChar = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
_SendStat = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
_ControlledExit = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_bool, ctypes.c_bool, ctypes.c_int,
                                   ctypes.c_void_p)
_BGRunning = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_bool, ctypes.c_int, ctypes.c_void_p)

AC_COMMAND = "ac lin 1 10 10"  # one point at 10 Hz: CMRR is a low-frequency metric
OFFSET_LIMIT_V = 0.1  # |offset| beyond this means the amplifier left its linear region: a failed label


def _check(offset: float, cm_gain: float, volts: dict[str, float], probe: Probe) -> str:
    """The reason a converged op is still not a usable label, or '' when it is."""
    if not (math.isfinite(offset) and (math.isfinite(cm_gain) or not probe.ac)):
        return "non-finite result"
    nan = [node for node, v in volts.items() if not math.isfinite(v)]
    if nan:
        return f"non-finite operating point: node {', '.join(nan[:4])} is NaN or infinite"
    lo, hi = probe.rails
    for node, v in volts.items():
        if not lo - 0.05 <= v <= hi + 0.05:
            return f"node {node} at {v:.3f} V lies outside the supply rails"
    if abs(offset) > OFFSET_LIMIT_V:
        limit = OFFSET_LIMIT_V * 1e3
        return f"|offset| {abs(offset) * 1e3:.1f} mV > {limit:.0f} mV: amplifier not in its linear region"
    return ""


class SharedSpice:
    """libngspice.so.0 through ctypes; one instance per process."""

    _instance_pid: int | None = None

    def __init__(self) -> None:
        if SharedSpice._instance_pid == os.getpid():
            raise RuntimeError("libngspice is process-global: create one SharedSpice per process")
        name = ctypes.util.find_library("ngspice")
        if name is None:
            raise SpiceUnavailable("libngspice not found (Debian package libngspice0)")
        self._lib = ctypes.CDLL(name)
        self._lib.ngSpice_Command.argtypes = [ctypes.c_char_p]
        self._lib.ngSpice_Circ.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        self._lib.ngGet_Vec_Info.argtypes = [ctypes.c_char_p]
        self._lib.ngGet_Vec_Info.restype = ctypes.POINTER(_VectorInfo)
        self._lib.ngSpice_CurPlot.restype = ctypes.c_char_p
        self._errors: list[str] = []
        self._dead = False
        self._runs = 0
        # keep references: ctypes callbacks must outlive the library's use of them
        self._callbacks = (_SendChar(self._on_char), _SendStat(lambda *_: 0), _ControlledExit(self._on_exit),
                           _BGRunning(lambda *_: 0))
        self._lib.ngSpice_Init(self._callbacks[0], self._callbacks[1], self._callbacks[2], None, None,
                               self._callbacks[3], None)
        SharedSpice._instance_pid = os.getpid()
        self.command("set num_threads=1")

    def _on_char(self, text: bytes, _id: int, _user: object) -> int:
        line = text.decode(errors="replace")
        if line.startswith("stderr") and _ERROR.search(line) and "gmin" not in line.lower():
            self._errors.append(line[7:].strip())
        return 0

    def _on_exit(self, _status: int, _unload: bool, _quit: bool, _id: int, _user: object) -> int:
        self._dead = True
        return 0

    def command(self, cmd: str) -> None:
        self._lib.ngSpice_Command(cmd.encode())

    def _vector(self, name: str) -> complex:
        info = self._lib.ngGet_Vec_Info(name.encode())
        if not info:
            raise KeyError(name)
        v = info.contents
        if v.v_length < 1:
            raise KeyError(name)
        if v.v_realdata:
            return complex(v.v_realdata[0], 0.0)
        return complex(v.v_compdata[0], v.v_compdata[1])

    def _plot(self) -> str:
        return (self._lib.ngSpice_CurPlot() or b"").decode()

    def op_voltages(self, netlist: str, nodes: tuple[str, ...]) -> dict[str, float]:
        """Node voltages of the operating point of `netlist` ({} if it does not converge)."""
        self._errors.clear()
        lines = [ln.encode() for ln in netlist.splitlines() if ln.strip()]
        try:
            self._lib.ngSpice_Circ((ctypes.c_char_p * (len(lines) + 1))(*lines, None))
            before = self._plot()
            self.command("op")
            if self._errors or self._plot() == before:
                return {}
            return {n: self._vector(n).real for n in nodes}
        except KeyError:
            return {}
        finally:
            self.command("remcirc")
            self.command("destroy all")

    def run(self, netlist: str, probe: Probe) -> SimResult:
        """Load `netlist` (no control block), run op and a 10 Hz AC, read and validate, then clean up."""
        return self.run_lines([ln.encode() for ln in netlist.splitlines() if ln.strip()], probe)

    def run_lines(self, lines: list[bytes], probe: Probe) -> SimResult:
        """`run` for a netlist already split into encoded non-blank lines (`NetlistTemplate.line_renderer`)."""
        if self._dead:
            return SimResult(math.nan, math.nan, False, "ngspice library exited; restart the worker")
        self._errors.clear()
        array = (ctypes.c_char_p * (len(lines) + 1))(*lines, None)
        try:
            if self._lib.ngSpice_Circ(array) != 0 or self._errors:
                return SimResult(math.nan, math.nan, False, "netlist rejected: " + "; ".join(self._errors[:3]))
            before = self._plot()
            self.command("op")
            if self._errors or self._plot() == before:
                return SimResult(math.nan, math.nan, False, "op failed: " + ("; ".join(self._errors[:3]) or
                                                                              "no operating point"))
            volts = {n: self._vector(n).real for n in probe.watched}
            offset = (volts[probe.pos] - volts[probe.neg]) if probe.differential else (
                self._vector(probe.pos).real - self._vector(probe.neg).real)
            cm_gain = math.nan
            if probe.ac:
                before = self._plot()
                self.command(AC_COMMAND)
                if self._errors or self._plot() == before:
                    return SimResult(offset, math.nan, False, "ac failed: " + "; ".join(self._errors[:3]))
                out = self._vector(probe.pos) - (self._vector(probe.neg) if probe.differential else 0)
                cm_gain = abs(out)
            reason = _check(offset, cm_gain, volts, probe)
            return SimResult(offset, cm_gain, not reason, reason, out if probe.ac else complex(math.nan, math.nan))
        except KeyError as exc:
            return SimResult(math.nan, math.nan, False, f"vector {exc.args[0]!r} missing after the analysis")
        finally:
            self.command("remcirc")
            self._runs += 1
            if self._runs % 16 == 0:  # plots pile up (0.5 MB per sim) but destroying each time costs 0.4 ms
                self.command("destroy all")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HOME", tempfile.gettempdir())  # ngspice -b segfaults without HOME
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def run_batch(deck: Path, timeout_s: float, binary: str | None = None) -> subprocess.CompletedProcess[str]:
    """`ngspice -b deck` with the environment ngspice needs; `SpiceUnavailable` when the binary is missing. The
    caller reads stdout/stderr and decides what a crash means (`batch_run` raises `SimulatorCrashed`)."""
    binary = binary or ngspice_binary()
    exe = shutil.which(binary)
    if exe is None:
        raise SpiceUnavailable(f"{binary} not found (Debian package ngspice)")
    return subprocess.run([exe, "-b", str(deck)], capture_output=True, text=True, env=_env(), timeout=timeout_s,
                          check=False)


_VALUE = re.compile(r"^([\w()]+)\s*=\s*(\S+)", re.MULTILINE)


def batch_run(
    netlists: list[str], probe: Probe, binary: str | None = None, timeout_s: float = 600.0
) -> list[SimResult]:
    """The fallback: one `ngspice -b` process sources every netlist in turn and echoes an id before each.

    Results are aligned by id, so a netlist that ngspice skips cannot shift the later ones. `binary` defaults to
    `ngspice_binary()`. Raises `SimulatorCrashed` when ngspice is killed by a signal, `subprocess.TimeoutExpired`
    after `timeout_s`.
    """
    binary = binary or ngspice_binary()
    diff = probe.differential
    with tempfile.TemporaryDirectory(prefix="placeq-spice-") as tmp:
        control = ["* placeq batch", ".control", "set num_threads=1"]
        for i, text in enumerate(netlists):
            path = Path(tmp) / f"c{i}.cir"
            path.write_text(text if text.rstrip().endswith(".end") else text + "\n.end\n")
            vos = f"v({probe.pos}) - v({probe.neg})"
            cm_expr = f"v({probe.pos}) - v({probe.neg})" if diff else f"v({probe.pos})"
            checks = " ".join(f"v({n})" for n in probe.watched)
            control += [
                f"echo id{i}", f"source {path}", "op", f"let vos{i} = {vos}", f"print vos{i}",
                f"print {checks}",
            ]
            if probe.ac:
                control += [AC_COMMAND, f"let cmr{i} = real({cm_expr})", f"let cmi{i} = imag({cm_expr})",
                            f"print cmr{i} cmi{i}"]
            control += ["remcirc", "destroy all"]
        control += ["quit", ".endc", ".end"]
        deck = Path(tmp) / "batch.cir"
        deck.write_text("\n".join(control) + "\n")
        run = run_batch(deck, timeout_s, binary)
    if run.returncode < 0:
        tail = " | ".join(run.stderr.strip().splitlines()[-3:])
        raise SimulatorCrashed(f"{binary} -b died with {_signal_name(run.returncode)}" + (f": {tail}" if tail else ""))
    chunks = re.split(r"^id(\d+)\s*$", run.stdout, flags=re.MULTILINE)
    found: dict[int, str] = {int(chunks[k]): chunks[k + 1] for k in range(1, len(chunks) - 1, 2)}
    results = []
    for i in range(len(netlists)):
        if i not in found:
            results.append(SimResult(math.nan, math.nan, False, f"ngspice -b produced no output (rc {run.returncode})"))
            continue
        values = {k.lower(): v for k, v in _VALUE.findall(found[i])}
        try:
            offset = float(values[f"vos{i}"])
            cm = complex(float(values[f"cmr{i}"]), float(values[f"cmi{i}"])) if probe.ac else complex(math.nan,
                                                                                                          math.nan)
            volts = {n: float(values[f"v({n})"]) for n in probe.watched}
        except (KeyError, ValueError):
            results.append(SimResult(math.nan, math.nan, False, "ngspice -b: analysis failed or was skipped"))
            continue
        cm_gain = abs(cm) if probe.ac else math.nan
        reason = _check(offset, cm_gain, volts, probe)
        results.append(SimResult(offset, cm_gain, not reason, reason, cm))
    return results


def ngspice_version() -> str:
    """The ngspice version string (recorded with labels and part of the cache key)."""
    exe = shutil.which(ngspice_binary())
    if exe is None:
        return "unknown"
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, env=_env(), check=False,
                             timeout=VERSION_TIMEOUT_S).stdout
    except subprocess.TimeoutExpired:
        return "unknown"
    m = re.search(r"ngspice-(\S+)", out)
    return m.group(1) if m else "unknown"
