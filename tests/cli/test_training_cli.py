"""`placeq train | finetune` take every architecture, and run the same fine-tune path as the worker's job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from cli import build_parser
from model_store import BASE_DESIGN, JobState, ModelStore, publish_model_dir, upgrade
from placeq.features import rasterize_batch
from service.settings import Settings
from service.workers.runner import run_job
from training.dataset import read_batch
from training.nets import PRESETS

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "service" / "assets" / "base_model"


def _placeq(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cli", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("arch", sorted(PRESETS))
def test_cli_offers_every_architecture_training_builds(arch: str) -> None:
    args = build_parser().parse_args(["train", "--design", "ota1", "--data", "x.npy", "--labels", "y.npy",
                                      "-o", "out", "--arch", arch])
    assert args.arch == arch


@pytest.mark.slow
def test_cli_and_worker_fine_tune_to_the_same_model(tmp_path: Path) -> None:
    """Same placements, labels, seed and recipe: the CLI's model directory and the job's published version
    carry the same metrics, and their ONNX files score alike to 1e-6."""
    placements = tmp_path / "ota1.jsonl"
    _placeq("place", "--design", "ota1", "--count", "24", "--seed", "3", "-o", str(placements))
    labels = np.array([0, 1, 0, 0] * 6, dtype=np.int64)
    np.save(tmp_path / "labels.npy", labels)
    _placeq("finetune", "--base", str(SHIPPED), "--design", "ota1", "--data", str(placements), "--labels",
            str(tmp_path / "labels.npy"), "--shots", "24", "--test-frac", "0", "--val-frac", "0", "--epochs", "3",
            "--recipe", "gentle", "--threads", "1", "-o", str(tmp_path / "cli_model"))

    url = f"sqlite:///{tmp_path / 'placeq.db'}"
    upgrade(url)
    store = ModelStore(url, tmp_path / "blobs")
    publish_model_dir(store, SHIPPED, design=BASE_DESIGN, created_by="test", activate=True)
    rows = [json.loads(line) for line in placements.read_text().splitlines()]
    job = store.create_job("finetune", "ota1", {"placements": rows, "labels": labels.tolist(), "epochs": 3,
                                                "recipe": "gentle"})
    done = run_job(store, job.id, settings=Settings(home=tmp_path, database_url=url, blob_root=tmp_path / "blobs"))
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.result is not None
    version = store.get_version("ota1", done.result["version"])

    cli_summary = json.loads((tmp_path / "cli_model" / "model.json").read_text())
    job_metrics = dict(version.metrics)
    job_calibration = job_metrics.pop("threshold_calibration")
    assert cli_summary["metrics"] == pytest.approx(job_metrics, abs=0)  # identical, epoch by epoch
    x = rasterize_batch(read_batch(placements))
    cli_onnx = ort.InferenceSession(str(tmp_path / "cli_model" / "model.onnx"), providers=["CPUExecutionProvider"])
    job_onnx = ort.InferenceSession(store.load_artifact("ota1", version.version), providers=["CPUExecutionProvider"])
    a = cli_onnx.run(["probability"], {"features": x})[0]
    b = job_onnx.run(["probability"], {"features": x})[0]
    assert np.abs(a - b).max() <= 1e-6
    assert cli_summary["threshold"] == job_calibration["previous_threshold"]
    # Both calibrate the threshold for ota1 by the same rule on the same placer sample (issue 14 part 4).
    cli_calibration = json.loads((tmp_path / "cli_model" / "calibration.json").read_text())
    assert {k: v for k, v in cli_calibration.items() if k != "threshold"} == {
        k: v for k, v in job_calibration.items() if k != "threshold"}
    assert cli_calibration["threshold"] == pytest.approx(version.threshold, abs=1e-6)
    assert job_calibration["threshold"] == version.threshold
