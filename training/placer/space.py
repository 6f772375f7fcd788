"""The design space of a circuit (paper Sec. III-A) placed: one placement per subset of its k critical nets.

Which subsets a space holds is `placeq.space` (torch-free, so the API and `placeq.suggest` share it). Each
placement's row does not depend on which other rows share its batch, so a space can be generated in any chunking.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing as mp
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace

import numpy as np
import torch

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError
from placeq.space import space_ids, subsets_of
from training.placer.config import PlacerConfig
from training.placer.legalize import legalize, pin_boxes
from training.placer.place import global_place
from training.placer.problem import PlacementProblem

Progress = Callable[[int, int], None]  # (placements done, total)


def place_rows(problem: PlacementProblem, weights: np.ndarray, config: PlacerConfig, *, seed: int,
               rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Global placement + legalization of one chunk: weights (B, M) -> boxes (B, N, 4), pin boxes (B, P, 4)."""
    gp = global_place(problem, weights, config, seed=seed, rows=rows)
    boxes, mirrored = legalize(problem, gp)
    return boxes, pin_boxes(problem, boxes, mirrored)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory instead of returning it to the kernel; True if it could.

    Each placer iteration allocates and frees tens of (B, N^2/2) float tensors of a few MB. With glibc's
    defaults, blocks that size are mmap'ed and unmapped, or trimmed off the heap, every time, and the page
    faults cost a quarter of the CPU time (system time). A fixed mmap threshold of 32 MB and trim threshold of
    256 MB keep them in the heap. Process-wide, so it is applied in the placer's own worker processes only.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 256 << 20))
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False


def _start_worker(threads: int) -> None:
    """Worker-process initializer: torch threads and malloc settings, once per process."""
    torch.set_num_threads(threads)
    keep_freed_memory()


def _place_chunk(problem: PlacementProblem, weights: np.ndarray, config: PlacerConfig, seed: int,
                 rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Worker-process entry (see `_start_worker`)."""
    return place_rows(problem, weights, config, seed=seed, rows=rows)


def generate_space(circuit: Circuit, *, count: int | None, seed: int, config: PlacerConfig | None = None,
                   batch_size: int | None = None, progress: Progress | None = None, ids: np.ndarray | None = None
                   ) -> tuple[PlacementBatch, np.ndarray]:
    """Place `count` sampled subsets (None: all 2^k) of the critical nets -> (placements, net weights (B, M)).
    Given `ids` (from `space_ids`), place exactly those subsets: one slice of a space, identical to its rows in the
    whole space (a row does not depend on its batch), which is how an explore job splits a space over workers.

    Net weights are in `batch.nets` order. With `config.workers` > 1, chunks of `batch_size` run in that many
    spawned processes (not from inside a daemonic process, e.g. a Celery prefork worker: keep workers=1 there).
    """
    cfg = config or PlacerConfig()
    size = batch_size or cfg.batch_size
    if size < 1:
        raise InputError("batch_size", f"must be >= 1, got {size}")
    problem = PlacementProblem.from_circuit(circuit, cfg)
    if ids is None:
        ids = space_ids(len(problem.critical), count, seed)
    elif len(ids) == 0 or ids.min() < 0 or ids.max() >= 1 << len(problem.critical):
        raise InputError("ids", f"subset ids must lie in [0, 2^{len(problem.critical)}) and not be empty")
    weights = problem.weights(subsets_of(ids, len(problem.critical)))  # (B, M)
    chunks = [slice(start, start + size) for start in range(0, len(ids), size)]
    results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(chunks)
    done = 0
    if cfg.workers > 1 and len(chunks) > 1:
        # spawn, not fork: a forked child of a process that already ran torch ops can deadlock in OpenMP.
        with ProcessPoolExecutor(min(cfg.workers, len(chunks)), mp_context=mp.get_context("spawn"),
                                 initializer=_start_worker, initargs=(cfg.threads,)) as pool:
            futures = {pool.submit(_place_chunk, problem, weights[sl], cfg, seed, ids[sl]): k
                       for k, sl in enumerate(chunks)}
            for fut in as_completed(futures):
                k = futures[fut]
                results[k] = fut.result()
                done += len(ids[chunks[k]])
                if progress is not None:
                    progress(done, len(ids))
    else:
        previous = torch.get_num_threads()
        torch.set_num_threads(cfg.threads)
        try:
            for k, sl in enumerate(chunks):
                results[k] = place_rows(problem, weights[sl], cfg, seed=seed, rows=ids[sl])
                done += len(ids[sl])
                if progress is not None:
                    progress(done, len(ids))
        finally:
            torch.set_num_threads(previous)
    boxes = [r[0] for r in results if r is not None]
    pins = [r[1] for r in results if r is not None]
    batch = PlacementBatch(
        design=problem.design,
        device_names=problem.device_names,
        kinds=problem.kinds,
        tags=problem.tags,
        pin_device=problem.pin_device,
        pin_terminal=problem.pin_terminal,
        pin_net=problem.pin_net,
        nets=problem.nets,
        boxes=np.concatenate(boxes),
        pin_boxes=np.concatenate(pins),
    )
    return batch, weights


def distinct_rows(batch: PlacementBatch) -> np.ndarray:
    """Indices of the first placement of each distinct set of device boxes (legalized onto the grid, so equal
    placements are equal to the bit)."""
    _, first = np.unique(batch.boxes.reshape(len(batch), -1), axis=0, return_index=True)
    return np.sort(first)


MAX_DISTINCT_ROUNDS = 16
ROUND_ASPECTS = (1.0, 0.75, 4 / 3, 0.6, 5 / 3)  # outline height / width factors of successive rounds


def generate_distinct(circuit: Circuit, *, count: int, seed: int, config: PlacerConfig | None = None,
                      batch_size: int | None = None) -> tuple[PlacementBatch, np.ndarray]:
    """`count` distinct placements where the design space holds them: net weightings as `generate_space` samples
    them, and when a small circuit's weightings legalize to the same placement (a 5-transistor OTA has a handful
    of layouts under net weighting alone), the same weightings again from other starting positions (seeds
    seed+1, ...), wider initial spreads and other outline aspect ratios (ROUND_ASPECTS), up to
    MAX_DISTINCT_ROUNDS rounds. May return fewer."""
    cfg = config or PlacerConfig()
    batch, weights = generate_space(circuit, count=count, seed=seed, config=cfg, batch_size=batch_size)
    keep = distinct_rows(batch)
    batch, weights = batch.take(keep), weights[keep]
    for extra in range(1, MAX_DISTINCT_ROUNDS):
        if len(batch) >= count:
            break
        varied = replace(cfg, init_spread=min(1.0, cfg.init_spread * (1 + extra)),
                         aspect_ratio=cfg.aspect_ratio * ROUND_ASPECTS[extra % len(ROUND_ASPECTS)])
        more, more_w = generate_space(circuit, count=count, seed=seed + extra, config=varied, batch_size=batch_size)
        joined = replace(batch, boxes=np.concatenate([batch.boxes, more.boxes]),
                         pin_boxes=np.concatenate([batch.pin_boxes, more.pin_boxes]))
        keep = distinct_rows(joined)
        batch, weights = joined.take(keep), np.concatenate([weights, more_w])[keep]
    return batch.take(slice(0, count)), weights[:count]
