"""`placeq place` end to end on a circuit JSON file (run as the installed command, in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from training.dataset import read_batch, read_meta, read_net_weights
from training.placer.examples import two_stage_ota

REPO = Path(__file__).resolve().parents[2]


def _placeq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


def test_place_writes_a_legal_dataset(tmp_path: Path) -> None:
    design = tmp_path / "ota.json"
    design.write_text(two_stage_ota().model_dump_json())
    config = tmp_path / "placer.json"
    config.write_text(json.dumps({"iterations": 30, "threads": 1}))
    out = tmp_path / "space.parquet"
    done = _placeq("place", "--design", str(design), "--count", "5", "--seed", "2", "-o", str(out),
                   "--config", str(config), "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["placements"] == 5
    assert "5/5" in done.stderr  # the tqdm bar
    assert len(read_batch(out)) == 5 and read_net_weights(out).shape[0] == 5
    meta = read_meta(out)
    assert meta["seed"] == 2 and len(meta["subset_ids"]) == 5 and meta["config"]["iterations"] == 30


def test_place_reports_bad_config_key(tmp_path: Path) -> None:
    design = tmp_path / "ota.json"
    design.write_text(two_stage_ota().model_dump_json())
    config = tmp_path / "placer.json"
    config.write_text(json.dumps({"gamma": 1.0}))
    done = _placeq("place", "--design", str(design), "-o", str(tmp_path / "x.jsonl"), "--config", str(config))
    assert done.returncode == 2
    assert "placer.json.gamma" in done.stderr
