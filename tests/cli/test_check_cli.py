"""`placeq check` and `placeq place` saying what is missing: exit codes and the lines a user reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main
from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Circuit

pytestmark = pytest.mark.ngspice


def write(tmp_path: Path, name: str, edit: dict[str, dict[str, str]] | None = None, **tb: object) -> Path:
    data = json.loads(load_design(name).model_dump_json())
    data["testbench"].update(tb)
    for dev in data["devices"]:
        dev["terminals"].update((edit or {}).get(dev["name"], {}))
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("name", BUILTIN_DESIGNS)
def test_check_passes_on_every_builtin_design(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--design", name, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["problems"] == []
    path = [d for d in report["devices"] if d["signal_path"]]
    assert path and all(d["region"] == "saturation" for d in path)
    assert report["loop_gain"] > 100


def test_check_table_names_regions_gain_and_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--design", "ota1"]) == 0
    out = capsys.readouterr().out
    assert "M1 " in out and "saturation" in out
    assert "open-loop gain:" in out and "positive: negative feedback" in out
    assert "output common mode: 0.62" in out
    assert out.rstrip().endswith("ota1: ok, can be labelled")


@pytest.mark.parametrize(
    ("edit", "tb", "reason"),
    [
        ({"M9": {"G": "VBT"}}, {"bias_currents": {"VBN": 2e-5, "VBT": 2e-5}}, "floating node: no DC path"),
        (None, {"inputs": ["INM", "INP"]}, "feedback of the wrong polarity"),
    ],
    ids=["floating-bias-node", "swapped-inputs"],
)
def test_check_exit_2_with_the_reason(edit: dict[str, dict[str, str]] | None, tb: dict[str, object], reason: str,
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ota1", edit, **tb)
    assert main(["check", "--design", str(path)]) == 2
    assert reason in capsys.readouterr().out


def test_fix_bias_writes_the_swept_values_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ota3", bias_currents={"VBN": 6e-5}, bias_voltages={"VREF": 0.4})
    assert main(["check", "--design", str(path)]) == 2
    assert "not saturated" in capsys.readouterr().out
    assert main(["check", "--design", str(path), "--fix-bias"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("--fix-bias: ") and "VBN 6e-05 -> " in first and f"written to {path}" in first
    assert "smallest signal-path margin -0.0" in first
    fixed = Circuit.model_validate_json(path.read_text())
    assert fixed.testbench is not None and fixed.testbench.bias_currents["VBN"] < 6e-5
    assert main(["check", "--design", str(path)]) == 0


def test_fix_bias_of_a_builtin_design_needs_an_output_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--design", "ota3", "--fix-bias"]) == 2
    assert "give -o FILE" in capsys.readouterr().err


def test_check_with_a_testbench_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tb = json.loads(load_design("ota1").model_dump_json())["testbench"]
    bare = json.loads(load_design("ota1").model_dump_json()) | {"testbench": None}
    design, tb_path = tmp_path / "bare.json", tmp_path / "tb.json"
    design.write_text(json.dumps(bare))
    tb_path.write_text(json.dumps(tb))
    assert main(["check", "--design", str(design)]) == 2
    assert "has no testbench: give --testbench" in capsys.readouterr().err
    assert main(["check", "--design", str(design), "--testbench", str(tb_path)]) == 0
    assert f"testbench: given in {tb_path}" in capsys.readouterr().out


def test_place_refuses_a_design_without_critical_nets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(load_design("ota3").model_dump_json()) | {"critical_nets": []}
    design = tmp_path / "flat.json"
    design.write_text(json.dumps(data))
    out = tmp_path / "p.jsonl"
    assert main(["place", "--design", str(design), "--count", "16", "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no critical nets" in err and "--allow-single" in err
    assert not out.exists()


def test_place_says_when_fewer_placements_than_requested_came_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(load_design("ota3").model_dump_json())
    data["critical_nets"] = data["critical_nets"][:2]
    design = tmp_path / "two.json"
    design.write_text(json.dumps(data))
    out = tmp_path / "p.jsonl"
    assert main(["place", "--design", str(design), "--count", "16", "-o", str(out), "--no-progress",
                 "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "16 placements requested, 4 made" in captured.err and "at most 2^2 = 4" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["placements"] == 4
