"""Batch labelling: PlacementBatch -> LabelTable, parallel over worker processes, cached by content hash.

This is what a Celery task calls per chunk. Numbers for all placements are computed as arrays in the caller
(`netlist.layout_values`); workers format netlists from the fixed template and simulate. Each worker owns one
libngspice (created in the worker, never before fork: the library is process-global; the pool uses spawn).
A placement whose simulation fails is retried without the nodeset and with gmin/source stepping raised; if it
still fails it is recorded with status "failed" and the reason, never dropped. Cached labels are keyed by
sha256 over circuit, placement arrays, technology (with model cards) and simulator version.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing as mp
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError
from simulate.check import floating_nets
from simulate.netlist import (
    LayoutValues,
    Mode,
    NetlistTemplate,
    _Routing,
    build_template,
    layout_values,
    nominal_values,
    with_gradient,
)
from simulate.ngspice import Probe, SharedSpice, SimResult, batch_run, ngspice_version
from simulate.techfile import Tech, load_tech

LABEL_SOURCE = "ngspice-bsim4"  # labels from SPICE; any stand-in must use another source name
# bump when netlists or measurements change: invalidates the cache (2: BSIM4 WPE and stress, rms gradient label)
SIM_VERSION = "placeq-sim-2"
DEFAULT_CACHE = Path("var/cache/labels.sqlite")
CMRR_CAP_DB = 300.0  # a perfectly symmetric layout has no cm->dm gain; report at most this (solver floor)
RETRY_OPTIONS = ".option gminsteps=100 srcsteps=100 itl1=500"


@dataclass(frozen=True)
class LabelTable:
    """Labels of B placements (row i belongs to placement `index[i]` of the input batch)."""

    design: str
    metric: str  # "offset" (value in V, signed) or "cmrr" (value in dB)
    index: np.ndarray  # (B,) int64
    value: np.ndarray  # (B,) float64: the design's metric, NaN when failed
    offset: np.ndarray  # (B,) float64, V
    cmrr_db: np.ndarray  # (B,) float64, dB at 10 Hz
    ok: np.ndarray  # (B,) bool
    reason: tuple[str, ...]  # (B,) "" when ok
    key: tuple[str, ...]  # (B,) content hash (cache key)
    label_source: str
    simulated: int  # how many rows were simulated now (the rest came from the cache)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def status(self) -> np.ndarray:
        """(B,) "ok" / "failed"."""
        return np.where(self.ok, "ok", "failed")

    def columns(self) -> dict[str, Any]:
        return {
            "index": self.index, "value": self.value, "offset_v": self.offset, "cmrr_db": self.cmrr_db,
            "status": self.status, "reason": list(self.reason), "label_source": [self.label_source] * len(self),
            "metric": [self.metric] * len(self), "design": [self.design] * len(self), "key": list(self.key),
        }


# --- content hashing and cache -------------------------------------------------------------------------------


def content_keys(circuit: Circuit, batch: PlacementBatch, tech: Tech, mode: str) -> list[str]:
    """(B,) sha256 per placement over circuit, its arrays, technology and simulator version."""
    head = hashlib.sha256()
    for part in (circuit.model_dump_json(), tech.content_hash(), SIM_VERSION, ngspice_version(), mode,
                 repr(batch.pin_terminal), batch.pin_device.tobytes(), batch.pin_net.tobytes()):
        head.update(part.encode() if isinstance(part, str) else part)
    boxes = np.ascontiguousarray(batch.boxes, dtype=np.float64)
    pins = np.ascontiguousarray(batch.pin_boxes, dtype=np.float64)
    keys = []
    for i in range(len(batch)):
        h = head.copy()
        h.update(boxes[i].tobytes())
        h.update(pins[i].tobytes())
        keys.append(h.hexdigest())
    return keys


class LabelCache:
    """sqlite file of simulated results by content key; safe to share between runs (not between writers)."""

    def __init__(self, path: str | Path = DEFAULT_CACHE) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, offset REAL, cm_gain REAL, "
                         "ok INTEGER, reason TEXT)")

    def get(self, keys: list[str]) -> dict[str, SimResult]:
        found: dict[str, SimResult] = {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            rows = self._db.execute(
                f"SELECT key, offset, cm_gain, ok, reason FROM labels WHERE key IN ({','.join('?' * len(part))})",
                part).fetchall()
            for key, offset, cm_gain, ok, reason in rows:
                found[key] = SimResult(_nan(offset), _nan(cm_gain), bool(ok), reason)
        return found

    def put(self, items: list[tuple[str, SimResult]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?)",
                                 [(k, _none(r.offset), _none(r.cm_gain), int(r.ok), r.reason) for k, r in items])

    def close(self) -> None:
        self._db.close()


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _none(v: float) -> float | None:
    return None if not math.isfinite(v) else v


# --- workers ---------------------------------------------------------------------------------------------------

_SPICE: SharedSpice | None = None
_NODESETS: dict[str, dict[str, float]] = {}


def _probe(t: NetlistTemplate, ac: bool) -> Probe:
    return Probe(pos=t.bench.pos, neg=t.bench.neg, differential=t.bench.differential, rails=t.bench.rails,
                 nodes=t.bench.watch, ac=ac, hubs=t.hubs)


def _nodeset(spice: SharedSpice, t: NetlistTemplate) -> dict[str, float]:
    """Hub voltages at the nominal operating point (computed once per design and process)."""
    key = hashlib.sha256(t.render(nominal_values(t), 0).encode()).hexdigest()
    if key not in _NODESETS:
        _NODESETS[key] = spice.op_voltages(t.render(nominal_values(t), 0), t.hubs)
    return _NODESETS[key]


def netlist_path(netlist_dir: str | Path, design: str, index: int, suffix: str = "") -> Path:
    """Where the `index`-th netlist goes: always directly inside `netlist_dir`. Design names are checked at the
    door (placeq.domain.DESIGN_NAME_PATTERN); a name that got past it (``../x``, ``/etc/x``, a circuit built with
    `model_construct`) is flattened to one file name here rather than trusted as a path (issue 16, finding 4)."""
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", design).lstrip(".-") or "design"
    return Path(netlist_dir) / f"{stem}_{index:06d}{suffix}.cir"


VARIANT_SUFFIX = {1: ("",), 3: ("", "_gx", "_gy")}  # netlist file suffix of each gradient variant


@dataclass(frozen=True)
class _Layout:
    """A chunk's placements whose numbers the worker computes itself (`layout_values` in parallel, not serially in
    the caller: ~0.16 ms a label for ota1, issue 15). Row r of the chunk gives the same numbers as row r of the
    whole batch: every array operation of `layout_values` is per placement. With the rms gradient label each
    placement is simulated under three gradients (`Tech.gradient_vectors`): rows are variant-major."""

    circuit: Circuit
    batch: PlacementBatch
    routing: _Routing
    tech: Tech

    @property
    def variants(self) -> int:
        return len(self.tech.gradient_vectors())

    def values(self) -> LayoutValues:
        (g_vth, g_beta), *others = self.tech.gradient_vectors()
        first = layout_values(self.circuit, self.batch, self.routing, self.tech, g_vth, g_beta)
        return first.stack(*(with_gradient(first, self.circuit, self.batch, gv, gb) for gv, gb in others))


def combine_gradients(parts: list[SimResult]) -> SimResult:
    """One label from a placement's simulations without gradient and with the gradient along x and along y.

    The metric is linear in a small gradient g: m(g) = m0 + (gx * dx + gy * dy) / s, with dx = m(s x) - m0 from the
    run at g = (s, 0). With gx, gy independent, zero mean and standard deviation s (`Tech.vth_grad`: Pelgrom's
    S_VT), E[|m|^2] = |m0|^2 + |dx|^2 + |dy|^2; the label is its square root, for the offset and for the
    (complex) common-mode gain alike. `benchmarks/gradient_linearity.py` checks it against brute force.
    """
    if len(parts) == 1:
        return parts[0]
    bad = [(name, r) for name, r in zip(("no gradient", "gradient along x", "gradient along y"), parts,
                                        strict=True) if not r.ok]
    if bad:
        name, r = bad[0]
        return SimResult(r.offset, r.cm_gain, False, f"{r.reason} (simulation with {name})")
    o0, ox, oy = (r.offset for r in parts)
    offset = math.sqrt(o0 * o0 + (ox - o0) ** 2 + (oy - o0) ** 2)
    c0, cx, cy = (r.cm for r in parts)
    cm = math.sqrt(abs(c0) ** 2 + abs(cx - c0) ** 2 + abs(cy - c0) ** 2)
    return SimResult(offset, cm, True, "", complex(cm, 0.0))


_Job = tuple[NetlistTemplate, "LayoutValues | _Layout", int, "str | None", str, bool]


def _simulate_chunk(job: _Job) -> list[SimResult]:
    """Worker entry: format and simulate a chunk (every gradient variant of every placement), write netlists when
    asked, and return one combined result per placement."""
    template, layout, start, netlist_dir, backend, ac = job
    values = layout.values() if isinstance(layout, _Layout) else layout
    variants = layout.variants if isinstance(layout, _Layout) else 1
    rows = len(values.r)
    count = rows // variants
    raw = _simulate_rows(template, values, start, count, variants, netlist_dir, backend, ac)
    return [combine_gradients([raw[k * count + i] for k in range(variants)]) for i in range(count)]


def _simulate_rows(template: NetlistTemplate, values: LayoutValues, start: int, count: int, variants: int,
                   netlist_dir: str | None, backend: str, ac: bool) -> list[SimResult]:
    """Simulate every row of `values` (row k * count + i: variant k of placement start + i)."""
    probe = _probe(template, ac)
    suffix = VARIANT_SUFFIX[variants]

    def title(r: int) -> str:
        return f"placement {start + r % count}{suffix[r // count]}"

    if backend == "batch":
        texts = [template.render(values, r, title(r)) for r in range(len(values.r))]
        return batch_run(texts, probe)
    spice = _spice()
    volts = _nodeset(spice, template)
    seeded = template.with_nodeset(volts) if volts else template
    retry = replace(template, nodeset=RETRY_OPTIONS)
    lines, retry_lines = seeded.line_renderer(), retry.line_renderer()
    results = []
    for r in range(len(values.r)):
        res = spice.run_lines(lines(values, r, title(r)), probe)
        if not res.ok and not res.reason.startswith("|offset|"):
            again = spice.run_lines(retry_lines(values, r, title(r)), probe)
            res = again if again.ok else SimResult(res.offset, res.cm_gain, False,
                                                   f"{res.reason}; retry with gmin/source stepping: {again.reason}")
        results.append(res)
        if netlist_dir is not None:
            path = netlist_path(netlist_dir, template.design, start + r % count, suffix[r // count])
            path.write_text(seeded.render(values, r, title(r), control=True))
    return results


def _spice() -> SharedSpice:
    """This process's libngspice (created on first use; also the pool initializer, so workers load it while the
    caller is still hashing and splitting the batch)."""
    global _SPICE
    if _SPICE is None:
        _SPICE = SharedSpice()
    return _SPICE


def _warm(backend: str) -> None:
    if backend != "batch":
        _spice()


def _chunks(template: NetlistTemplate, layout: _Layout, rows: np.ndarray, size: int, netlist_dir: str | None,
            backend: str, ac: bool) -> Iterator[_Job]:
    for s in range(0, len(rows), size):
        sel = rows[s:s + size]
        part = replace(layout, batch=layout.batch.take(sel))
        yield template, part, int(sel[0]), netlist_dir, backend, ac


# --- public API ------------------------------------------------------------------------------------------------


def simulate_values(template: NetlistTemplate, values: LayoutValues, *, ac: bool = True) -> list[SimResult]:
    """Simulate explicit layout numbers in this process (what-if studies and physics tests)."""
    return _simulate_chunk((template, values, 0, None, "shared", ac))



def label_batch(circuit: Circuit, batch: PlacementBatch, *, tech: Tech | None = None, jobs: int = 1,
                cache: LabelCache | str | Path | None = None, netlist_dir: str | Path | None = None,
                backend: str = "shared", chunk_size: int = 128, measure: str = "metric",
                progress: Callable[[int], None] | None = None) -> LabelTable:
    """Simulate every placement of `batch` (a design space of `circuit`) and return its labels.

    jobs: worker processes (1 = in this process; use 1 inside a Celery prefork child, which may not fork, and
    let Celery's concurrency provide the parallelism). cache: a LabelCache or sqlite path (None = no cache).
    netlist_dir: keep every simulated post-layout netlist there (runnable with `ngspice -b`; full-mode netlists,
    every branch R and C; placements answered from the cache are not re-simulated and get no file).
    backend: "shared" (libngspice via ctypes) or "batch" (`ngspice -b`, no retry).
    measure: "metric" simulates what the design's metric needs (offset: op only; cmrr: op + AC), "both" always
    both (CMRR of an offset design then costs a second op inside the AC).
    progress: called with the number of placements finished since the last call.
    """
    if measure not in ("metric", "both"):
        raise InputError("measure", f"must be 'metric' or 'both', got {measure!r}")
    tech = tech or load_tech()
    floating = floating_nets(circuit)
    if floating:  # a singular op that gmin or a transient op "solves" gives plausible labels of nothing (issue 12)
        net, terms = next(iter(floating.items()))
        raise InputError("testbench", f"floating node {net} (only {', '.join(terms[:4])}): no DC path to a supply, "
                         "bias voltage or input; placeq check --design shows the operating point")
    ac = measure == "both" or (circuit.testbench is not None and circuit.testbench.metric == "cmrr")
    mode: Mode = "full" if netlist_dir is not None else "dc"
    template, routing = build_template(circuit, batch, tech, mode)
    keys = content_keys(circuit, batch, tech, f"{mode}/ac={ac}")
    store = LabelCache(cache) if isinstance(cache, str | Path) else cache
    found = store.get(keys) if store is not None else {}
    todo = np.array([i for i, k in enumerate(keys) if k not in found], dtype=np.int64)
    if progress is not None and len(found):
        progress(len(keys) - len(todo))
    results: dict[int, SimResult] = {i: found[k] for i, k in enumerate(keys) if k in found}
    if len(todo):
        layout = _Layout(circuit, batch.take(todo), routing, tech)
        local_rows = np.arange(len(todo))
        if netlist_dir is not None:
            Path(netlist_dir).mkdir(parents=True, exist_ok=True)
        ndir = str(netlist_dir) if netlist_dir is not None else None
        jobs_list = _chunks(template, layout, local_rows, chunk_size, ndir, backend, ac)
        fresh: list[SimResult] = []
        if jobs <= 1:
            outputs: Iterator[list[SimResult]] = map(_simulate_chunk, jobs_list)
            for out in outputs:
                fresh += out
                if progress is not None:
                    progress(len(out))
        else:
            with mp.get_context("spawn").Pool(jobs, initializer=_warm, initargs=(backend,)) as pool:
                for out in pool.imap(_simulate_chunk, jobs_list):
                    fresh += out
                    if progress is not None:
                        progress(len(out))
        for row, res in zip(todo, fresh, strict=True):
            results[int(row)] = res
        if store is not None:
            store.put([(keys[int(row)], res) for row, res in zip(todo, fresh, strict=True)])
    if store is not None and not isinstance(cache, LabelCache):
        store.close()
    ordered = [results[i] for i in range(len(keys))]
    return _table(circuit, keys, ordered, simulated=len(todo))


def _table(circuit: Circuit, keys: list[str], results: list[SimResult], simulated: int) -> LabelTable:
    offset = np.array([r.offset for r in results], dtype=np.float64)
    gain = np.array([r.cm_gain for r in results], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cmrr = np.minimum(-20.0 * np.log10(gain), CMRR_CAP_DB)
    ok = np.array([r.ok for r in results], dtype=bool)
    metric = circuit.testbench.metric if circuit.testbench else "offset"
    value = np.where(ok, offset if metric == "offset" else cmrr, np.nan)
    return LabelTable(design=circuit.name, metric=metric, index=np.arange(len(keys), dtype=np.int64), value=value,
                      offset=offset, cmrr_db=cmrr, ok=ok, reason=tuple(r.reason for r in results), key=tuple(keys),
                      label_source=LABEL_SOURCE, simulated=simulated)


def write_labels(table: LabelTable, path: str | Path) -> Path:
    """Write a LabelTable as Parquet (.parquet), CSV (.csv) or JSON lines (.jsonl), by the file's suffix."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cols = table.columns()
    if p.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({k: list(v) if isinstance(v, tuple) else v for k, v in cols.items()}), p)
    elif p.suffix == ".csv":
        import csv

        with p.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(cols))
            for row in zip(*cols.values(), strict=True):
                writer.writerow([_cell(v) for v in row])
    elif p.suffix == ".jsonl":
        import json

        with p.open("w") as fh:
            for row in zip(*cols.values(), strict=True):
                fh.write(json.dumps({k: _cell(v) for k, v in zip(cols, row, strict=True)}) + "\n")
    else:
        raise InputError("output", f"{p.name}: use .parquet, .csv or .jsonl")
    return p


def _cell(v: Any) -> Any:
    """Plain Python value for CSV/JSON; NaN becomes None (JSON null, empty CSV cell)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
