"""Rasterizer throughput on one core: a synthetic 45-device OTA-sized design (120 pins, 40 nets).

    .venv/bin/python benchmarks/bench_rasterize.py [--batch 4096] [--repeats 7]

Prints the median over `repeats` runs of `rasterize_batch` (layouts/s: feat, nofeat, and feat into a reused
`out=` buffer) and of one `rasterize` call (latency, including building the one-placement batch from the
pydantic object). Wall and CPU time of this process are both shown: on a shared machine CPU time is the
fairer per-core figure.
Threads are pinned to 1 before numpy loads, so the figure is per core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from placeq.batch import PlacementBatch  # noqa: E402
from placeq.domain import SUBCIRCUITS, DeviceKind  # noqa: E402
from placeq.features import FEATURE_SHAPE, _plan, rasterize, rasterize_batch  # noqa: E402

N_DEVICES, N_PINS, N_NETS = 45, 120, 40


def synthetic_batch(b: int, seed: int = 0) -> PlacementBatch:
    """B random placements of one 45-device design: devices on a jittered 9x5 grid, pins inside devices."""
    rng = np.random.default_rng(seed)
    kinds = tuple(rng.choice(list(DeviceKind), size=N_DEVICES, p=[0.45, 0.4, 0.1, 0.05]))
    tags = tuple(
        (SUBCIRCUITS[i % 5],) if i % 7 else (SUBCIRCUITS[i % 5], SUBCIRCUITS[(i + 1) % 5]) for i in range(N_DEVICES)
    )
    pin_device = np.sort(np.arange(N_PINS) % N_DEVICES)
    pin_net = rng.integers(0, N_NETS, N_PINS)
    pin_net[:N_NETS] = np.arange(N_NETS)  # every net has a pin
    size = rng.uniform(1.0, 8.0, (1, N_DEVICES, 2))
    slot = np.stack(np.meshgrid(np.arange(9), np.arange(5)), -1).reshape(1, N_DEVICES, 2) * 10.0
    perm = np.argsort(rng.random((b, N_DEVICES)), axis=1)  # (B, N): each placement shuffles the slots
    xy = slot[0][perm] + rng.uniform(-2.0, 2.0, (b, N_DEVICES, 2))  # (B, N, 2)
    boxes = np.concatenate([xy, np.broadcast_to(size, (b, N_DEVICES, 2))], axis=-1)  # (B, N, 4)
    frac = rng.uniform(0.0, 0.8, (1, N_PINS, 2))
    lo = boxes[:, pin_device, :2] + frac * boxes[:, pin_device, 2:]
    pin_boxes = np.concatenate([lo, lo + 0.2], axis=-1)  # (B, P, 4)
    return PlacementBatch(
        design="bench45",
        device_names=tuple(f"M{i}" for i in range(N_DEVICES)),
        kinds=kinds,
        tags=tags,
        pin_device=pin_device,
        pin_terminal=tuple("DGSB"[i % 4] + str(i) for i in range(N_PINS)),
        pin_net=pin_net,
        nets=tuple(f"n{i}" for i in range(N_NETS)),
        boxes=boxes,
        pin_boxes=pin_boxes,
    )


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of this process (the latter is robust to a busy machine)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096, help="placements per rasterize_batch call")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the median is reported")
    args = parser.parse_args()
    batch = synthetic_batch(args.batch)
    one = batch.placement(0)
    print(f"design: {N_DEVICES} devices, {N_PINS} pins, {N_NETS} nets; batch {args.batch}; numpy {np.__version__}")
    for nofeat in (False, True):
        wall, cpu = median_seconds(lambda nf=nofeat: rasterize_batch(batch, nofeat=nf), args.repeats)
        name = "nofeat" if nofeat else "feat"
        print(
            f"rasterize_batch {name:6s}: wall {wall * 1e3:7.1f} ms = {args.batch / wall:6.0f} layouts/s;"
            f"  cpu {cpu * 1e3:7.1f} ms = {args.batch / cpu:6.0f} layouts/s"
        )
    buffer = np.zeros((args.batch, *FEATURE_SHAPE), dtype=np.float32)
    wall, cpu = median_seconds(lambda: rasterize_batch(batch, out=buffer), args.repeats)
    print(
        f"rasterize_batch feat, reused out=: wall {wall * 1e3:7.1f} ms = {args.batch / wall:6.0f} layouts/s;"
        f"  cpu {cpu * 1e3:7.1f} ms = {args.batch / cpu:6.0f} layouts/s"
    )
    # A training minibatch block: 16 layouts of one design, re-planned on every call (is a plan cache worth it?)
    block = batch.take(np.arange(min(16, args.batch)))
    plan_wall, _ = median_seconds(lambda: _plan(block, False), max(args.repeats, 50))
    block_wall, _ = median_seconds(lambda: rasterize_batch(block), max(args.repeats, 50))
    print(f"16-layout block: rasterize_batch {block_wall * 1e3:.2f} ms, of which building the plan "
          f"{plan_wall * 1e3:.2f} ms ({100 * plan_wall / block_wall:.0f}%)")
    wall, cpu = median_seconds(lambda: rasterize(one), max(args.repeats, 50))
    print(f"rasterize (one placement): wall {wall * 1e6:5.0f} us; cpu {cpu * 1e6:5.0f} us")


if __name__ == "__main__":
    main()
