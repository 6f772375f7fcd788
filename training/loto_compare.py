"""Two leave-one-topology-out runs side by side, paired where they can be (`placeq loto --compare A B`).

Two runs of one corpus and seed see the same held-out layouts, the same test splits and the same 16-layout
draws (numpy generator ``[seed, repeat]``, whatever the number of repeats), so a change to pretraining or to a
recipe can be read draw by draw instead of through two medians: per family, the base model's FOR, the headline
16-shot FOR (paired by repeat, over the repeats both ran), alpha fine-tunes, and the in-distribution FOR per
design. A difference is B minus A in points; negative is better for B.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from placeq.errors import InputError


def _check(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    shared = [f for f in a["families"] if f in b["families"]]
    if not shared:
        raise InputError("compare", "the two runs hold out no family in common")
    if a["config"]["seed"] != b["config"]["seed"]:
        raise InputError("compare", "the runs differ in seed: their splits and draws are not the same")
    for f in shared:
        da, db = a["families"][f]["designs"], b["families"][f]["designs"]
        if set(da) != set(db) or any(da[n]["n"] != db[n]["n"] for n in da):
            raise InputError("compare", f"{f}: the runs did not hold out the same design spaces")
    return shared


def _designs(a: dict[str, Any], b: dict[str, Any], family: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each held-out design of `family`: (A's record, B's record)."""
    held_b = b["families"][family]["designs"]
    for name, da in a["families"][family]["designs"].items():
        yield da, held_b[name]


def _paired(a_rows: list[dict[str, Any]], b_rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """16-shot FOR of the repeats both runs made, A then B."""
    a_by, b_by = ({int(r["repeat"]): float(r["for_model_25"]) for r in rows} for rows in (a_rows, b_rows))
    common = sorted(set(a_by) & set(b_by))
    return np.array([a_by[k] for k in common]), np.array([b_by[k] for k in common])


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per shared family and "all": means of base FOR, 16-shot median FOR and alpha FOR for A and B, the paired
    16-shot wins of B (draws where B's FOR is lower / higher), and the in-distribution per-design FOR."""
    out: dict[str, dict[str, float]] = {}
    pooled: dict[str, list[float]] = {}
    for f in _check(a, b):
        row: dict[str, list[float]] = {}
        for da, db in _designs(a, b, f):
            row.setdefault("base_a", []).append(float(da["base"]["for_model_25"]))
            row.setdefault("base_b", []).append(float(db["base"]["for_model_25"]))
            fa, fb = _paired(da["fewshot"], db["fewshot"])
            row.setdefault("fs_a", []).extend(fa.tolist())
            row.setdefault("fs_b", []).extend(fb.tolist())
            for ra, rb in zip(da["alpha"], db["alpha"], strict=False):
                if ra["alpha"] == rb["alpha"] and "skipped" not in ra and "skipped" not in rb:
                    row.setdefault(f"alpha{ra['alpha']:g}_a", []).append(float(ra["for_model_25"]))
                    row.setdefault(f"alpha{ra['alpha']:g}_b", []).append(float(rb["for_model_25"]))
        for k, v in row.items():
            pooled.setdefault(k, []).extend(v)
        out[f] = _summary(row, len(a["families"][f]["designs"]))
        for side, run in (("a", a), ("b", b)):
            ind = run["families"][f]["pretrain"].get("val_for_25") or {}
            if "cnn_per_design" in ind:
                out[f][f"in_dist_{side}"] = float(ind["cnn_per_design"])
    out["all"] = _summary(pooled, sum(int(v["designs"]) for v in out.values()))
    return out


def _summary(row: dict[str, list[float]], designs: int) -> dict[str, float]:
    fa, fb = np.array(row.get("fs_a", [])), np.array(row.get("fs_b", []))
    s = {"designs": float(designs), "draws": float(len(fa)),
         "base_a": float(np.mean(row["base_a"])), "base_b": float(np.mean(row["base_b"])),
         "fs_a": float(np.median(fa)) if len(fa) else float("nan"),
         "fs_b": float(np.median(fb)) if len(fb) else float("nan"),
         "fs_b_better": float((fb < fa).sum()), "fs_b_worse": float((fb > fa).sum())}
    for k, v in row.items():
        if k.startswith("alpha"):
            s[k] = float(np.mean(v))
    return s


def render_comparison(result: dict[str, dict[str, float]], a_name: str, b_name: str) -> str:
    """Markdown table of `compare_runs` (FOR in %; 16-shot: median over designs x paired draws)."""
    alphas = sorted({k[:-2] for v in result.values() for k in v if k.startswith("alpha")})
    head = (["held out", "designs", f"base {a_name}", f"base {b_name}", f"16-shot {a_name}", f"16-shot {b_name}",
             f"draws {b_name} better / worse"] + [f"{al} {s}" for al in alphas for s in (a_name, b_name)]
            + [f"in-distribution {a_name}", f"in-distribution {b_name}"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def pct(v: float | None) -> str:
        return "-" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"

    for fam, s in result.items():
        cells = [f"**{fam}**" if fam == "all" else fam, f"{s['designs']:.0f}", pct(s["base_a"]), pct(s["base_b"]),
                 pct(s["fs_a"]), pct(s["fs_b"]), f"{s['fs_b_better']:.0f} / {s['fs_b_worse']:.0f}"]
        cells += [pct(s.get(f"{al}_{side}")) for al in alphas for side in ("a", "b")]
        cells += [pct(s.get("in_dist_a")), pct(s.get("in_dist_b"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_comparison(a: dict[str, Any], b: dict[str, Any], path: Path, a_name: str = "A",
                    b_name: str = "B") -> Path:
    """Per held-out design, A against B: the base model's FOR and the median 16-shot FOR over the paired draws
    (one dot per design, coloured by family; below the diagonal B is better)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for k, fam in enumerate(_check(a, b)):
        base, shots = [], []
        for da, db in _designs(a, b, fam):
            base.append((da["base"]["for_model_25"], db["base"]["for_model_25"]))
            fa, fb = _paired(da["fewshot"], db["fewshot"])
            shots.append((np.median(fa), np.median(fb)))
        for ax, pts in zip(axes, (base, shots), strict=True):
            xy = 100 * np.array(pts)
            ax.scatter(xy[:, 0], xy[:, 1], s=18, color=f"C{k}", label=fam)
    for ax, title in zip(axes, ("base model as is", "16-shot, median of the paired draws"), strict=True):
        lo, hi = ax.get_xlim()[0], ax.get_xlim()[1]
        lo, hi = min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1])
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8)
        ax.axhline(25, color="0.7", lw=0.6, ls=":")
        ax.axvline(25, color="0.7", lw=0.6, ls=":")
        ax.set_xlabel(f"FOR at 25% pruned (%), {a_name}")
        ax.set_ylabel(f"FOR at 25% pruned (%), {b_name}")
        ax.set_title(f"Held-out designs: {title}", fontsize=10)
    axes[1].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


__all__ = ["compare_runs", "plot_comparison", "render_comparison"]
