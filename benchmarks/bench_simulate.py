"""Labelled placements per second, from placement arrays to a stored label file (netlists built on the way).

    .venv/bin/python benchmarks/bench_simulate.py --jobs 2 --count 4096 --repeat 3

Placements: random but legal (every device's footprint packed left to right into rows, in a random order per
placement), so every netlist differs; the placer's own design spaces cost the same per placement. No cache.
Prints one JSON line per design with the median over repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from placeq.batch import PlacementBatch
from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Circuit
from placeq.footprint import footprint
from training.simulate.label import label_batch, write_labels


def random_rows(circuit: Circuit, count: int, seed: int, row_um: float = 60.0) -> PlacementBatch:
    """`count` legal placements: footprints packed into rows in a random device order each."""
    rng = np.random.default_rng(seed)
    prints = [footprint(d) for d in circuit.devices]
    nets = circuit.nets()
    pin_device, pin_terminal, pin_net, rel = [], [], [], []
    for n, (dev, fp) in enumerate(zip(circuit.devices, prints, strict=True)):
        for term, box in fp.pins.items():
            pin_device.append(n)
            pin_terminal.append(term)
            pin_net.append(nets.index(dev.terminals[term]))
            rel.append(box)
    size = np.array([(fp.w, fp.h) for fp in prints])  # (N, 2)
    boxes = np.zeros((count, len(prints), 4))
    for b in range(count):
        x = y = row_h = 0.0
        for n in rng.permutation(len(prints)):
            w, h = size[n]
            if x + w > row_um:
                x, y, row_h = 0.0, y + row_h + 0.4, 0.0
            boxes[b, n] = (x, y, w, h)
            x, row_h = x + w + 0.4, max(row_h, h)
    dev = np.array(pin_device)
    pins = boxes[:, dev, :2][..., [0, 1, 0, 1]] + np.array(rel)[None]  # (B, P, 4)
    return PlacementBatch(
        design=circuit.name, device_names=tuple(d.name for d in circuit.devices),
        kinds=tuple(d.kind for d in circuit.devices), tags=tuple(d.tags for d in circuit.devices),
        pin_device=dev, pin_terminal=tuple(pin_terminal), pin_net=np.array(pin_net), nets=tuple(nets),
        boxes=boxes, pin_boxes=pins,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", default=",".join(BUILTIN_DESIGNS))
    parser.add_argument("--count", type=int, default=4096)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=256)
    args = parser.parse_args()
    for name in args.designs.split(","):
        circuit = load_design(name)
        batch = random_rows(circuit, args.count, seed=0)
        rates, failed = [], 0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                table = label_batch(circuit, batch, jobs=args.jobs, chunk_size=args.chunk_size)
                write_labels(table, Path(tmp) / "labels.parquet")
                rates.append(len(batch) / (time.perf_counter() - start))
                failed = int((~table.ok).sum())
        rate = statistics.median(rates)
        print(json.dumps({
            "design": name, "devices": len(circuit.devices), "metric": table.metric, "placements": len(batch),
            "jobs": args.jobs, "labels_per_s": round(rate), "ms_per_label_per_core": round(args.jobs / rate * 1e3, 2),
            "failed": failed, "offset_mv_p50": round(float(np.nanmedian(np.abs(table.offset))) * 1e3, 3),
        }))


if __name__ == "__main__":
    main()
