"""docker-compose.yml is checked statically (no Docker engine here): valid, and wired as the deployment needs."""

from __future__ import annotations

import shutil
import subprocess
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
    import re
    import tomllib

    repo = Path(__file__).resolve().parents[1]
    include = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    copied = set(re.findall(r"^COPY (\S+) \./\1$", (repo / "Dockerfile").read_text(), flags=re.M))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
