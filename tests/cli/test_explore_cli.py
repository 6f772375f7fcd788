"""`placeq explore` end to end (a subprocess, as a user runs it): the survivors of a placed space, best first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from placeq.batch import PlacementBatch
from placeq.circuits import load_design
from placeq.domain import Placement
from placeq.features import rasterize_batch
from service.runtime import shipped_base_model
from training.calibration import onnx_scorer
from training.placer.config import PlacerConfig
from training.placer.space import generate_space

REPO = Path(__file__).resolve().parents[2]


def _placeq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)


def test_explore_writes_the_kept_placements_best_first_and_suggestions(tmp_path: Path) -> None:
    out, summary, label = tmp_path / "kept.jsonl", tmp_path / "summary.json", tmp_path / "label.jsonl"
    done = _placeq("explore", "--design", "ota1", "--count", "16", "--seed", "2", "--prune-rate", "0.25",
                   "--workers", "1", "--no-progress", "-o", str(out), "--summary", str(summary),
                   "--suggest", "4", "--suggest-out", str(label))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert (printed["placements"], printed["kept"], printed["pruned"], printed["written"]) == (16, 12, 4, 12)

    kept = [Placement.model_validate_json(s) for s in out.read_text().splitlines()]
    base = shipped_base_model()
    assert base is not None
    scores = onnx_scorer(base)(rasterize_batch(PlacementBatch.from_placements(kept)))
    assert np.all(np.diff(scores) >= -1e-6)  # best first, as the shipped model scores them

    # the 16 are `placeq place --count 16 --seed 2`'s, and the 4 pruned are the worst of them
    whole, _ = generate_space(load_design("ota1"), count=16, seed=2, config=PlacerConfig(workers=1))
    all_scores = onnx_scorer(base)(rasterize_batch(whole))
    decided = json.loads(summary.read_text())
    np.testing.assert_allclose(decided["scores"], all_scores, atol=1e-5)
    assert sorted(np.flatnonzero(decided["prune"]).tolist()) == sorted(np.argsort(-all_scores)[:4].tolist())
    assert len({s for s in label.read_text().splitlines()}) == 4


def test_explore_to_a_for_target_on_audit_layouts(tmp_path: Path) -> None:
    """An audit (placements and a simulate table) whose offsets follow the shipped model's ranking: pruning its
    worst-scored layouts keeps no bad one, so the target of 5% is met with the least pruning that cuts them."""
    audit, _ = generate_space(load_design("ota1"), count=16, seed=9, config=PlacerConfig(workers=1))
    placements, table = tmp_path / "audit.jsonl", tmp_path / "audit.labels.jsonl"
    placements.write_text("".join(audit.placement(i).model_dump_json() + "\n" for i in range(len(audit))))
    base = shipped_base_model()
    assert base is not None
    values = onnx_scorer(base)(rasterize_batch(audit))
    table.write_text("".join(json.dumps({"index": i, "value": float(v), "status": "ok", "metric": "offset"}) + "\n"
                             for i, v in enumerate(values)))
    done = _placeq("explore", "--design", "ota1", "--count", "32", "--seed", "2", "--for-target", "0.05",
                   "--audit", f"{placements}:{table}", "--workers", "1", "--no-progress",
                   "-o", str(tmp_path / "k.jsonl"))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    target = printed["for_target"]
    assert printed["rule"] == "for_target" and target["met"] and target["estimated_for"] <= 0.05
    assert (target["audit"], target["audit_bad"]) == (16, 4)
    assert printed["pruned"] == round(32 * target["prune_rate"]) and printed["kept"] == 32 - printed["pruned"]


def test_explore_names_the_bad_argument(tmp_path: Path) -> None:
    for args, field in ((["--prune-rate", "1.5"], "prune_rate"), (["--model", str(tmp_path)], "model"),
                        (["--suggest", "4"], "suggest_out"), (["--for-target", "0.1"], "audit"),
                        (["--for-target", "0.1", "--audit", "a:b", "--prune-rate", "0.2"], "for_target"),
                        (["--for-target", "0.1", "--audit", "nowhere"], "audit")):
        done = _placeq("explore", "--design", "ota1", "--count", "4", "-o", str(tmp_path / "x.jsonl"), *args)
        assert done.returncode == 2 and field in done.stderr, done.stderr
