"""How well `placeq.topology.infer` reads a circuit: inferred subcircuit tags against hand-made ones.

Hand-made tags: the UT-AnLay authors' `.channel` files (../shared/ut-anlay, read from there) and our built-in
designs. Prints a Markdown table per design and per tag (docs/formats.md keeps the latest), and the symmetry
pairs found against the built-ins' given pairs.

    python benchmarks/tag_agreement.py [--shared ../shared] [--verbose]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Circuit, Subcircuit
from placeq.formats import read_netlist
from placeq.topology import infer

REPO = Path(__file__).resolve().parents[1]


def cases(shared: Path) -> list[tuple[str, Circuit]]:
    out = [(name, load_design(name)) for name in BUILTIN_DESIGNS]
    ut = shared / "ut-anlay"
    for sp in sorted(ut.glob("*.sp")) if ut.is_dir() else []:
        types, channels = sp.with_suffix(".json"), sp.with_suffix(".channel")
        if channels.is_file():
            out.append((f"ut-anlay/{sp.stem}", read_netlist(sp, types=types if types.is_file() else None,
                                                           channels=channels)))
    return out


def agreement(circuit: Circuit, verbose: bool = False) -> tuple[int, int, Counter[str], Counter[str], str]:
    topo = infer(circuit.model_copy(update={"devices": tuple(d.model_copy(update={"tags": ()})
                                                              for d in circuit.devices)}),
                 inputs=circuit.testbench.inputs if circuit.testbench else ())
    hit, per_tag_hit, per_tag_n = 0, Counter[str](), Counter[str]()
    for d in circuit.devices:
        given, got = set(d.tags), set(topo.tags.get(d.name, ()))
        ok = given == got
        hit += ok
        for t in given:
            per_tag_n[t.value] += 1
            per_tag_hit[t.value] += ok
        if verbose and not ok:
            print(f"    {d.name}: given {sorted(t.value for t in given)} inferred {sorted(t.value for t in got)}")
    given_pairs = {frozenset(p) for p in circuit.symmetry_pairs}
    got_pairs = {frozenset(p) for p in topo.pairs}
    sym = f"{len(given_pairs & got_pairs)}/{len(given_pairs)}" if given_pairs else f"- ({len(got_pairs)} found)"
    return hit, len(circuit.devices), per_tag_hit, per_tag_n, sym


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    tags = [s.value for s in Subcircuit]
    print("| design | devices | tags equal | " + " | ".join(tags) + " | given symmetry pairs found |")
    print("|---|---:|---:|" + "---:|" * len(tags) + "---:|")
    total = [0, 0]
    for name, circuit in cases(args.shared):
        if args.verbose:
            print(name)
        hit, n, th, tn, sym = agreement(circuit, args.verbose)
        total[0] += hit
        total[1] += n
        cells = " | ".join(f"{th[t]}/{tn[t]}" if tn[t] else "-" for t in tags)
        print(f"| {name} | {n} | {hit} ({100 * hit / n:.0f}%) | {cells} | {sym} |")
    print(f"| all | {total[1]} | {total[0]} ({100 * total[0] / total[1]:.1f}%) | " + " | " * len(tags) + " |")


if __name__ == "__main__":
    main()
