"""`placeq report`: run the paper's Sec. IV experiments (training/experiments.py) and write them down.

Each part (table3, table4, fewshot) saves its rows as JSON under the work directory as soon as it finishes, so
parts can run on different days and the Markdown is rendered from whatever parts exist. Output under `out`:
``experiments.md`` (Table III, Table IV, Fig. 6 summary, with the settings that produced them), ``experiments.json``
(every row) and ``fewshot_for.png`` (the Fig. 6 box plot).
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from placeq.architectures import DEFAULT_ARCHITECTURE, PAPER_ARCHITECTURES
from placeq.devices import Device

log = logging.getLogger(__name__)
PARTS = ("base", "table3", "table4", "fewshot")
PAPER_FOR_ALPHA_01 = 0.0895  # paper Sec. IV-C: average FOR over OTA2-OTA4 at alpha = 0.1
PAPER_TABLE3 = {"nofeat2d": (97.95, 78.44), "nofeat3d": (79.23, 78.32), "feat2d": (96.19, 91.94),
                "feat3d": (95.51, 93.83)}
Row = dict[str, Any]
INIT_LABELS = {"base": "w", "random": "w/o", "base_lr1e-3": "w, lr 1e-3"}  # Table IV recipes as printed


@dataclass(frozen=True)
class ReportConfig:
    """Every setting of one report run; written into the report so its numbers can be reproduced."""

    data_dir: Path = Path("var/exp")  # otaN.parquet + otaN.labels.parquet (+ feature caches) of built-in designs
    # base_design and targets: built-in names, circuit JSONs or CIRCUIT.json:PLACEMENTS:LABELS
    # (training.corpus.design_source)
    out: Path = Path("docs/results")  # Markdown, JSON, PNG
    work: Path = Path("var/exp/report")  # per-part JSON
    base_design: str = "ota1"  # source design of the base model
    targets: tuple[str, ...] = ("ota2", "ota3", "ota4")  # transfer targets
    parts: tuple[str, ...] = PARTS  # which experiments to run now
    subsample: int = 3000  # Table III: balanced layouts used (train + val + test)
    epochs: int = 6  # Table III: maximum epochs per architecture
    archs: tuple[str, ...] = (*PAPER_ARCHITECTURES, DEFAULT_ARCHITECTURE)
    base_model: Path = Path("service/assets/base_model")  # the base model directory (Table IV, Fig. 6)
    alphas: tuple[float, ...] = (0.8, 0.1, 0.01, 0.0)  # Table IV training ratios
    max_train: int = 4000  # Table IV: cap on training layouts per run (0 = none)
    ft_epochs: int = 8  # Table IV: maximum epochs per run
    inits: tuple[str, ...] = ("base", "random")  # Table IV: training recipes (training.experiments.RECIPES)
    shots: int = 16  # Fig. 6: labelled layouts per run
    repeats: int = 20  # Fig. 6: runs per target (paper: 100)
    fewshot_epochs: int = 30  # Fig. 6: epochs per run
    seed: int = 0  # seed of every split, initialization and sample
    threads: int = 2  # torch threads
    device: Device = "auto"  # where models train: auto = CUDA when present (recorded in each part's settings)


def run_report(cfg: ReportConfig) -> list[Path]:
    """Run `cfg.parts`, save their rows, render the report from all saved parts; returns the files written."""
    import torch

    from training.checkpoint import load_checkpoint
    from training.experiments import fewshot, load_design, table3, table4

    unknown = set(cfg.parts) - set(PARTS)
    if unknown:
        from placeq.errors import InputError

        raise InputError("parts", f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    torch.set_num_threads(cfg.threads)
    cfg.work.mkdir(parents=True, exist_ok=True)
    restore_parts(cfg.work, cfg.out)
    settings = _settings(cfg)
    if "base" in cfg.parts:
        rows = _base_part(cfg)
        _save(cfg.work, "base", rows, settings)
    if "table3" in cfg.parts:
        data = load_design(cfg.data_dir, cfg.base_design)
        nofeat = load_design(cfg.data_dir, cfg.base_design, nofeat=True) if any(
            a.startswith("nofeat") for a in cfg.archs) else None
        rows = table3(data, nofeat, cfg.archs, subsample=cfg.subsample, epochs=cfg.epochs, seed=cfg.seed,
                      threads=cfg.threads, device=cfg.device)
        for r in rows:
            r.update(max_epochs=cfg.epochs)
        merged = merge_rows(cfg.work / "table3.json", rows, ("subsample", "seed", "arch"))
        _save(cfg.work, "table3", merged, settings)
    if "table4" in cfg.parts or "fewshot" in cfg.parts:
        base = load_checkpoint(cfg.base_model)
        for name in cfg.targets:
            data = load_design(cfg.data_dir, name)
            if "table4" in cfg.parts:
                rows = table4(base.model, base.threshold, data, cfg.alphas, max_train=cfg.max_train,
                              epochs=cfg.ft_epochs, seed=cfg.seed, threads=cfg.threads, inits=cfg.inits,
                              device=cfg.device)
                for r in rows:
                    r.update(max_train=cfg.max_train, ft_epochs=cfg.ft_epochs)
                _save(cfg.work, f"table4_{data.name}", merge_alphas(cfg.work / f"table4_{data.name}.json", rows),
                      settings)
            if "fewshot" in cfg.parts:
                rows = fewshot(base.model, data, shots=cfg.shots, repeats=cfg.repeats, epochs=cfg.fewshot_epochs,
                               seed=cfg.seed, threads=cfg.threads, device=cfg.device)
                _save(cfg.work, f"fewshot_{data.name}", rows, settings)
    return render(cfg.work, cfg.out)


def _base_part(cfg: ReportConfig) -> list[Row]:
    """The base model on its own design, on the test split it was trained with (recomputed from its seed)."""
    from placeq.labels import UNLABELLED, balanced
    from training.checkpoint import load_checkpoint
    from training.experiments import base_rows, load_design
    from training.splits import split_indices

    ckpt = load_checkpoint(cfg.base_model)
    data = load_design(cfg.data_dir, cfg.base_design)
    idx, lab = balanced(data.values, data.metric)
    y = np.full(len(data.values), UNLABELLED, dtype=np.int64)
    y[idx] = lab
    seed = int(ckpt.extra.get("split_seed", cfg.seed))
    split = split_indices(y, test_frac=float(ckpt.extra.get("test_frac", 0.2)), val_frac=0.1, seed=seed,
                          groups=data.groups)
    n_test = ckpt.extra.get("n_test")
    if n_test is not None and int(n_test) != len(split["test"]):
        from placeq.errors import InputError

        raise InputError("base_model", f"trained with {n_test} test layouts, this data gives {len(split['test'])}")
    rows = base_rows(ckpt.model, ckpt.threshold, data, split["test"], seed=seed)
    for r in rows:
        r.update(arch=ckpt.model.config.arch, threshold=ckpt.threshold,
                 train_accuracy=float(ckpt.metrics.get("train_accuracy", float("nan"))))
    return rows


def _settings(cfg: ReportConfig) -> dict[str, Any]:
    import torch

    from training.fit import resolve_device

    return {
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "device_used": resolve_device(cfg.device).type,  # where the part's models trained
        "torch": torch.__version__, "python": platform.python_version(), "started": time.strftime("%Y-%m-%d %H:%M"),
    }


def _save(work: Path, part: str, rows: list[Row], settings: dict[str, Any]) -> None:
    (work / f"{part}.json").write_text(json.dumps({"part": part, "settings": settings, "rows": rows}, indent=1))


def merge_rows(path: Path, rows: list[Row], keys: tuple[str, ...]) -> list[Row]:
    """Rows of earlier sittings whose `keys` these rows do not redo, then these: Table III's architectures and
    seeds, Table IV's alphas and recipes can run in separate sittings, each row carrying the settings that made
    it. An older row without a key field takes it from its part's settings (rows before the field existed)."""
    def key(r: Row) -> tuple[Any, ...]:
        return tuple(r[k] for k in keys)

    done = {key(r) for r in rows}
    old: list[Row] = []
    if path.is_file():
        part = json.loads(path.read_text())
        for r in part["rows"]:
            old.append({**{k: part["settings"][k] for k in keys if k not in r and k in part["settings"]}, **r})
    return [r for r in old if key(r) not in done] + rows


def merge_alphas(path: Path, rows: list[Row]) -> list[Row]:
    """Rows of earlier runs at other (alpha, recipe) pairs plus these, sorted by alpha (descending): Table IV's
    alphas can run in separate sittings with their own caps; each row carries the max_train and ft_epochs that
    made it."""
    order = {name: i for i, name in enumerate(INIT_LABELS)}
    merged = merge_rows(path, rows, ("alpha", "init"))
    return sorted(merged, key=lambda r: (-float(r["alpha"]), order.get(str(r["init"]), 99)))


def restore_parts(work: Path, out: Path) -> list[str]:
    """Seed an empty work directory with the parts of the committed ``out/experiments.json``, so a fresh
    checkout can rerun one part (or one alpha, one architecture) and still render the whole report."""
    saved = out / "experiments.json"
    if any(work.glob("*.json")) or not saved.is_file():
        return []
    parts = json.loads(saved.read_text())
    for name, part in parts.items():
        (work / f"{name}.json").write_text(json.dumps(part, indent=1))
    log.info("restored %d parts from %s", len(parts), saved)
    return sorted(parts)


def _load_parts(work: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(work.glob("*.json"))}


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):.2f}"


def render(work: Path, out: Path) -> list[Path]:
    """Write experiments.md / experiments.json / fewshot_for.png from the saved parts (any subset)."""
    parts = _load_parts(work)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Paper Sec. IV experiments on our data (generated by `placeq report`)", ""]
    lines += ["Do not edit: regenerate with `placeq report` (settings of each part below).", ""]
    if "base" in parts:
        lines += _base_md(parts["base"])
    if "table3" in parts:
        lines += _table3_md(parts["table3"])
    t4 = {k.split("_", 1)[1]: v for k, v in parts.items() if k.startswith("table4_")}
    if t4:
        lines += _table4_md(t4)
    fs = {k.split("_", 1)[1]: v for k, v in parts.items() if k.startswith("fewshot_")}
    written = []
    if fs:
        png = out / "fewshot_for.png"
        _fewshot_png(fs, png)
        written.append(png)
        lines += _fewshot_md(fs, png.name)
    md = out / "experiments.md"
    md.write_text("\n".join(lines) + "\n")
    js = out / "experiments.json"
    js.write_text(json.dumps(parts, indent=1, sort_keys=True) + "\n")
    return [md, js, *written]


def _settings_line(part: dict[str, Any], keys: tuple[str, ...]) -> str:
    s = part["settings"]
    return "Settings: " + ", ".join(f"{k}={s[k]}" for k in keys if k in s) + f"; torch {s.get('torch')}."


def _base_md(part: dict[str, Any]) -> list[str]:
    rows = part["rows"]
    out = ["## The base model (shipped) on its own design", "",
           f"{rows[0]['arch']} at threshold {rows[0]['threshold']:.4f}, trained on the balanced set (best 25% = 0, "
           f"worst 25% = 1); train accuracy {_pct(rows[0]['train_accuracy'])}%. The full-distribution set is "
           "the balanced test split plus as many never-seen middle-half layouts (25 / 50 / 25).", "",
           "| test set | n | acc. (%) | prec. (%) | recall (%) | F1 | FOR (%) | prune (%) | FOR random "
           "| FOR HPWL | FOR pair dist. |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['set']} | {int(r['n'])} | {_pct(r['accuracy'])} | {_pct(r['precision'])} "
                   f"| {_pct(r['recall'])} | {r['f1']:.4f} | **{_pct(r['false_omission_rate'])}** "
                   f"| {_pct(r['prune_rate'])} | {_pct(r['for_random'])} | {_pct(r['for_hpwl'])} "
                   f"| {_pct(r['for_pair_distance'])} |")
    out += ["", "At one pruning rate for all (the 25% highest-scoring layouts pruned), FOR (%):", "",
            "| test set | model | HPWL | pair distance | random |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['set']} | {_pct(r.get('for_model_25'))} | {_pct(r['for_hpwl_25'])} "
                   f"| {_pct(r['for_pair_distance_25'])} | {_pct(r['for_random'])} |")
    out += ["", _settings_line(part, ("base_model", "base_design", "seed")), ""]
    return out


def _table3_md(part: dict[str, Any]) -> list[str]:
    rows = part["rows"]
    runs = sorted({(int(r["subsample"]), int(r["seed"])) for r in rows})  # one (subsample, seed) = one split
    main = [r for r in rows if (r["subsample"], r["seed"]) == runs[0]]
    n = main[0] if main else {}
    out = ["## Table III: architectures on the balanced base design", "",
           f"One balanced subsample of {runs[0][0]} (seed {runs[0][1]}): {int(n.get('n_train', 0))} train / "
           f"{int(n.get('n_val', 0))} val / {int(n.get('n_test', 0))} test layouts, the same split for every model; "
           "threshold 0.5.", "",
           "| model | params | train acc. (%) | test acc. (%) | epochs run / max (best) | train s "
           "| paper train / test (%) |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for r in main:
        paper = PAPER_TABLE3.get(r["arch"])
        ref = f"{paper[0]:.2f} / {paper[1]:.2f}" if paper else "–"
        out.append(f"| {r['arch']} | {int(r['params']):,} | {_pct(r['train_accuracy'])} | {_pct(r['test_accuracy'])} "
                   f"| {int(r['epochs_run'])} / {r.get('max_epochs', '?')} ({int(r['best_epoch'])}) "
                   f"| {r['seconds']:.0f} | {ref} |")
    acc = {(r["subsample"], r["seed"], r["arch"]): r for r in rows}
    n_test = {(r["subsample"], r["seed"]): int(r["n_test"]) for r in rows}
    if len(runs) > 1:
        archs = list(dict.fromkeys(r["arch"] for r in rows))
        out += ["", "Test accuracy (%) per split (each subsample size and seed its own subsample, split and "
                "initialization; n test in brackets):", "",
                "| model | " + " | ".join(f"{n} / seed {s} ({n_test[(n, s)]})" for n, s in runs) + " |",
                "|---|" + "---:|" * len(runs)]
        for a in archs:
            out.append(f"| {a} | " + " | ".join(
                _pct(acc[(n, s, a)]["test_accuracy"]) if (n, s, a) in acc else "–" for n, s in runs) + " |")
    fast = [a for a in dict.fromkeys(r["arch"] for r in rows) if a.startswith("fast3d")]
    for size in sorted({n for n, _ in runs}):
        for arch in fast:
            paired = [s for n, s in runs if n == size and (n, s, arch) in acc and (n, s, "feat3d") in acc]
            if not paired:
                continue
            gaps = [100 * (acc[(size, s, "feat3d")]["test_accuracy"] - acc[(size, s, arch)]["test_accuracy"])
                    for s in paired]
            gap = float(np.mean(gaps))
            verdict = "within" if round(gap, 6) <= 1.0 else "NOT within"
            each = ", ".join(f"{g:+.2f}" for g in gaps)
            out += ["", f"{arch} vs feat3d test accuracy on subsamples of {size} (feat3d minus {arch}, points): "
                    f"{each}" + (f"; mean {gap:+.2f} over {len(paired)} seeds" if len(paired) > 1 else "")
                    + f": {verdict} the 1-point budget."]
    out += ["", _settings_line(part, ("threads", "device_used", "base_design")), ""]
    return out


def _table4_md(parts: dict[str, dict[str, Any]]) -> list[str]:
    out = ["## Table IV: transfer from the base model (w) vs random initialization (w/o)", "",
           "Full distribution of each target (worst 25% = 1), the same 20% test split for every alpha. "
           "Baselines on the same test rows: random pruning (FOR = bad share) and the heuristics pruning the same "
           "share as the model.", "",
           "| design | alpha | n train | epochs run / max | init | acc. (%) | prec. (%) | recall (%) | F1 | FOR (%) "
           "| prune (%) | FOR random | FOR HPWL | FOR pair dist. | FOR@25%: model | HPWL | pair dist. |",
           "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, part in parts.items():
        for r in part["rows"]:
            init = INIT_LABELS.get(r["init"], r["init"]) if r["alpha"] > 0 else "base as is"
            epochs = f"{int(r['epochs_run'])} / {r.get('ft_epochs', '?')}" if r["alpha"] > 0 else "–"
            out.append(
                f"| {name} | {r['alpha']:.2f} | {int(r['n_train'])} | {epochs} | {init} | {_pct(r['accuracy'])} "
                f"| {_pct(r['precision'])} | {_pct(r['recall'])} | {r['f1']:.4f} "
                f"| **{_pct(r['false_omission_rate'])}** "
                f"| {_pct(r['prune_rate'])} | {_pct(r['for_random'])} | {_pct(r['for_hpwl'])} "
                f"| {_pct(r['for_pair_distance'])} | {_pct(r.get('for_model_25'))} | {_pct(r.get('for_hpwl_25'))} "
                f"| {_pct(r.get('for_pair_distance_25'))} |")
    for init in INIT_LABELS:
        sel = [r for p in parts.values() for r in p["rows"] if r["alpha"] == 0.1 and r["init"] == init]
        if len(sel) < len(parts):
            continue
        at = np.mean([r["false_omission_rate"] for r in sel])
        at25 = np.mean([r.get("for_model_25", np.nan) for r in sel])
        if init == "base":
            out += ["", f"Average FOR at alpha = 0.1 with transfer over {', '.join(parts)}: **{_pct(at)}%** "
                    f"(paper, OTA2-OTA4: {_pct(PAPER_FOR_ALPHA_01)}%); with exactly 25% pruned: {_pct(at25)}%."]
        else:
            out += ["", f"Average FOR at alpha = 0.1, {INIT_LABELS[init]}: {_pct(at)}%; with exactly 25% pruned: "
                    f"{_pct(at25)}%."]
    out += ["", "FOR@25%: the 25% highest-scoring test layouts pruned, for the model and each heuristic alike, so "
            "the columns compare rankings at one pruning rate (the FOR column uses the model's own threshold, "
            "whose pruning rate differs per row)."]
    first = next(iter(parts.values()))
    out += ["", "Each alpha may come from its own `placeq report --parts table4 --alphas ...` sitting; its training "
            "cap (`max_train`) and epoch limit are stored with its row in experiments.json.",
            "", _settings_line(first, ("seed", "threads", "device_used", "base_model")), ""]
    return out


def _fewshot_md(parts: dict[str, dict[str, Any]], png: str) -> list[str]:
    out = ["## Fig. 6: few-shot transfer", "",
           f"![few-shot FOR]({png})", "",
           "Each run: 16 random non-test layouts labelled by their own rank (worst 25% of the 16 = 1), the test "
           "split relabelled by that critical value; FOR at threshold 0.5. Medians over the runs (%):", "",
           "| design | runs | FOR fine-tuned | FOR base as is | FOR random pruning | FOR HPWL | FOR pair dist. "
           "| runs better than random |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, part in parts.items():
        rows = part["rows"]

        def med(key: str, rows: list[Row] = rows) -> str:
            return _pct(np.median([r[key] for r in rows]))

        better = sum(r["false_omission_rate"] < r["for_random"] for r in rows)
        out.append(f"| {name} | {len(rows)} | **{med('false_omission_rate')}** | {med('for_base')} "
                   f"| {med('for_random')} | {med('for_hpwl')} | {med('for_pair_distance')} | {better} |")
    first = next(iter(parts.values()))
    out += ["", _settings_line(first, ("shots", "repeats", "fewshot_epochs", "seed", "base_model")), ""]
    return out


def _fewshot_png(parts: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(parts)
    fig, ax = plt.subplots(figsize=(1.6 + 1.8 * len(names), 3.6), dpi=110)
    model = [[100 * r["false_omission_rate"] for r in parts[n]["rows"]] for n in names]
    rand = [[100 * r["for_random"] for r in parts[n]["rows"]] for n in names]  # each run's own bad share
    at = np.arange(1, len(names) + 1)
    a = ax.boxplot(model, positions=at - 0.2, widths=0.32, patch_artist=True)
    b = ax.boxplot(rand, positions=at + 0.2, widths=0.32, patch_artist=True)
    for box in a["boxes"]:
        box.set_facecolor("#9ecae1")
    for box in b["boxes"]:
        box.set_facecolor("#dddddd")
    ax.set_xticks(at, [n.upper() for n in names])
    ax.set_ylabel("false omission rate (%)")
    ax.set_title(f"Few-shot transfer ({len(model[0])} runs of 16 layouts each)")
    ax.legend([a["boxes"][0], b["boxes"][0]], ["fine-tuned model", "random pruning (same run)"], frameon=False,
              loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
