"""Placement datasets on disk: Parquet (one row per placement, structure once in the schema) or .jsonl.

Parquet layout (pyarrow, zstd):
- columns: ``boxes`` fixed-size list of N*4 float64 (x, y, w, h per device), ``pin_boxes`` P*4 float64
  (x0, y0, x1, y1 per pin), and ``net_weights`` M float64 when the placements come from the design-space
  generator (the weights that made each placement, in ``nets`` order);
- schema metadata ``placeq``: JSON with the PlacementBatch structure (design, devices, kinds, tags, pins, nets)
  and the caller's ``meta`` (seed, config, subset ids, ...).
float64 keeps grid coordinates exact, so a read-back batch passes the same legality check bit for bit.

``.jsonl``: one `Placement` JSON per line, exactly what the predict API accepts; it holds no net weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from placeq.batch import PlacementBatch
from placeq.domain import DeviceKind, Placement, Subcircuit
from placeq.errors import InputError

FORMAT_VERSION = 1
_META_KEY = b"placeq"


def _is_jsonl(path: Path) -> bool:
    return path.suffix == ".jsonl"


def _column(values: np.ndarray, width: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float64).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, width)


def write_batch(path: str | Path, batch: PlacementBatch, net_weights: np.ndarray | None = None,
                meta: dict[str, Any] | None = None) -> Path:
    """Write `batch` (and optional (B, M) net weights) to Parquet, or to JSON lines if the name ends in .jsonl."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    b, n, m = len(batch), len(batch.device_names), len(batch.nets)
    if net_weights is not None and np.shape(net_weights) != (b, m):
        raise InputError("net_weights", f"expected shape ({b}, {m}), got {np.shape(net_weights)}")
    if _is_jsonl(p):
        tmp = p.with_name(p.name + ".tmp")
        with tmp.open("w") as fh:
            for i in range(b):
                fh.write(batch.placement(i).model_dump_json())
                fh.write("\n")
        tmp.replace(p)
        return p
    structure = {
        "format": FORMAT_VERSION,
        "design": batch.design,
        "device_names": list(batch.device_names),
        "kinds": [k.value for k in batch.kinds],
        "tags": [[t.value for t in ts] for ts in batch.tags],
        "pin_device": batch.pin_device.tolist(),
        "pin_terminal": list(batch.pin_terminal),
        "pin_net": batch.pin_net.tolist(),
        "nets": list(batch.nets),
        "meta": meta or {},
    }
    columns = {
        "boxes": _column(batch.boxes, n * 4),
        "pin_boxes": _column(batch.pin_boxes, len(batch.pin_terminal) * 4),
    }
    if net_weights is not None:
        columns["net_weights"] = _column(np.asarray(net_weights), m)
    table = pa.table(columns).replace_schema_metadata({_META_KEY: json.dumps(structure).encode()})
    tmp = p.with_name(p.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(p)  # readers never see a half-written file
    return p


def _structure(path: Path) -> dict[str, Any]:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(str(path), f"not a readable Parquet file: {exc}") from exc
    raw = (schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise InputError(str(path), "no placeq metadata; not written by training.dataset.write_batch")
    data: dict[str, Any] = json.loads(raw)
    if data.get("format") != FORMAT_VERSION:
        raise InputError(str(path), f"dataset format {data.get('format')!r}, expected {FORMAT_VERSION}")
    return data


def _matrix(table: pa.Table, name: str, width: int) -> np.ndarray:
    col = table.column(name).combine_chunks()
    return np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float64).reshape(len(table), width)


def read_batch(path: str | Path) -> PlacementBatch:
    """Read a dataset written by `write_batch` (Parquet or .jsonl) back into a PlacementBatch."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "no such dataset file")
    if _is_jsonl(p):
        placements = []
        with p.open() as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    placements.append(Placement.model_validate_json(line))
                except ValidationError as exc:
                    raise InputError(f"{p.name}:{line_no}", str(exc).splitlines()[0]) from exc
        return PlacementBatch.from_placements(placements)
    s = _structure(p)
    n, n_pins = len(s["device_names"]), len(s["pin_terminal"])
    table = pq.read_table(p, columns=["boxes", "pin_boxes"])
    return PlacementBatch(
        design=s["design"],
        device_names=tuple(s["device_names"]),
        kinds=tuple(DeviceKind(k) for k in s["kinds"]),
        tags=tuple(tuple(Subcircuit(t) for t in ts) for ts in s["tags"]),
        pin_device=np.array(s["pin_device"], dtype=np.int64),
        pin_terminal=tuple(s["pin_terminal"]),
        pin_net=np.array(s["pin_net"], dtype=np.int64),
        nets=tuple(s["nets"]),
        boxes=_matrix(table, "boxes", n * 4).reshape(-1, n, 4),
        pin_boxes=_matrix(table, "pin_boxes", n_pins * 4).reshape(-1, n_pins, 4),
    )


def read_net_weights(path: str | Path) -> np.ndarray:
    """(B, M) net weights of a generated dataset, in the batch's `nets` order."""
    p = Path(path)
    if _is_jsonl(p):
        raise InputError(str(p), ".jsonl datasets hold placements only, no net weights")
    s = _structure(p)
    if "net_weights" not in pq.read_schema(p).names:
        raise InputError(str(p), "dataset has no net_weights column")
    return _matrix(pq.read_table(p, columns=["net_weights"]), "net_weights", len(s["nets"]))


def read_meta(path: str | Path) -> dict[str, Any]:
    """The `meta` dict stored with a Parquet dataset (seed, config, subset ids...)."""
    meta: dict[str, Any] = _structure(Path(path))["meta"]
    return meta
