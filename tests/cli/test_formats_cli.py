"""`placeq import-netlist` and `placeq import-placement` end to end, writing into tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli import main
from placeq.domain import Circuit, DeviceKind, Placement, Subcircuit

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "magical" / "diffpair"


def test_import_netlist_with_ut_anlay_sidecars(
    ut_anlay: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = "Telescopic_Three_stage"
    out = tmp_path / "c.json"
    rc = main(
        ["import-netlist", str(ut_anlay / f"{d}.sp"), "--types", str(ut_anlay / f"{d}.json"),
         "--channels", str(ut_anlay / f"{d}.channel"), "-o", str(out)]
    )  # fmt: skip
    assert rc == 0
    c = Circuit.model_validate_json(out.read_text())
    assert c.name == d and len(c.devices) == 45 and all(x.tags for x in c.devices)
    line = capsys.readouterr().out.strip()
    last = line.splitlines()[-1]
    assert last.startswith(f"{d}: 45 devices (NMOS 16, PMOS 15, CAP 4, RES 10), 31 nets, 8 ports, 45 tagged")
    assert "tags given" in last and "critical_nets inferred" in last and "14 critical nets" in last
    assert c.provenance["tags"] == "given" and c.provenance["critical_nets"] == "inferred"


def test_import_netlist_sidecars_flag_finds_json_channel_and_sym(tmp_path: Path) -> None:
    src = tmp_path / "diffpair.sp"
    shutil.copy(FIXTURE / "diffpair.sp", src)
    shutil.copy(FIXTURE / "diffpair.sym", tmp_path / "diffpair.sym")
    (tmp_path / "diffpair.channel").write_text('{"M1": [1], "M2": [1], "M3": [5], "C1": [3]}')
    out = tmp_path / "out" / "c.json"
    assert main(["import-netlist", str(src), "--sidecars", "--name", "dp", "-o", str(out)]) == 0
    c = Circuit.model_validate_json(out.read_text())
    assert c.name == "dp"
    assert c.symmetry_pairs == (("M1", "M2"),) and c.self_symmetric == ("M3",)
    assert c.device("C1").tags == (Subcircuit.FEEDBACK,) and c.device("C1").kind == DeviceKind.CAP


def test_import_netlist_error_exits_2_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.sp"
    bad.write_text("* t\nM1 d g s b nch l=1u\n")
    assert main(["import-netlist", str(bad), "-o", str(tmp_path / "c.json")]) == 2
    assert f"{bad}:2: M1: a MOSFET needs w=" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_import_placement_from_a_magical_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    circuit_json = tmp_path / "c.json"
    assert main(["import-netlist", str(FIXTURE / "diffpair.sp"), "-o", str(circuit_json)]) == 0
    out = tmp_path / "p.json"
    assert main(["import-placement", str(FIXTURE), "--circuit", str(circuit_json), "-o", str(out)]) == 0
    p = Placement.model_validate_json(out.read_text())
    assert p.design == "diffpair" and len(p.devices) == 4 and len(p.pins) == 11
    assert "diffpair: 4 devices, 11 pins, 7 nets, 6.00 x 11.00 um" in capsys.readouterr().out


def test_import_placement_error_names_the_file_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    circuit_json = tmp_path / "c.json"
    main(["import-netlist", str(FIXTURE / "diffpair.sp"), "-o", str(circuit_json)])
    place = tmp_path / "place"
    shutil.copytree(FIXTURE, place)
    (place / "place.result").write_text("M1 0 0 2 3\nM2 4 0 2\n")
    assert main(["import-placement", str(place), "--circuit", str(circuit_json), "-o", str(tmp_path / "p.json")]) == 2
    assert "place.result:2: expected 'DEVICE X Y WIDTH HEIGHT', got 4 fields" in capsys.readouterr().err
