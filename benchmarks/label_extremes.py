"""Draw a design space's best and worst placements beside their features (the paper's Fig. 2) for the docs.

    .venv/bin/python benchmarks/label_extremes.py var/exp/ota1.parquet var/exp/ota1.labels.parquet \
        -o docs/img/sim_ota1_extremes.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from matplotlib.figure import Figure
from matplotlib.image import imread

from placeq.draw import draw_placement
from placeq.labels import worst_quartile
from training.dataset import read_batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("placements", type=Path)
    ap.add_argument("labels", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    batch = read_batch(args.placements)
    table = pq.read_table(args.labels).to_pydict()
    metric = table["metric"][0]
    values = np.asarray(table["value"], dtype=np.float64)
    index = np.asarray(table["index"], dtype=np.int64)
    ok = np.isfinite(values)
    badness = np.abs(values) if metric == "offset" else -values
    labels = worst_quartile(values, metric)
    worst, best = index[ok][np.argmax(badness[ok])], index[ok][np.argmin(badness[ok])]
    unit = (lambda v: f"|offset| = {abs(v) * 1e3:.3f} mV") if metric == "offset" else (lambda v: f"CMRR = {v:.1f} dB")
    fig = Figure(figsize=(12, 10.5), dpi=100, layout="constrained")
    with tempfile.TemporaryDirectory() as tmp:
        for row, (name, i) in enumerate((("(a) worst", worst), ("(b) best", best))):
            pos = int(np.flatnonzero(index == i)[0])
            title = f"{name} of {len(values)} {batch.design} placements: {unit(values[pos])}, label {labels[pos]}"
            png = draw_placement(batch.placement(int(i)), Path(tmp) / f"{row}.png", title=title)
            ax = fig.add_subplot(2, 1, row + 1)
            ax.imshow(imread(png))
            ax.set_axis_off()
    fig.savefig(args.output)
    print(f"{args.output}: worst #{worst}, best #{best}, failed {int((~ok).sum())}")


if __name__ == "__main__":
    main()
