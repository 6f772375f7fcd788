"""Many labelled design spaces as one training set that streams: features are rasterized per minibatch (or read
from a per-design float16 cache, memory-mapped), so 30+ designs x 1-4k placements never sit in memory.

A design is a placements file (``placeq place``), its ``placeq simulate`` table and its circuit (a built-in name or
a circuit JSON). Each design is labelled by its own worst quartile (`placeq.labels.worst_quartile`: the paper's
rule, Sec. III-A), so designs with different metrics (offset in V, CMRR in dB) and spreads train side by side.

`CorpusFeatures` concatenates the designs' feature arrays behind the `training.feed.FeatureArray` protocol, so
`training.pipeline.fit_model` trains on it unchanged (one training loop). Placements (boxes, a few KB each) and
labels stay in memory; only the (C, 64, 64) tensors are made on demand.

Every row also gets a 16-byte digest of its feature tensor: copies of one layout share it, which is what the
duplicate groups of a split and the leakage check of leave-one-topology-out (`training.loto`) are built on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError
from placeq.labels import UNLABELLED, worst_quartile
from training.feed import FeatureArray, LazyFeatures, read_values

log = logging.getLogger(__name__)
DIGEST_BYTES = 16


@dataclass(frozen=True)
class DesignSource:
    """Where one labelled design space lives. `circuit` is a built-in name (ota1) or a circuit JSON path."""

    name: str
    placements: Path
    labels: Path
    circuit: str


def design_source(spec: str, data_dir: str | Path = ".") -> DesignSource:
    """Where a design named on a command line lives. `spec` is one of:

    - a built-in name (``ota2``): ``<data_dir>/ota2.parquet`` and ``<data_dir>/ota2.labels.parquet``;
    - a circuit JSON (``var/own/x.json``): its placements and labels by its file stem, either in `data_dir` or in
      a corpus folder beside it (``designs/x.json`` -> ``spaces/x.parquet``, ``labels/x.labels.parquet``);
    - all three explicitly: ``CIRCUIT.json:PLACEMENTS.parquet:LABELS.parquet``.

    So any design, not only the built-ins, goes through the experiments (issue 14 part 5).
    """
    parts = spec.split(":")
    if len(parts) == 3:
        circuit, placed, labelled = parts
        if not circuit.endswith(".json"):
            raise InputError("design", f"{spec!r}: the first of CIRCUIT.json:PLACEMENTS:LABELS must be a circuit JSON")
        return DesignSource(Path(circuit).stem, Path(placed), Path(labelled), circuit)
    if len(parts) != 1:
        raise InputError("design", f"{spec!r}: give NAME, CIRCUIT.json or CIRCUIT.json:PLACEMENTS:LABELS")
    if not spec.endswith(".json"):
        d = Path(data_dir)
        return DesignSource(spec, d / f"{spec}.parquet", d / f"{spec}.labels.parquet", spec)
    stem, folder = Path(spec).stem, Path(spec).parent
    for places, labels in ((Path(data_dir), Path(data_dir)), (folder.parent / "spaces", folder.parent / "labels")):
        if (places / f"{stem}.parquet").is_file():
            return DesignSource(stem, places / f"{stem}.parquet", labels / f"{stem}.labels.parquet", spec)
    raise InputError("design", f"{spec}: no {stem}.parquet in {data_dir} or {folder.parent / 'spaces'}; "
                               "name the files: CIRCUIT.json:PLACEMENTS.parquet:LABELS.parquet")


@dataclass
class LoadedDesign:
    """One design space, subsampled as asked: placements, metric values, quartile labels, features on demand."""

    name: str
    circuit: Circuit
    batch: PlacementBatch  # the rows used, in file order
    rows: np.ndarray  # (n,) their indices in the placements file
    values: np.ndarray  # (n,) offset (V) or CMRR (dB); NaN where the simulation failed
    metric: str
    y: np.ndarray  # (n,) int64: 1 worst quartile of this design, 0 the rest, -1 failed
    x: FeatureArray  # (n, 18, 64, 64): rasterized on demand, or a float16 memmap cache
    digests: np.ndarray  # (n,) "V16" feature digests
    groups: np.ndarray  # (n,) duplicate groups within the design (same digest, same id)


def feature_digests(x: FeatureArray, chunk: int = 512) -> np.ndarray:
    """(N,) "V16" blake2b digests of each row's features; bit-identical tensors share one."""
    out: list[bytes] = []
    for start in range(0, len(x), chunk):
        part = np.ascontiguousarray(np.asarray(x[np.arange(start, min(start + chunk, len(x)))], dtype=np.float32))
        out += [hashlib.blake2b(r.tobytes(), digest_size=DIGEST_BYTES).digest() for r in part]
    return np.frombuffer(b"".join(out), dtype=f"V{DIGEST_BYTES}").copy()


def groups_of(digests: np.ndarray) -> np.ndarray:
    """(N,) int64 group id per row: equal digests share an id (`training.splits.split_indices(groups=...)`)."""
    if len(digests) == 0:
        return np.zeros(0, dtype=np.int64)
    _, ids = np.unique(digests, return_inverse=True)
    return ids.astype(np.int64).reshape(-1)


def subsample_rows(n: int, limit: int | None, name: str, seed: int) -> np.ndarray:
    """Sorted rows of a seeded sample of `limit` of `n` (all when limit is None or >= n); the draw depends on the
    design's name, so adding a design to a corpus does not change the others' samples."""
    if limit is None or limit >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return np.sort(rng.choice(n, size=limit, replace=False)).astype(np.int64)


def _cached(batch: PlacementBatch, path: Path, chunk: int = 512) -> np.ndarray:
    """float16 features of `batch` in `path` (written once, chunk by chunk), memory-mapped."""
    shape = (len(batch), 18, 64, 64)
    if path.is_file():
        arr = np.load(path, mmap_mode="r")
        if tuple(arr.shape) == shape:
            return arr  # type: ignore[no-any-return]
    from placeq.features import iter_rasterize

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npy")  # runs side by side may fill one cache
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
    start = 0
    for part in iter_rasterize(batch, chunk=chunk):
        out[start : start + len(part)] = part
        start += len(part)
    out.flush()
    del out
    tmp.replace(path)
    return np.load(path, mmap_mode="r")  # type: ignore[no-any-return]


def load_design_space(
    source: DesignSource, *, limit: int | None = None, seed: int = 0, cache_dir: Path | None = None
) -> LoadedDesign:
    """Read `source`, keep a seeded sample of `limit` rows, label it by its own worst quartile.

    Features are rasterized on demand in float32 (`LazyFeatures`, exactly what the service computes), or with
    `cache_dir` once into ``<cache_dir>/<name>.<n>-<hash>.f16.npy`` and memory-mapped (float16 rounds routing
    demand to ~5e-4 of its value; intensities and coordinates are exact).
    """
    from placeq.circuits import load_design
    from training.dataset import read_batch

    full = read_batch(source.placements)
    values, metric = read_values(source.labels)
    if len(values) != len(full):
        raise InputError(str(source.labels), f"{len(values)} labels for {len(full)} placements in {source.placements}")
    circuit = load_design(source.circuit)
    if tuple(d.name for d in circuit.devices) != tuple(full.device_names):
        raise InputError(str(source.placements), f"its devices are not those of circuit {circuit.name}")
    rows = subsample_rows(len(full), limit, source.name, seed)
    batch = full.take(rows)
    values = values[rows]
    x: FeatureArray
    if cache_dir is None:
        x = LazyFeatures(batch)
    else:
        tag = hashlib.blake2b(rows.tobytes() + str(source.placements.resolve()).encode(), digest_size=4).hexdigest()
        x = _cached(batch, Path(cache_dir) / f"{source.name}.{len(rows)}-{tag}.f16.npy")
    y = worst_quartile(values, metric).astype(np.int64) if np.isfinite(values).any() else np.full(len(rows), -1)
    digests = feature_digests(x)
    groups = groups_of(digests)
    log.info("%s: %d of %d layouts (%d distinct), %s, %d failed", source.name, len(rows), len(full),
             int(groups.max()) + 1 if len(groups) else 0, metric, int((y == UNLABELLED).sum()))
    return LoadedDesign(name=source.name, circuit=circuit, batch=batch, rows=rows, values=values, metric=metric,
                        y=y, x=x, digests=digests, groups=groups)


class CorpusFeatures:
    """Several designs' feature arrays as one (N, 18, 64, 64) array: ``x[idx]`` fetches each design's rows
    (rasterizing them, or reading its memmap) and returns float32 in the caller's order."""

    def __init__(self, parts: Sequence[FeatureArray]) -> None:
        if not parts:
            raise InputError("designs", "no designs to train on")
        shapes = {tuple(p.shape[1:]) for p in parts}
        if len(shapes) != 1:
            raise InputError("designs", f"feature shapes differ between designs: {sorted(shapes)}")
        self.parts = list(parts)
        self.offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        self._row_shape = shapes.pop()

    @property
    def shape(self) -> tuple[int, ...]:
        return (int(self.offsets[-1]), *self._row_shape)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(design index, row within that design) of global rows `idx`."""
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"rows out of range 0..{len(self) - 1}")
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        return part, idx - self.offsets[part]

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        out = np.empty((len(idx), *self._row_shape), dtype=np.float32)
        part, local = self.locate(idx)
        for p in np.unique(part):
            sel = np.flatnonzero(part == p)
            rows = local[sel]
            order = np.argsort(rows, kind="stable")  # ascending reads (memmap locality, LazyFeatures' batch.take)
            got = np.asarray(self.parts[int(p)][rows[order]], dtype=np.float32)
            out[sel[order]] = got
        return out


@dataclass
class Corpus:
    """Designs concatenated for training: features, labels, each row's design and duplicate group."""

    designs: list[LoadedDesign]
    x: CorpusFeatures
    y: np.ndarray  # (N,) int64 1 / 0 / -1 (unused: failed, or dropped as a copy of a held-out layout)
    design_of: np.ndarray  # (N,) index into designs
    digests: np.ndarray  # (N,) "V16"
    groups: np.ndarray  # (N,) duplicate groups across the whole corpus

    def names(self) -> list[str]:
        return [d.name for d in self.designs]


def build_corpus(designs: Sequence[LoadedDesign], *, exclude_digests: np.ndarray | None = None) -> Corpus:
    """One training set over `designs`. Rows whose features equal any of `exclude_digests` (the held-out
    designs' layouts) are labelled -1, so no copy of a held-out layout is ever trained on."""
    designs = list(designs)
    x = CorpusFeatures([d.x for d in designs])
    y = np.concatenate([d.y for d in designs]).astype(np.int64)
    digests = np.concatenate([d.digests for d in designs])
    design_of = np.repeat(np.arange(len(designs)), [len(d.y) for d in designs]).astype(np.int64)
    if exclude_digests is not None and len(exclude_digests):
        leaked = np.isin(digests, exclude_digests)
        if leaked.any():
            log.warning("%d pretraining layouts equal a held-out layout: left out of training", int(leaked.sum()))
        y[leaked] = UNLABELLED
    return Corpus(designs=designs, x=x, y=y, design_of=design_of, digests=digests, groups=groups_of(digests))
