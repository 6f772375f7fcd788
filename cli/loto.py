"""``placeq loto``: leave-one-topology-out over a labelled corpus (issue 14; training/loto.py, docs/generalization.md).

Writes ``loto.json`` (config, pretraining record and every per-repeat row), ``loto.md`` (the table) and
``loto.png`` (per-family means) into ``--out``; the JSON is rewritten after each family, so a long run that is
stopped keeps what it finished. torch is imported inside the handler only.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from placeq import recipes
from placeq.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE
from placeq.devices import DEVICES
from placeq.errors import InputError

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("loto", help="leave-one-topology-out: pretrain on the other families, measure on one")
    p.add_argument("--corpus", type=Path, default=Path("var/corpus"),
                   help="corpus folder with designs/, spaces/ and labels/ (docs/corpus.md)")
    p.add_argument("--builtins", type=Path, default=None,
                   help="folder with otaN.parquet + otaN.labels.parquet: the built-ins join every pretraining set")
    p.add_argument("--families", default="", help="comma-separated families to hold out (default: every one)")
    p.add_argument("--family-key", choices=("stage_output", "stage", "topology"), default="stage_output",
                   help="how design names group into families (default stage_output: e.g. fc_fd)")
    p.add_argument("--list", action="store_true", help="print the designs per family and exit")
    p.add_argument("--max-per-design", type=int, default=512, help="pretraining layouts per design (0 = all)")
    p.add_argument("--eval-per-design", type=int, default=0, help="layouts per held-out design (0 = all)")
    p.add_argument("--arch", choices=ARCHITECTURES, default=DEFAULT_ARCHITECTURE, help="CNN architecture")
    p.add_argument("--epochs", type=int, default=1, help="pretraining epochs (early stopping on validation)")
    p.add_argument("--pair-weight", type=float, default=0.0,
                   help="pretraining: weight of a within-design pairwise order loss added to the BCE (0 = BCE only; "
                        "docs/generalization.md)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    p.add_argument("--val-frac", type=float, default=0.1,
                   help="pretraining validation share (early stopping, threshold, in-distribution FOR)")
    p.add_argument("--shots", type=int, default=16, help="few-shot training layouts")
    p.add_argument("--repeats", type=int, default=20, help="few-shot draws per held-out design (issue 14: 100)")
    p.add_argument("--ft-epochs", type=int, default=5, help="few-shot fine-tuning epochs")
    p.add_argument("--ft-recipes", default="gentle",
                   help=f"comma-separated few-shot recipes, each run on the same draws; the first is the headline "
                        f"column (of {', '.join(c for c in recipes.CHOICES if c != 'auto')}; docs/generalization.md)")
    p.add_argument("--alphas", default="0.1", help="comma-separated fine-tuning training shares ('' = none)")
    p.add_argument("--alpha-epochs", type=int, default=5, help="epochs of the alpha fine-tunes")
    p.add_argument("--alpha-init", choices=("base", "base_lr1e-3", "random"), default="base",
                   help="alpha fine-tune: base = the paper's gentle transfer (lr 1e-4), base_lr1e-3 = the full "
                        "recipe from the base, random = fresh weights (Table IV's recipes)")
    p.add_argument("--seed", type=int, default=0, help="seed of subsamples, splits, initialization, draws")
    p.add_argument("--threads", type=int, default=1, help="torch (and GBM) threads")
    p.add_argument("--device", choices=DEVICES, default="cpu", help="where the CNN trains")
    p.add_argument("--cache-dir", type=Path, help="cache features per design as float16 .npy (memory-mapped)")
    p.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                   help="merge the loto.json of runs of one config over different families (runs nothing)")
    p.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"),
                   help="pair two runs' loto.json (same corpus, seed) draw by draw; writes compare.md and "
                        "compare.png (runs nothing)")
    p.add_argument("-o", "--out", type=Path, default=Path("var/loto"), help="output folder")
    p.set_defaults(handler=loto)

    p = sub.add_parser("pretrain", help="pretrain the CNN on a whole labelled corpus (many designs, streamed)")
    p.add_argument("--corpus", type=Path, default=Path("var/corpus"), help="corpus folder (docs/corpus.md)")
    p.add_argument("--builtins", type=Path, default=None, help="folder with otaN.parquet + otaN.labels.parquet")
    p.add_argument("--max-per-design", type=int, default=512, help="layouts per design (0 = all)")
    p.add_argument("--arch", choices=ARCHITECTURES, default=DEFAULT_ARCHITECTURE, help="CNN architecture")
    p.add_argument("--epochs", type=int, default=10, help="maximum epochs (early stopping on validation)")
    p.add_argument("--pair-weight", type=float, default=0.0,
                   help="pretraining: weight of a within-design pairwise order loss added to the BCE (0 = BCE only; "
                        "docs/generalization.md)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    p.add_argument("--val-frac", type=float, default=0.1, help="validation share (early stopping, threshold)")
    p.add_argument("--seed", type=int, default=0, help="seed of subsamples, split, initialization, shuffling")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where to train (export: CPU)")
    p.add_argument("--cache-dir", type=Path, help="cache features per design as float16 .npy (memory-mapped)")
    p.add_argument("--hold-out", default="",
                   help="comma-separated families left out of pretraining (a leave-one-topology-out base, e.g. for "
                        "benchmarks/bench_suggest.py on the held-out designs)")
    p.add_argument("--family-key", choices=("stage_output", "stage", "topology"), default="stage_output",
                   help="how design names group into families (default stage_output: e.g. fc_fd)")
    p.add_argument("-o", "--out", required=True, type=Path, help="model directory to write")
    p.set_defaults(handler=pretrain)


def loto(args: argparse.Namespace) -> int:
    from training.loto import LotoConfig, discover, family_of, merge, run_loto

    out: Path = args.out
    if args.compare:
        from training.loto_compare import compare_runs, plot_comparison, render_comparison

        a_path, b_path = args.compare
        run_a, run_b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
        table = render_comparison(compare_runs(run_a, run_b), "A", "B")
        out.mkdir(parents=True, exist_ok=True)
        plot_comparison(run_a, run_b, out / "compare.png")
        (out / "compare.md").write_text(f"A = {a_path}, B = {b_path}; FOR (%) at 25% pruned.\n\n{table}")
        print(table, end="")
        return 0
    if args.merge:
        merged = merge([json.loads(p.read_text()) for p in args.merge])
        _write(out, merged)
        return 0
    sources = discover(args.corpus if args.corpus and args.corpus.is_dir() else None, args.builtins)
    if not sources:
        raise InputError("corpus", f"no labelled designs under {args.corpus} (or {args.builtins})")
    if args.list:
        fams: dict[str, list[str]] = {}
        for s in sources:
            fams.setdefault(family_of(s.name, args.family_key), []).append(s.name)
        for f, names in sorted(fams.items()):
            print(f"{f} ({len(names)}): {' '.join(names)}")
        return 0
    config = LotoConfig(
        families=tuple(f for f in args.families.split(",") if f) or None, family_key=args.family_key,
        max_per_design=args.max_per_design or None, eval_per_design=args.eval_per_design or None, arch=args.arch,
        epochs=args.epochs, pair_weight=args.pair_weight, batch_size=args.batch_size, val_frac=args.val_frac,
        shots=args.shots, repeats=args.repeats,
        ft_epochs=args.ft_epochs, ft_recipes=tuple(r for r in args.ft_recipes.split(",") if r),
        alphas=tuple(float(a) for a in args.alphas.split(",") if a),
        alpha_epochs=args.alpha_epochs, alpha_init=args.alpha_init, seed=args.seed, threads=args.threads,
        device=args.device,
    )
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, Any] = {}

    def save_partial(family: str, result: dict[str, Any]) -> None:
        done[family] = result
        (out / "loto.partial.json").write_text(json.dumps({"config": config.model_dump(mode="json"),
                                                           "families": done}, indent=1, default=float))

    result = run_loto(sources, config, cache_dir=args.cache_dir, on_family=save_partial)
    _write(out, result)
    (out / "loto.partial.json").unlink(missing_ok=True)
    return 0


def _write(out: Path, result: dict[str, Any]) -> None:
    from training.loto import plot, render_markdown

    out.mkdir(parents=True, exist_ok=True)
    (out / "loto.json").write_text(json.dumps(result, indent=1, default=float))
    (out / "loto.md").write_text(render_markdown(result))
    plot(result, out / "loto.png")
    print(render_markdown(result))
    print(f"wrote {out / 'loto.json'}, {out / 'loto.md'}, {out / 'loto.png'} ({result['seconds']:.0f} s)")


def pretrain(args: argparse.Namespace) -> int:
    from training.loto import LotoConfig, discover, family_of, pretrain_corpus

    sources = discover(args.corpus if args.corpus and args.corpus.is_dir() else None, args.builtins)
    held = tuple(f for f in args.hold_out.split(",") if f)
    sources = [s for s in sources if family_of(s.name, args.family_key) not in held]
    if not sources:
        raise InputError("corpus", f"no labelled designs under {args.corpus} (or {args.builtins})"
                                   + (f" outside {', '.join(held)}" if held else ""))
    config = LotoConfig(families=held or None, family_key=args.family_key,
                        max_per_design=args.max_per_design or None, arch=args.arch, epochs=args.epochs,
                        pair_weight=args.pair_weight, batch_size=args.batch_size, val_frac=args.val_frac,
                        seed=args.seed, threads=args.threads, device=args.device)
    path, info = pretrain_corpus(sources, config, args.out, cache_dir=args.cache_dir)
    ind = info.get("val_for_25")
    print(json.dumps({"model": str(path), "designs": len(info["designs"]), "layouts": info["rows"],
                      "seconds": info["seconds"], "val_for_25": ind}))
    return 0
