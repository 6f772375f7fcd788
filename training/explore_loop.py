"""The design-space loop of issue 17 in one command: explore -> suggest -> label -> fine-tune -> explore again.

`placeq explore-loop` places a design's space once, then each round scores it with the current model, keeps the
best (`placeq.explore.decide`), picks the next `shots` layouts to simulate (`placeq.suggest`), labels them with our
labeller (`simulate.label.label_batch`: layout effects -> ngspice) and fine-tunes the *base* model on every label so
far, as `POST /finetune` does with values (relabelled by their own worst quartile, the recipe `auto` picks).
Re-tuning the base on all labels each round, instead of the last round's model on the new ones, keeps a round's
model independent of the order labels arrived in.

Progress is honest only against labels the loop never trained on: with ``audit`` > 0, that many placements of the
space, drawn at random and never suggested, are simulated once, and every round reports the FOR at the pruning
rate on them (their own worst quartile is "bad"), beside random pruning. This is what the web page and the docs
draw as "the few-shot model's progress as labels arrive".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError
from placeq.explore import Decision, space_size
from placeq.features import rasterize_batch
from placeq.labels import critical_value, relabel, worst_quartile
from placeq.recipes import DEFAULT_EPOCHS
from placeq.space import space_ids
from placeq.suggest import DEFAULT_STRATEGY, STRATEGIES, suggest

log = logging.getLogger(__name__)
Say = Callable[[str], None]


@dataclass(frozen=True)
class LoopConfig:
    """Every setting of one loop; written into its loop.json."""

    count: int | None = 1024  # placements explored (None: all 2^k)
    seed: int = 0  # the space's sample and starting positions; the audit draw
    rounds: int = 2  # label-and-fine-tune rounds
    shots: int = 16  # labels added per round
    strategy: str = DEFAULT_STRATEGY
    prune_rate: float = 0.25
    audit: int = 0  # random placements simulated once to measure each round (0: none)
    epochs: int = DEFAULT_EPOCHS
    jobs: int = 1  # labelling processes
    workers: int = 1  # placing processes
    threads: int = 1  # torch threads of the fine-tunes
    extra: dict[str, str] = field(default_factory=dict)  # provenance: model and design paths

    def check(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InputError("strategy", f"{self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        if not 0.0 < self.prune_rate < 1.0:
            raise InputError("prune_rate", f"must lie in (0, 1), got {self.prune_rate}")
        for name in ("rounds", "shots", "epochs", "jobs", "workers", "threads"):
            if getattr(self, name) < 1:
                raise InputError(name, f"must be >= 1, got {getattr(self, name)}")
        if self.audit < 0:
            raise InputError("audit", f"must be >= 0, got {self.audit}")


def _label(circuit: Circuit, batch: PlacementBatch, jobs: int) -> np.ndarray:
    from simulate.label import DEFAULT_CACHE, label_batch

    return label_batch(circuit, batch, jobs=jobs, cache=DEFAULT_CACHE).value


def _write_jsonl(path: Path, batch: PlacementBatch, decision: Decision, rows: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.writelines(decision.lines(rows, lambda i: batch.placement(i).model_dump_json(), scored=False))


def run_loop(circuit: Circuit, base_dir: Path, config: LoopConfig, out: Path, say: Say = log.info) -> dict[str, Any]:
    """Run the loop; writes ``out/round<r>/`` (kept.jsonl, label_these.jsonl, the round's model) and
    ``out/loop.json``, ``loop.md``, ``loop.png``; returns what loop.json holds."""
    from training.calibration import onnx_scorer, score_batch
    from training.checkpoint import load_checkpoint
    from training.heuristics import false_omission_rate
    from training.pipeline import Options, all_rows, finetune_model
    from training.placer.config import PlacerConfig
    from training.placer.space import generate_space

    config.check()
    n = space_size(circuit, config.count)  # n = 2^k places the whole space, as count=None does
    batch, _ = generate_space(circuit, count=n, seed=config.seed, config=PlacerConfig(workers=config.workers))
    ids = space_ids(len(circuit.critical_nets), n, config.seed)
    say(f"placed {len(batch)} placements of {circuit.name}")
    metric = circuit.testbench.metric if circuit.testbench else "offset"
    audit = np.sort(np.random.default_rng([config.seed, 1]).choice(n, size=min(config.audit, n), replace=False))
    audit_bad = np.zeros(0, dtype=bool)
    if len(audit):
        audit_values = _label(circuit, batch.take(audit), config.jobs)
        keep = np.isfinite(audit_values)
        audit, audit_bad = audit[keep], worst_quartile(audit_values[keep], metric) == 1
        say(f"audit: {len(audit)} placements simulated, {int(audit_bad.sum())} bad (their own worst 25%)")
    base = load_checkpoint(base_dir)
    model_dir, labelled, values = base_dir, np.zeros(0, dtype=np.int64), np.zeros(0)
    rounds: list[dict[str, Any]] = []
    histograms: list[dict[str, Any]] = []
    for r in range(config.rounds + 1):
        scores = score_batch(onnx_scorer(model_dir), batch)
        decision = Decision.of(scores, threshold=base.threshold, prune_rate=config.prune_rate)
        summary = decision.summary()
        row: dict[str, Any] = {"round": r, "labels": len(labelled), "model": str(model_dir),
                               "kept": summary["kept"], "pruned": summary["pruned"]}
        if len(audit):
            row["audit_for"] = false_omission_rate(scores[audit], audit_bad, config.prune_rate)
            row["audit_random"] = float(audit_bad.mean())
        rounds.append(row)
        histograms.append(summary["histogram"])
        here = out / f"round{r}"
        _write_jsonl(here / "kept.jsonl", batch, decision, decision.select("kept"))
        say(json.dumps(row))
        if r == config.rounds:
            break
        picks = np.asarray(suggest(scores, decision.prune, ids, config.shots, strategy=config.strategy, seed=r,
                                   exclude=np.concatenate([labelled, audit])), dtype=np.int64)
        _write_jsonl(here / "label_these.jsonl", batch, decision, picks.tolist())
        new = _label(circuit, batch.take(picks), config.jobs)
        ok = np.isfinite(new)
        labelled, values = np.concatenate([labelled, picks[ok]]), np.concatenate([values, new[ok]])
        if len(labelled) < 4:
            raise InputError("shots", f"{len(labelled)} labelled layouts after round {r}: a fine-tune needs 4")
        y = relabel(values, critical_value(values, metric), metric).astype(np.int64)
        model_dir, _ = finetune_model(
            base, rasterize_batch(batch.take(labelled)), y, all_rows(len(y)), out / f"round{r + 1}" / "model",
            design=circuit.name, options=Options(epochs=config.epochs, recipe="auto", threads=config.threads),
            provenance={"loop_round": r + 1, "labels": len(y)}, values=values, metric=metric)
        say(f"round {r + 1}: fine-tuned the base on {len(y)} labels")
    result = {"design": circuit.name, "placements": n, "config": asdict(config), "rounds": rounds,
              "histograms": histograms, "labelled": labelled.tolist(), "audit": audit.tolist()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "loop.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "loop.md").write_text(render(result))
    plot(result, out / "loop.png")
    return result


def render(result: dict[str, Any]) -> str:
    """The rounds as a Markdown table."""
    audit = "audit_for" in result["rounds"][0]
    head = "| round | labels | kept | pruned |" + (" FOR on the audit set | random pruning |" if audit else "")
    lines = [f"{result['design']}: {result['placements']} placements, {result['config']['shots']} labels a round "
             f"({result['config']['strategy']}), prune rate {result['config']['prune_rate']}.", "", head,
             "|---" * (6 if audit else 4) + "|"]
    for r in result["rounds"]:
        cells = [str(r["round"]), str(r["labels"]), str(r["kept"]), str(r["pruned"])]
        if audit:
            cells += [f"{100 * r['audit_for']:.1f}%", f"{100 * r['audit_random']:.1f}%"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    """Score histograms per round (kept, pruned) and, with an audit set, its FOR per round against random."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds, hists = result["rounds"], result["histograms"]
    audit = "audit_for" in rounds[0]
    fig, axes = plt.subplots(1, len(hists) + audit, figsize=(3.2 * (len(hists) + audit), 2.8), squeeze=False)
    for ax, h, r in zip(axes[0], hists, rounds, strict=False):
        edges = np.asarray(h["edges"])
        width = np.diff(edges)
        ax.bar(edges[:-1], h["kept"], width=width, align="edge", color="#1b7f3b", label="kept")
        ax.bar(edges[:-1], h["pruned"], width=width, align="edge", bottom=h["kept"], color="#b3261e", label="pruned")
        ax.set_title(f"round {r['round']}: {r['labels']} labels", fontsize=9)
        ax.set_xlabel("P(worst quartile)", fontsize=8)
    axes[0][0].legend(fontsize=7)
    if audit:
        ax = axes[0][-1]
        labels = [r["labels"] for r in rounds]
        ax.plot(labels, [100 * r["audit_for"] for r in rounds], "o-", label="model")
        ax.plot(labels, [100 * r["audit_random"] for r in rounds], "--", color="grey", label="random pruning")
        ax.set_xlabel("labels", fontsize=8)
        ax.set_ylabel("FOR on the audit set (%)", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
