"""UT-AnLay's four designs import exactly as their sidecar files describe them; sidecar errors name file:DEVICE."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from placeq.domain import SUBCIRCUITS, DeviceKind, Subcircuit
from placeq.errors import NetlistError
from placeq.formats import read_channels, read_netlist, read_types
from tests.conftest import UT_ANLAY_DESIGNS


@pytest.mark.parametrize("design", UT_ANLAY_DESIGNS)
def test_every_design_imports_with_kinds_and_tags_from_its_sidecars(ut_anlay: Path, design: str) -> None:
    types_path, channels_path = ut_anlay / f"{design}.json", ut_anlay / f"{design}.channel"
    c = read_netlist(ut_anlay / f"{design}.sp", types=types_path, channels=channels_path)
    assert c.name == design
    raw_types = json.loads(types_path.read_text())
    raw_channels = json.loads(channels_path.read_text())
    assert {d.name for d in c.devices} == set(raw_types) == set(raw_channels)
    for d in c.devices:
        assert d.kind.value == raw_types[d.name]
        assert d.tags == tuple(SUBCIRCUITS[k - 1] for k in raw_channels[d.name])


@pytest.mark.parametrize("design", UT_ANLAY_DESIGNS)
def test_kinds_inferred_from_model_names_agree_with_the_types_file(ut_anlay: Path, design: str) -> None:
    inferred = read_netlist(ut_anlay / f"{design}.sp")
    assert {d.name: d.kind for d in inferred.devices} == read_types(ut_anlay / f"{design}.json")


def test_telescopic_three_stage_in_detail(ut_anlay: Path) -> None:
    d = "Telescopic_Three_stage"
    c = read_netlist(ut_anlay / f"{d}.sp", types=ut_anlay / f"{d}.json", channels=ut_anlay / f"{d}.channel")
    assert len(c.devices) == 45
    assert Counter(x.kind for x in c.devices) == {
        DeviceKind.NMOS: 16, DeviceKind.PMOS: 15, DeviceKind.CAP: 4, DeviceKind.RES: 10,
    }  # fmt: skip
    assert c.ports == ("INM", "INP", "OUTM", "OUTP", "VBN1", "VDD", "VREF", "VSS")
    m16 = c.device("M16")  # nfet_ud l=400n w=24.0u multi=2 nf=4
    assert (m16.model, m16.w, m16.l, m16.nf, m16.m) == ("nfet_ud", 24.0, 0.4, 4, 2)
    assert m16.terminals == {"D": "net058", "G": "VBN", "S": "VSS", "B": "VSS"}
    r11 = c.device("R11")  # "R11  (VOM2 VCMFB2 VSS ) poly_res"
    assert (r11.kind, r11.model, r11.value) == (DeviceKind.RES, "poly_res", None)
    assert r11.terminals == {"PLUS": "VOM2", "MINUS": "VCMFB2", "B": "VSS"}
    assert c.device("C4").terminals == {"PLUS": "VOP1", "MINUS": "net031"}
    assert c.device("M12").tags == (Subcircuit.FIRST_STAGE,)
    assert c.device("R19").tags == (Subcircuit.FEEDBACK,)


def test_core_ff_has_no_subckt_line(ut_anlay: Path) -> None:
    c = read_netlist(ut_anlay / "Core_FF.sp")
    assert c.name == "Core_FF" and c.ports == () and len(c.devices) == 22
    assert c.device("M0").l == 0.5 and c.device("MP1a").w == 40.0


def test_name_overrides_the_subckt_name(ut_anlay: Path) -> None:
    assert read_netlist(ut_anlay / "Core_test_flow.sp", name="ota3").name == "ota3"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_device_in_types_file_names_file_and_device(ut_anlay: Path, tmp_path: Path) -> None:
    types = _write(tmp_path, "t.json", '{"M0": "NMOS", "M99": "PMOS"}')
    with pytest.raises(NetlistError) as exc:
        read_netlist(ut_anlay / "Core_FF.sp", types=types)
    assert exc.value.field == f"{types}:M99"
    assert "not in the netlist" in exc.value.message


def test_unknown_device_in_channel_file_names_file_and_device(ut_anlay: Path, tmp_path: Path) -> None:
    channels = _write(tmp_path, "t.channel", '{"M0": [1], "Mx": [2]}')
    with pytest.raises(NetlistError) as exc:
        read_netlist(ut_anlay / "Core_FF.sp", channels=channels)
    assert exc.value.field == f"{channels}:Mx"


@pytest.mark.parametrize(
    ("text", "device", "words"),
    [
        ('{"M1": [6]}', "M1", "channel 6 is not one of 1 first_stage"),
        ('{"M1": [0]}', "M1", "channel 0"),
        ('{"M1": ["1"]}', "M1", "channel '1'"),
        ('{"M1": [1, 1]}', "M1", "listed twice"),
    ],
)
def test_bad_channel_numbers(tmp_path: Path, text: str, device: str, words: str) -> None:
    path = _write(tmp_path, "d.channel", text)
    with pytest.raises(NetlistError) as exc:
        read_channels(path)
    assert exc.value.field == f"{path}:{device}"
    assert words in exc.value.message


def test_single_channel_number_is_accepted(tmp_path: Path) -> None:
    assert read_channels(_write(tmp_path, "d.channel", '{"M1": 5}')) == {"M1": (Subcircuit.BIAS,)}


def test_unknown_kind_names_the_device(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.json", '{"M1": "NMOS", "Q1": "BJT"}')
    with pytest.raises(NetlistError) as exc:
        read_types(path)
    assert exc.value.field == f"{path}:Q1"
    assert "'BJT' is not one of NMOS, PMOS, CAP, RES" in exc.value.message


def test_broken_json_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.json", '{"M1": "NMOS",\n"M2" "PMOS"}')
    with pytest.raises(NetlistError) as exc:
        read_types(path)
    assert exc.value.field == f"{path}:2"


def test_json_that_is_not_an_object(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.json", '["M1"]')
    with pytest.raises(NetlistError, match="expected a JSON object"):
        read_types(path)


def test_missing_netlist_file(tmp_path: Path) -> None:
    with pytest.raises(NetlistError, match="cannot read netlist") as exc:
        read_netlist(tmp_path / "nope.sp")
    assert exc.value.field == str(tmp_path / "nope.sp")
