"""Built-in designs (paper Table I): they load, validate, have 14 critical nets and matched pairs of equal size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from placeq.circuits import BUILTIN_DESIGNS, list_designs, load_design
from placeq.domain import Circuit, Subcircuit
from placeq.errors import InputError, UnknownDesign


@pytest.mark.parametrize("name", BUILTIN_DESIGNS)
def test_builtin_loads_with_fourteen_critical_nets(name: str) -> None:
    c = load_design(name)
    assert c.name == name
    assert len(c.critical_nets) == 14  # 2^14 = 16,384 placements per design, as in Table I
    assert c.testbench is not None
    assert c.testbench.inputs == ("INP", "INM") and len(c.testbench.outputs) == 2
    # every subcircuit the paper draws as a channel is present except FEEDBACK in the uncompensated OTA4
    present = {t for d in c.devices for t in d.tags}
    expected = set(Subcircuit) - ({Subcircuit.FEEDBACK} if name == "ota4" else set())
    assert present == expected
    assert all(d.tags for d in c.devices)


@pytest.mark.parametrize("name", BUILTIN_DESIGNS)
def test_matched_pairs_are_identical_devices(name: str) -> None:
    c = load_design(name)
    for a, b in c.symmetry_pairs:
        da, db = c.device(a), c.device(b)
        assert (da.kind, da.model, da.w, da.l, da.nf, da.m, da.value, da.tags) == (
            db.kind, db.model, db.w, db.l, db.nf, db.m, db.value, db.tags
        ), (a, b)
    # the input pair is matched and every MOSFET sits in a pair or on the axis
    pairs = {frozenset(p) for p in c.symmetry_pairs}
    gate_of = {d.terminals.get("G"): d.name for d in c.devices if d.is_mos}
    assert frozenset((gate_of["INP"], gate_of["INM"])) in pairs


def test_metrics_and_topologies_follow_table_one() -> None:
    designs = {c.name: c for c in list_designs()}
    assert [c.name for c in list_designs()] == list(BUILTIN_DESIGNS)
    metrics = {n: c.testbench.metric for n, c in designs.items() if c.testbench}
    assert metrics == {"ota1": "offset", "ota2": "offset", "ota3": "offset", "ota4": "cmrr"}
    # OTA1 and OTA2: the same schematic, different sizing
    t1 = [(d.name, d.kind, d.terminals) for d in designs["ota1"].devices]
    t2 = [(d.name, d.kind, d.terminals) for d in designs["ota2"].devices]
    assert t1 == t2
    assert [d.w for d in designs["ota1"].devices] != [d.w for d in designs["ota2"].devices]
    assert not any(Subcircuit.FEEDBACK in d.tags for d in designs["ota4"].devices)


def test_load_design_accepts_a_circuit_json_file(tmp_path: Path) -> None:
    own = load_design("ota3").model_copy(update={"name": "my_ota"})
    path = tmp_path / "my_ota.json"
    path.write_text(own.model_dump_json())
    loaded = load_design(path)
    assert isinstance(loaded, Circuit) and loaded == own
    assert load_design(str(path)) == own
    assert load_design("OTA1").name == "ota1"


def test_unknown_design_names_the_known_ones() -> None:
    with pytest.raises(UnknownDesign, match="ota1, ota2, ota3, ota4"):
        load_design("ota9")


def test_invalid_circuit_file_names_file_and_field(tmp_path: Path) -> None:
    data = json.loads(load_design("ota4").model_dump_json())
    data["critical_nets"] = ["INP", "NOPE"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        load_design(bad)
    assert str(bad) in err.value.field and "NOPE" in err.value.message
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",\n "devices": [}')
    with pytest.raises(InputError, match=r"broken.json:2"):
        load_design(broken)


REPO = Path(__file__).resolve().parents[2]


def _placeq(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line (a subprocess: the CLI is what a user types)."""
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO, capture_output=True, text=True,
                          check=False)


def test_designs_command_prints_a_table() -> None:
    run = _placeq("designs")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[:5] == ["name", "devices", "nets", "critical", "metric"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(BUILTIN_DESIGNS)
    assert rows["ota1"][1:5] == [str(len(load_design("ota1").devices)), "26", "14", "offset"]
    assert rows["ota4"][4] == "cmrr"


def test_designs_show_and_unknown() -> None:
    run = _placeq("designs", "--show", "ota2")
    assert run.returncode == 0, run.stderr
    assert "critical nets (14)" in run.stdout and "M1/M2" in run.stdout
    run = _placeq("designs", "--show", "nope")
    assert run.returncode == 2
    assert "unknown design 'nope'" in run.stderr


def test_designs_show_an_imported_ut_anlay_circuit(ut_anlay, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from cli import main

    stem = ut_anlay / "Telescopic_Three_stage"
    out = tmp_path / "c.json"
    assert main(["import-netlist", str(stem.with_suffix(".sp")), "--types", str(stem.with_suffix(".json")),
                 "--channels", str(stem.with_suffix(".channel")), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["designs", "--show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "devices (45)" in text and "model=mom_cap" in text and "model=poly_res" in text
