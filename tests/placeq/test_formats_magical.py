"""MAGICAL placement files -> Placement (and back), and MAGICAL .sym symmetry files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from placeq.domain import Box, Circuit, DeviceKind, Subcircuit
from placeq.errors import NetlistError, PlacementFileError
from placeq.formats import (
    parse_netlist,
    parse_symmetry,
    read_magical_placement,
    read_netlist,
    read_symmetry,
    write_magical_placement,
)
from placeq.formats.symmetry import apply_symmetry

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "magical" / "diffpair"


@pytest.fixture()
def circuit() -> Circuit:
    c = read_netlist(FIXTURE / "diffpair.sp", symmetry=FIXTURE / "diffpair.sym")
    tags = {"M1": (Subcircuit.FIRST_STAGE,), "M2": (Subcircuit.FIRST_STAGE,), "M3": (Subcircuit.BIAS,)}
    devices = tuple(d.model_copy(update={"tags": tags.get(d.name, ())}) for d in c.devices)
    return c.model_copy(update={"devices": devices})


@pytest.fixture()
def placedir(tmp_path: Path) -> Path:
    out = tmp_path / "place"
    shutil.copytree(FIXTURE, out)
    return out


def test_fixture_reads_into_device_boxes_and_translated_pins(circuit: Circuit) -> None:
    p = read_magical_placement(FIXTURE, circuit)
    p.check_against(circuit)
    assert p.design == "diffpair"
    assert [(d.name, d.x, d.y, d.w, d.h) for d in p.devices] == [
        ("M1", 0.0, 0.0, 2.0, 3.0), ("M2", 4.0, 0.0, 2.0, 3.0), ("M3", 1.5, 4.0, 3.0, 2.5), ("C1", 0.0, 7.0, 6.0, 4.0),
    ]  # fmt: skip
    assert p.devices[0].tags == (Subcircuit.FIRST_STAGE,) and p.devices[3].kind == DeviceKind.CAP
    pins = {(q.device, q.terminal): q for q in p.pins}
    assert ("M1", "B") not in pins  # bulk shapes are dropped, as UT-AnLay's extractor does
    assert len(pins) == 3 + 3 + 3 + 2
    # M2 sits at x=4: its gate's two shapes (0.2..0.6 and 1.4..1.8) merge into one box, moved by the origin.
    assert pins["M2", "G"].box == Box(x0=4.2, y0=1.4, x1=5.8, y1=1.6)
    assert pins["M2", "G"].net == "inm"
    assert pins["C1", "PLUS"].box == Box(x0=0.5, y0=10.5, x1=5.5, y1=10.9)
    assert pins["C1", "PLUS"].net == "outp"
    assert pins["M3", "D"].net == "tail"


def test_write_then_read_round_trips(circuit: Circuit, tmp_path: Path) -> None:
    first = read_magical_placement(FIXTURE, circuit)
    write_magical_placement(first, tmp_path / "out")
    again = read_magical_placement(tmp_path / "out", circuit)
    assert again.devices == first.devices
    assert [(q.device, q.terminal, q.net) for q in again.pins] == [(q.device, q.terminal, q.net) for q in first.pins]
    for a, b in zip(again.pins, first.pins, strict=True):
        assert (a.box.x0, a.box.y0, a.box.x1, a.box.y1) == pytest.approx((b.box.x0, b.box.y0, b.box.x1, b.box.y1))


def test_pins_are_optional(circuit: Circuit, placedir: Path) -> None:
    (placedir / "place.pin").unlink()
    (placedir / "place.connection").unlink()
    p = read_magical_placement(placedir, circuit)
    assert len(p.devices) == 4 and p.pins == ()


def _fails(circuit: Circuit, placedir: Path, name: str, text: str) -> PlacementFileError:
    (placedir / name).write_text(text)
    with pytest.raises(PlacementFileError) as exc:
        read_magical_placement(placedir, circuit)
    return exc.value


_RESULT_OK = "M1 0 0 2 3\nM2 4 0 2 3\nM3 1.5 4 3 2.5\nC1 0 7 6 4\n"


@pytest.mark.parametrize(
    ("name", "text", "field", "words"),
    [
        ("place.result", "M1 0 0 2\n", "place.result:1", "expected 'DEVICE X Y WIDTH HEIGHT'"),
        ("place.result", "M1 0 zero 2 3\n", "place.result:1", "'zero' is not a number"),
        ("place.result", "M1 0 0 2 nan\n", "place.result:1", "not finite"),
        ("place.result", "M1 0 0 0 3\n", "place.result:1", "must be positive"),
        ("place.result", _RESULT_OK + "M1 0 0 2 3\n", "place.result:5", "placed twice"),
        ("place.result", _RESULT_OK + "M9 0 0 2 3\n", "place.result:5", "'M9' is not in diffpair"),
        ("place.result", "M1 0 0 2 3\nM2 4 0 2 3\n", "place.result", "not placed: ['M3', 'C1']"),
        ("place.pin", "M1\nD 2\n 31 (0 0 1 1)\n", "place.pin:3", "2 shapes declared, 1 given"),
        ("place.pin", "D 1\n", "place.pin:1", "no device line"),
        ("place.pin", "M1\nD one\n", "place.pin:2", "expected 'PIN NUM_SHAPES'"),
        ("place.pin", "M1\nD 1\n 31 (0 0 1)\n", "place.pin:3", "cannot read"),
        ("place.pin", "M1\nX 1\n 31 (0 0 1 1)\n", "place.pin:2", "M1 has no terminal X"),
        ("place.pin", "M9\nD 1\n 31 (0 0 1 1)\n", "place.pin:2", "'M9' is not in diffpair"),
        ("place.pin", "M1\nD 1\n 31 (0 0 9 1)\n", "place.pin:2", "outside its device"),
        ("place.pin", "M1\nD 1\n 31 (0 0 1 1)\nD 1\n 31 (0 0 1 1)\n", "place.pin:4", "listed twice"),
        ("place.connection", "outm M1\n", "place.connection:1", "device/pin pairs"),
        ("place.connection", "outm M1 D M9 S\n", "place.connection:1", "'M9' is not in diffpair"),
        ("place.connection", "inp M1 D\n", "place.connection:1", "M1.D is on net inp here, on outm in the circuit"),
    ],
)
def test_malformed_files_name_file_and_line(
    circuit: Circuit, placedir: Path, name: str, text: str, field: str, words: str
) -> None:
    err = _fails(circuit, placedir, name, text)
    assert err.field == field
    assert words in err.message


def test_missing_result_file(circuit: Circuit, tmp_path: Path) -> None:
    with pytest.raises(PlacementFileError, match="missing") as exc:
        read_magical_placement(tmp_path, circuit)
    assert exc.value.field == "place.result"


def test_symmetry_file_gives_pairs_and_self_symmetric_devices(circuit: Circuit) -> None:
    assert circuit.symmetry_pairs == (("M1", "M2"),)
    assert circuit.self_symmetric == ("M3",)


def test_symmetry_groups_are_merged_and_comments_skipped() -> None:
    sym = parse_symmetry("# group 1\nM1 M2\n\nM3 M4\nM5\n", "a.sym")
    assert sym.pairs == (("M1", "M2"), ("M3", "M4")) and sym.self_symmetric == ("M5",)
    assert sym.where("M4") == "a.sym:4"


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("M1 M2 M3\n", "d.sym:1", "got 3 names"),
        ("M1 M2\nM2\n", "d.sym:2", "already constrained on line 1"),
        ("M1 M9\n", "d.sym:1", "'M9' is not in diffpair"),
        ("M1 C1\n", "d.sym:1", "differ in kind"),
    ],
)
def test_bad_symmetry_files_name_the_line(tmp_path: Path, text: str, field: str, words: str) -> None:
    path = tmp_path / "d.sym"
    path.write_text(text)
    with pytest.raises(NetlistError) as exc:
        read_netlist(FIXTURE / "diffpair.sp", symmetry=path)
    assert exc.value.field == f"{tmp_path}/{field}"
    assert words in exc.value.message


def test_apply_symmetry_replaces_constraints() -> None:
    c = parse_netlist("* t\nM1 a b c d nch w=1u l=1u\nM2 a b c d nch w=1u l=1u\n")
    c2 = apply_symmetry(c, parse_symmetry("M2\nM1\n"))
    assert c2.symmetry_pairs == () and c2.self_symmetric == ("M2", "M1")


def test_read_symmetry_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NetlistError, match="cannot read"):
        read_symmetry(tmp_path / "none.sym")
