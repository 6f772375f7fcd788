"""`placeq explore-loop` (issue 17): explore, suggest, label with ngspice, fine-tune, explore again, measured on an
audit set the loop never trains on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from placeq.circuits import load_design
from placeq.errors import InputError
from placeq.suggest import DEFAULT_STRATEGY
from service.runtime import shipped_base_model
from training.checkpoint import load_checkpoint
from training.explore_loop import LoopConfig, run_loop

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.ngspice
def test_two_rounds_label_what_was_suggested_and_never_the_audit_set(tmp_path: Path) -> None:
    base = shipped_base_model()
    assert base is not None
    config = LoopConfig(count=40, seed=2, rounds=2, shots=6, audit=12, epochs=2)
    result = run_loop(load_design("ota1"), base, config, tmp_path, say=lambda _: None)
    rounds = result["rounds"]
    assert [r["labels"] for r in rounds] == [0, 6, 12]
    assert all(r["kept"] == 30 and r["pruned"] == 10 for r in rounds)
    assert all(0.0 <= r["audit_for"] <= 1.0 and r["audit_random"] == pytest.approx(3 / 12) for r in rounds)
    assert len(set(result["labelled"])) == 12 and not set(result["labelled"]) & set(result["audit"])
    assert [len((tmp_path / f"round{r}" / "label_these.jsonl").read_text().splitlines()) for r in (0, 1)] == [6, 6]
    assert len((tmp_path / "round2" / "kept.jsonl").read_text().splitlines()) == 30
    tuned = load_checkpoint(tmp_path / "round2" / "model")
    assert tuned.design == "ota1" and tuned.extra["labels"] == 12  # the base re-tuned on all 12 labels
    assert json.loads((tmp_path / "loop.json").read_text())["config"]["strategy"] == DEFAULT_STRATEGY
    assert "| 2 | 12 | 30 | 10 |" in (tmp_path / "loop.md").read_text()
    assert (tmp_path / "loop.png").stat().st_size > 10_000


def test_bad_settings_name_the_field(tmp_path: Path) -> None:
    base = shipped_base_model()
    assert base is not None
    for bad, field in (({"strategy": "psychic"}, "strategy"), ({"prune_rate": 0.0}, "prune_rate"),
                       ({"shots": 0}, "shots"), ({"audit": -1}, "audit")):
        with pytest.raises(InputError, match=field):
            run_loop(load_design("ota1"), base, LoopConfig(count=8, **bad), tmp_path)  # type: ignore[arg-type]
    done = subprocess.run([sys.executable, "-m", "cli", "explore-loop", "--design", "ota1", "--model", str(tmp_path),
                           "-o", str(tmp_path / "x")], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 2 and "model" in done.stderr
