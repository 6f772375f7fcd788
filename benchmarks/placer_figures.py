"""Pictures for docs/placer.md from a generated design-space dataset (diversity histograms, a few placements).

    .venv/bin/python benchmarks/placer_figures.py --design ota1 --data var/ota1_space.parquet [--out docs/img]

Writes placer_diversity.png (total HPWL and matched-pair distance over the space) and placer_examples.png
(four placements: shortest and longest total HPWL, two with the input-pair net raised / not raised), and prints
the summary numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from placeq.batch import PlacementBatch  # noqa: E402
from placeq.domain import Circuit, DeviceKind  # noqa: E402
from training.dataset import read_batch, read_meta  # noqa: E402

COLOURS = {DeviceKind.NMOS: "#4c72b0", DeviceKind.PMOS: "#c44e52", DeviceKind.CAP: "#55a868", DeviceKind.RES: "#dd8452"}


def load(name_or_path: str) -> Circuit:
    path = Path(name_or_path)
    if path.is_file():
        return Circuit.model_validate_json(path.read_text())
    from placeq.circuits import load_design

    circuit: Circuit = load_design(name_or_path)
    return circuit


def net_hpwl(batch: PlacementBatch) -> np.ndarray:
    """(B, M) HPWL of each net over its non-bulk pin centres (0 for nets with < 2 such pins)."""
    centre = (batch.pin_boxes[..., :2] + batch.pin_boxes[..., 2:]) / 2  # (B, P, 2)
    keep = np.array([t != "B" for t in batch.pin_terminal])
    out = np.zeros((len(batch), len(batch.nets)))
    for m in range(len(batch.nets)):
        sel = keep & (batch.pin_net == m)
        if sel.sum() >= 2:
            pins = centre[:, sel]
            out[:, m] = (pins.max(1) - pins.min(1)).sum(1)
    return out


def pair_distance(batch: PlacementBatch, circuit: Circuit) -> np.ndarray:
    """(B, K) centre distance between the members of each matched pair."""
    idx = {n: i for i, n in enumerate(batch.device_names)}
    centre = batch.boxes[..., :2] + batch.boxes[..., 2:] / 2
    cols = [np.linalg.norm(centre[:, idx[a]] - centre[:, idx[b]], axis=1) for a, b in circuit.symmetry_pairs]
    return np.stack(cols, axis=1)


def draw(ax: plt.Axes, batch: PlacementBatch, i: int, title: str) -> None:
    for name, kind, (x, y, w, h) in zip(batch.device_names, batch.kinds, batch.boxes[i], strict=True):
        ax.add_patch(Rectangle((x, y), w, h, facecolor=COLOURS[kind], alpha=0.55, edgecolor="black", lw=0.5))
        if w * h > 12:
            ax.text(x + w / 2, y + h / 2, name, fontsize=5, ha="center", va="center")
    for x0, y0, x1, y1 in batch.pin_boxes[i]:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="black", alpha=0.35, lw=0))
    right = (batch.boxes[i, :, 0] + batch.boxes[i, :, 2]).max()
    top = (batch.boxes[i, :, 1] + batch.boxes[i, :, 3]).max()
    ax.set_xlim(-1, right + 1)
    ax.set_ylim(-1, top + 1)
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
    hp = net_hpwl(batch)
    total = hp.sum(1)
    pairs = pair_distance(batch, circuit)
    args.out.mkdir(parents=True, exist_ok=True)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].hist(total, bins=60, color="#4c72b0")
    axes[0].set_xlabel("total HPWL (um, bulk pins excluded)")
    axes[0].set_ylabel("placements")
    axes[1].hist(pairs.mean(1), bins=60, color="#55a868")
    axes[1].set_xlabel("mean matched-pair centre distance (um)")
    first = circuit.symmetry_pairs[0]
    axes[2].hist(pairs[:, 0], bins=60, color="#c44e52")
    axes[2].set_xlabel(f"{first[0]}/{first[1]} centre distance (um)")
    fig.suptitle(f"{circuit.name}: {len(batch)} placements, one per subset of {len(circuit.critical_nets)} "
                 "critical nets", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out / "placer_diversity.png", dpi=110)

    ids = np.asarray(meta.get("subset_ids", np.arange(len(batch))))
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
    fig, axes = plt.subplots(1, 4, figsize=(14, 4))
    for ax, (i, label) in zip(axes, picks, strict=True):
        draw(ax, batch, i, f"{label}\nHPWL {total[i]:.0f} um")
    fig.tight_layout()
    fig.savefig(args.out / "placer_examples.png", dpi=110)

    print(json.dumps({
        "placements": len(batch),
        "distinct": len({b.tobytes() for b in batch.boxes}),
        "hpwl_mean": round(float(total.mean()), 1), "hpwl_std": round(float(total.std()), 1),
        "hpwl_p5_p95": [round(float(v), 1) for v in np.percentile(total, [5, 95])],
        "pair_distance_mean": round(float(pairs.mean()), 2),
        "pair_distance_p5_p95": [round(float(v), 2) for v in np.percentile(pairs.mean(1), [5, 95])],
    }))


if __name__ == "__main__":
    main()
