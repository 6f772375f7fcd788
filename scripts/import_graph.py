"""Draw the package import graph as it is (docs/img/import_graph.png): one box per package, one arrow per
imported package, labelled with the number of modules that import it. Read from the source with ast."""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# (x, y) of each package: the composition root on top, the torch-free core at the bottom.
POSITION = {"cli": (0.5, 0.92), "service": (0.25, 0.68), "training": (0.75, 0.5), "model_store": (0.25, 0.36),
            "simulate": (0.8, 0.24), "placeq": (0.45, 0.06)}
TORCH = {"training"}


def edges() -> Counter[tuple[str, str]]:
    count: Counter[tuple[str, str]] = Counter()
    for package in POSITION:
        for f in (REPO / package).rglob("*.py"):
            seen: set[str] = set()
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    seen.add(node.module.split(".")[0])
                elif isinstance(node, ast.Import):
                    seen |= {a.name.split(".")[0] for a in node.names}
            for target in seen & set(POSITION) - {package}:
                count[(package, target)] += 1
    return count


def main(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 6.5))
    ax.set_axis_off()
    for (src, dst), n in sorted(edges().items()):
        (x0, y0), (x1, y1) = POSITION[src], POSITION[dst]
        ax.annotate("", xy=(x1, y1 + 0.035), xytext=(x0, y0 - 0.035),
                    arrowprops={"arrowstyle": "->", "color": "#555", "lw": 1.0 + 0.08 * n, "shrinkA": 4, "shrinkB": 4})
        ax.text(x0 + 0.35 * (x1 - x0), y0 + 0.35 * (y1 - y0), str(n), fontsize=8, color="#333",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})
    for name, (x, y) in POSITION.items():
        color = "#f4c7a1" if name in TORCH else "#bcd9f0"
        ax.text(x, y, name + ("/\n(torch)" if name in TORCH else "/"), ha="center", va="center", fontsize=11,
                bbox={"boxstyle": "round,pad=0.5", "fc": color, "ec": "#333"})
    ax.set_title("Imports between placeq's packages (arrow: importer -> imported; label: modules)", fontsize=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "img" / "import_graph.png")
