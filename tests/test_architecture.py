"""The import graph as docs/architecture.md draws it: every arrow points one way, and the serving path has no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("placeq", "simulate", "training", "model_store", "service", "cli")
# What each package may import of ours (besides itself). cli is the composition root: it may import everything.
ALLOWED: dict[str, set[str]] = {
    "placeq": set(),
    "simulate": {"placeq"},
    "training": {"placeq", "simulate"},
    "model_store": {"placeq"},
    "service": {"placeq", "simulate", "training", "model_store"},
    "cli": set(OURS),
}


def imports_of(path: Path) -> set[str]:
    """Top-level packages of ours that a module imports (lazy imports inside functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in OURS}
    return found


@pytest.mark.parametrize("package", OURS)
def test_every_import_points_down(package: str) -> None:
    wrong = {
        str(f.relative_to(REPO)): sorted(imports_of(f) - ALLOWED[package] - {package})
        for f in sorted((REPO / package).rglob("*.py"))
    }
    assert not {k: v for k, v in wrong.items() if v}, f"{package} imports upward or sideways"


def test_the_api_never_imports_training() -> None:
    api = (REPO / "service" / "api").rglob("*.py")
    offenders = [str(f.relative_to(REPO)) for f in api if "training" in imports_of(f)]
    assert offenders == []


def test_routes_never_import_routes() -> None:
    routes = REPO / "service" / "api" / "routes"
    offenders = []
    for f in routes.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("service.api.routes"):
                offenders.append(f"{f.name}: {node.module}")
    assert offenders == []


@pytest.mark.parametrize(
    "modules",
    [
        "simulate, simulate.label, simulate.isolated, simulate.ngspice, simulate.netlist",
        "service.api.app",
        "placeq, placeq.artifact, placeq.features, placeq.formats, placeq.architectures, placeq.recipes",
        "model_store, model_store.validate",
        "training.feed, training.config, training.splits",
    ],
)
def test_torch_free_packages_leave_torch_out(modules: str) -> None:
    code = f"import sys; import {modules}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
