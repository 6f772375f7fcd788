"""The data feed: features as index-able arrays (in memory, memory-mapped or rasterized on demand), labels from files.

Features arrive as anything indexable by an index array that returns (b, C, 64, 64) arrays: an in-memory numpy
array, a ``np.load(..., mmap_mode="r")`` memmap, or `LazyFeatures`, which rasterizes `PlacementBatch` rows on
demand. A full design space (16k x 18 x 64 x 64) is 4.8 GB in float32, so cached features are float16
(`to_float16`): device intensities 0.25..1.0 and CoordConv values i/64 are exact in float16, routing demand
(k / number of routed nets) is rounded; the loop converts each minibatch to float32. Torch-free.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from placeq.batch import PlacementBatch
from placeq.errors import InputError

log = logging.getLogger(__name__)


class FeatureArray(Protocol):
    """(N, C, 64, 64) features; ``x[idx]`` with a sorted int64 index array returns a numpy array."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, idx: np.ndarray) -> np.ndarray: ...


class LazyFeatures:
    """Rasterizes placements when indexed, so a 16k design space never sits in memory as float32."""

    def __init__(self, batch: PlacementBatch, *, nofeat: bool = False) -> None:
        from placeq.features import rasterize_batch  # the rasterizer lives in the torch-free core

        self._rasterize: Callable[..., np.ndarray] = rasterize_batch
        self.batch = batch
        self.nofeat = nofeat

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.batch), 2 if self.nofeat else 18, 64, 64)

    def __len__(self) -> int:
        return len(self.batch)

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return self._rasterize(self.batch.take(np.asarray(idx)), nofeat=self.nofeat)  # (b, C, 64, 64) float32


class Rows:
    """Rows `index` of a feature array, without copying it (train/val/test splits of one design space)."""

    def __init__(self, base: FeatureArray, index: np.ndarray) -> None:
        self.base = base
        self.index = np.asarray(index, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *tuple(self.base.shape[1:]))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        rows = self.index[np.asarray(idx)]
        order = np.argsort(rows, kind="stable")  # read the base in ascending order (memmap locality)
        out = np.asarray(self.base[rows[order]])
        return out[np.argsort(order)]  # back to the caller's order


def to_float16(x: np.ndarray) -> np.ndarray:
    """Halve the memory of cached features; exact for the rasterizer's intensities and coordinates."""
    return np.asarray(x, dtype=np.float16)


UNUSED = -1  # label of a layout left out of training, e.g. the middle half in the paper's balanced set


def load_features(
    path: str | Path, *, nofeat: bool = False, cache: str | Path | None = None, chunk: int = 1024
) -> tuple[FeatureArray, str | None]:
    """Features of a dataset file and its design name (None for a bare .npy).

    ``.npy`` (N, C, 64, 64) is memory-mapped. A placement dataset (.parquet / .jsonl, `training.dataset`) is
    rasterized on demand in float32 (`LazyFeatures`: exactly what the service and the fine-tune job compute)
    or, with `cache`, once into a float16 array (2.4 GB for 16k layouts in feat form) saved there and read back
    on the next run. float16 keeps device intensities and coordinates exact, but rounds routing demand (a
    fraction of the routed nets) to about 5e-4 of its value.
    """
    p = Path(path)
    if p.suffix == ".npy":
        arr = np.load(p, mmap_mode="r")
        if arr.ndim != 4:
            raise InputError(str(p), f"expected (N, C, 64, 64) features, got shape {arr.shape}")
        return arr, None
    from placeq.features import rasterize_batch
    from training.dataset import read_batch

    batch = read_batch(p)
    if cache is None:
        return LazyFeatures(batch, nofeat=nofeat), batch.design
    if Path(cache).exists():
        arr = np.load(cache, mmap_mode="r")
        if len(arr) == len(batch) and arr.shape[1] == (2 if nofeat else 18):
            return arr, batch.design
    from tqdm import tqdm

    out = np.empty((len(batch), 2 if nofeat else 18, 64, 64), dtype=np.float16)
    for start in tqdm(range(0, len(batch), chunk), desc="rasterize", unit="chunk", leave=False):
        part = batch.take(slice(start, start + chunk))
        out[start : start + len(part)] = rasterize_batch(part, nofeat=nofeat)
    Path(cache).parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out, batch.design


def load_labels(path: str | Path) -> np.ndarray:
    """(N,) int64 labels: 1 = prune (bad), 0 = keep, -1 = not used, aligned row by row with the placements.

    Reads a ``.npy`` (what ``placeq labels`` writes) or a Parquet table with a ``label`` column. A ``placeq
    simulate`` table (offset / CMRR ``value`` per placement, no ``label`` column) is what a user has after
    simulating, and the README's pipeline hands it on as is; it is labelled here by the paper's rule (worst 25%
    of the design space -> 1, the rest 0, failed simulations -1: `placeq.labels.label_array`, Sec. III-A), and
    the log says so, naming ``placeq labels --mode balanced`` for the base model's balanced set instead.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "no such labels file")
    if p.suffix == ".npy":
        y = np.load(p)
    elif p.suffix in (".csv", ".jsonl") or _is_values_table(p):
        from placeq.labels import label_array

        values, metric = read_values(p)
        y = label_array(values, metric, "quartile")
        log.info(
            "%s is a `placeq simulate` table: labelled the worst 25%% of its %s as 1 (prune), the rest 0, failed "
            "simulations -1 (%d / %d / %d); for the balanced base-model set run `placeq labels %s --mode balanced "
            "-o LABELS.npy` and pass that", p, metric, int((y == 1).sum()), int((y == 0).sum()),
            int((y == UNUSED).sum()), p,
        )
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(p)
        if "label" not in table.column_names:
            raise InputError(
                str(p),
                f"no 'label' column (columns: {', '.join(table.column_names)}); pass a .npy from "
                f"`placeq labels {p} -o LABELS.npy` or a table with a 0/1/-1 'label' column",
            )
        y = table.column("label").to_numpy(zero_copy_only=False)
    y = np.asarray(y).reshape(-1)
    if not np.isin(y, (UNUSED, 0, 1)).all():
        raise InputError(str(p), "labels must be 1 (prune), 0 (keep) or -1 (unused)")
    return y.astype(np.int64)


def _is_values_table(path: Path) -> bool:
    """True for a Parquet table as `placeq simulate` writes it: metric values and no 0/1 label column."""
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    return "label" not in names and {"index", "value", "status", "metric"} <= names


def read_values(path: str | Path) -> tuple[np.ndarray, str]:
    """(values (N,) float64 in placement order, metric) from a `placeq simulate` labels table.

    Rows come back sorted by their ``index`` column, failed simulations as NaN (placeq.labels leaves them out).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "no such labels table")
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        cols = pq.read_table(p, columns=["index", "value", "status", "metric"]).to_pydict()
    elif p.suffix in (".csv", ".jsonl"):
        import csv
        import json

        with p.open(newline="") as fh:
            rows = list(csv.DictReader(fh)) if p.suffix == ".csv" else [json.loads(line) for line in fh if line.strip()]
        cols = {k: [r[k] for r in rows] for k in ("index", "value", "status", "metric")}
        cols["value"] = [None if v in (None, "") else float(v) for v in cols["value"]]
    else:
        raise InputError(str(p), "use the .parquet, .csv or .jsonl table written by `placeq simulate`")
    index = np.asarray(cols["index"], dtype=np.int64)
    value = np.asarray([np.nan if v is None else v for v in cols["value"]], dtype=np.float64)
    value[np.asarray(cols["status"]) != "ok"] = np.nan
    metrics = set(cols["metric"])
    if len(metrics) != 1:
        raise InputError(str(p), f"expected one metric, found {sorted(metrics)}")
    if not np.array_equal(np.sort(index), np.arange(len(index))):
        raise InputError(str(p), "index column is not a permutation of 0..N-1")
    out = np.empty(len(index))
    out[index] = value
    return out, metrics.pop()
