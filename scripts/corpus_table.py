"""The table of docs/corpus.md: per generated design its topology, size, metric, check numbers and the distribution
of its labels, from `placeq generate-topologies`' summary and the `placeq simulate` tables.

    python scripts/corpus_table.py var/corpus/designs var/corpus/labels

Offset rows give |offset| in uV (median, p75, p95: the worst quartile starts at p75); CMRR rows give dB (median,
p25, p5: low CMRR is bad, so the worst quartile starts at p25). Failed simulations are counted, never hidden.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from placeq.circuits import load_design
from training.feed import read_values


def main(designs: Path, labels: Path) -> int:
    summary = {r["name"]: r for r in json.loads((designs / "generate_summary.json").read_text())}
    print("| design | topology | devices | metric | gain (dB) | margin (V) | labelled | failed | median | "
          "p75 / p25 | p95 / p5 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(designs.glob("gen_*.json")):
        c = load_design(str(path))
        row = summary[c.name]
        table = labels / f"{c.name}.labels.parquet"
        if table.is_file():
            values, metric = read_values(table)
            ok = values[np.isfinite(values)]
            failed = int(len(values) - len(ok))
            if metric == "offset":
                q = np.percentile(np.abs(ok) * 1e6, [50, 75, 95])
                stats = [f"{v:.0f} uV" for v in q]
            else:
                q = np.percentile(ok, [50, 25, 5])
                stats = [f"{v:.1f} dB" for v in q]
            done = str(len(ok))
        else:
            failed, done, stats = 0, "-", ["-", "-", "-"]
        print(f"| {c.name} | {row['topology']} | {len(c.devices)} | {row['metric']} | {row['gain_db']} | "
              f"{row['margin_V']} ({row['margin_device']}) | {done} | {failed} | {' | '.join(stats)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
