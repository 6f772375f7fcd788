"""Pictures for docs/placer.md from a generated design-space dataset (diversity histograms, a few placements).

    .venv/bin/python benchmarks/placer_figures.py --design ota1 --data var/ota1_space.parquet [--out docs/img]

Writes placer_diversity.png (total HPWL and matched-pair distances over the space, and the HPWL ratio
raised / not raised of each critical net) and placer_examples.png (four placements: shortest and longest total
HPWL, no net raised, all raised), and prints the summary numbers as JSON. HPWL counts the IO pins on the
boundary and leaves bulk pins out, as the placer does (`training.placer.hpwl`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from placeq.batch import PlacementBatch  # noqa: E402
from placeq.domain import Circuit, DeviceKind  # noqa: E402
from training.dataset import read_batch, read_meta  # noqa: E402
from training.placer.hpwl import net_hpwl, symmetry_axis  # noqa: E402
from training.placer.io_pins import io_pins, legal_positions  # noqa: E402

COLOURS = {DeviceKind.NMOS: "#4c72b0", DeviceKind.PMOS: "#c44e52", DeviceKind.CAP: "#55a868", DeviceKind.RES: "#dd8452"}


def load(name_or_path: str) -> Circuit:
    path = Path(name_or_path)
    if path.is_file():
        return Circuit.model_validate_json(path.read_text())
    from placeq.circuits import load_design

    circuit: Circuit = load_design(name_or_path)
    return circuit


def pair_distance(batch: PlacementBatch, circuit: Circuit) -> np.ndarray:
    """(B, K) centre distance between the members of each matched pair."""
    idx = {n: i for i, n in enumerate(batch.device_names)}
    centre = batch.boxes[..., :2] + batch.boxes[..., 2:] / 2
    cols = [np.linalg.norm(centre[:, idx[a]] - centre[:, idx[b]], axis=1) for a, b in circuit.symmetry_pairs]
    return np.stack(cols, axis=1)


def draw(ax: Axes, batch: PlacementBatch, i: int, title: str, io: tuple[tuple[str, ...], np.ndarray]) -> None:
    """Placement i: devices by kind, pins in grey, the IO pins (names, (I, 2) positions) as labelled markers."""
    for name, kind, (x, y, w, h) in zip(batch.device_names, batch.kinds, batch.boxes[i], strict=True):
        ax.add_patch(Rectangle((x, y), w, h, facecolor=COLOURS[kind], alpha=0.55, edgecolor="black", lw=0.5))
        if w * h > 12:
            ax.text(x + w / 2, y + h / 2, name, fontsize=5, ha="center", va="center")
    for x0, y0, x1, y1 in batch.pin_boxes[i]:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="black", alpha=0.35, lw=0))
    names, xy = io
    ax.plot(xy[:, 0], xy[:, 1], "k^", ms=4)
    seen: dict[tuple[float, float], int] = {}
    for name, (x, y) in zip(names, xy, strict=True):
        k = seen[(x, y)] = seen.get((x, y), -1) + 1  # pins at one spot (VSS and bias ports): stack the labels
        ax.annotate(name, (x, y), fontsize=5, xytext=(2, 2 + 6 * k), textcoords="offset points")
    right = max((batch.boxes[i, :, 0] + batch.boxes[i, :, 2]).max(), xy[:, 0].max(initial=0.0))
    left = min(0.0, xy[:, 0].min(initial=0.0))
    top = (batch.boxes[i, :, 1] + batch.boxes[i, :, 3]).max()
    ax.set_xlim(left - 1, right + 3)
    ax.set_ylim(-1, top + 2)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="ota1")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    args = ap.parse_args()
    circuit = load(args.design)
    batch = read_batch(args.data)
    meta = read_meta(args.data)
    hp = net_hpwl(batch, circuit)  # (B, M)
    total = hp.sum(1)
    pairs = pair_distance(batch, circuit)
    distinct = len({b.tobytes() for b in batch.boxes})
    ids = np.asarray(meta.get("subset_ids", np.arange(len(batch))))
    k = len(circuit.critical_nets)
    raised_mask = ((ids[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)  # (B, k)
    ratio = {}
    for j, net in enumerate(circuit.critical_nets):
        col = hp[:, batch.nets.index(net)]
        if raised_mask[:, j].any() and (~raised_mask[:, j]).any():
            ratio[net] = float(col[raised_mask[:, j]].mean() / col[~raised_mask[:, j]].mean())
    args.out.mkdir(parents=True, exist_ok=True)

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    axes[0].hist(total, bins=60, color="#4c72b0")
    axes[0].set_xlabel("total HPWL (um, IO pins in, bulk pins out)")
    axes[0].set_ylabel("placements")
    axes[1].hist(pairs.mean(1), bins=60, color="#55a868")
    axes[1].set_xlabel("mean matched-pair centre distance (um)")
    first = circuit.symmetry_pairs[0]
    axes[2].hist(pairs[:, 0], bins=60, color="#c44e52")
    axes[2].set_xlabel(f"{first[0]}/{first[1]} (input pair) centre distance (um)")
    axes[3].barh(list(ratio), list(ratio.values()), color="#8172b3")
    axes[3].axvline(1.0, color="black", lw=0.8)
    axes[3].invert_yaxis()
    axes[3].tick_params(axis="y", labelsize=7)
    axes[3].set_xlabel("net HPWL, raised / not raised (mean)")
    fig.suptitle(f"{circuit.name}: {len(batch)} placements ({distinct} distinct), one per subset of {k} "
                 "critical nets", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out / "placer_diversity.png", dpi=100)

    j = 0  # first critical net
    raised = np.flatnonzero((ids >> j) & 1)
    plain = np.flatnonzero(((ids >> j) & 1) == 0)
    picks = [
        (int(np.argmin(total)), "shortest total HPWL"),
        (int(np.argmax(total)), "longest total HPWL"),
        (int(plain[0]), f"id {ids[plain[0]]}: no net raised" if ids[plain[0]] == 0 else f"id {ids[plain[0]]}"),
        (int(raised[-1]), f"id {ids[raised[-1]]}: all critical nets raised"
         if ids[raised[-1]] == (1 << len(circuit.critical_nets)) - 1 else f"id {ids[raised[-1]]}"),
    ]
    pins = io_pins(circuit)
    io_xy = legal_positions(pins, batch.boxes, symmetry_axis(batch, circuit))  # (B, I, 2)
    fig, axes = plt.subplots(1, 4, figsize=(14, 4))
    for ax, (i, label) in zip(axes, picks, strict=True):
        draw(ax, batch, i, f"{label}\nHPWL {total[i]:.0f} um", (pins.names, io_xy[i]))
    fig.tight_layout()
    fig.savefig(args.out / "placer_examples.png", dpi=110)

    print(json.dumps({
        "placements": len(batch),
        "distinct": distinct,
        "hpwl_mean": round(float(total.mean()), 1), "hpwl_std": round(float(total.std()), 1),
        "hpwl_p5_p95": [round(float(v), 1) for v in np.percentile(total, [5, 95])],
        "pair_distance_mean": round(float(pairs.mean()), 2),
        "pair_distance_p5_p95": [round(float(v), 2) for v in np.percentile(pairs.mean(1), [5, 95])],
        "pair_distance_std": round(float(pairs.mean(1).std()), 2),
        "input_pair_distance_p5_median_p95": [round(float(v), 2) for v in np.percentile(pairs[:, 0], [5, 50, 95])],
        "hpwl_ratio_raised": {n: round(v, 2) for n, v in ratio.items()},
    }))


if __name__ == "__main__":
    main()
