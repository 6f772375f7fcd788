"""SPICE and Spectre netlists -> Circuit: cards, sizes in um, kinds, subckt choice, errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Device, DeviceKind, Subcircuit
from placeq.errors import NetlistError
from placeq.formats import detect_dialect, infer_kind, parse_netlist, read_netlist

SPICE_OTA = """\
* five-transistor OTA with a Miller cap and a zero resistor
.param wn=2u ln=0.5u
.subckt ota5 inp inm out vbn vdd vss
M1 x inp tail vss nch w='2*wn' l=ln nf=2
M2 out inm tail vss nch W = 4u L = 0.5u NF=2
M3 x x vdd vdd pch w=8u l=1u m=2
M4 out x vdd vdd pch
+ w=8u     $ continuation with an inline comment
+ l=1u m=2
M5 tail vbn vss vss nch w=4u l=1u
Cc out mid 1p
Rz mid x rppoly 2.5k
.ends ota5
"""

SPECTRE_OTA = """\
// Generated for: spectre
simulator lang=spectre
subckt amp (INP INM OUT VDD VSS)
M0 (X INP T VSS) nfet_lvt l=120.0n w=12.0u m=1 nf=6
M1 (OUT INM T VSS) nfet_lvt l=120.0n w=12.0u multi=1 nf=6
M2 (X X VDD VDD) pfet l=200n w=8u m=1 nf=4
M3 (OUT X VDD VDD) pfet l=200n w=8u m=1 nf=4
M4 T VB VSS VSS nfet l=1u w=30u nf=4
C0 (OUT Z) mom_cap
R0 (Z X VSS ) poly_res
ends amp
"""


def test_spice_subckt_devices_sizes_and_kinds() -> None:
    c = parse_netlist(SPICE_OTA)
    assert c.name == "ota5"
    assert c.ports == ("inp", "inm", "out", "vbn", "vdd", "vss")
    assert [d.name for d in c.devices] == ["M1", "M2", "M3", "M4", "M5", "Cc", "Rz"]
    m1, m2, m3, m4 = (c.device(n) for n in ("M1", "M2", "M3", "M4"))
    assert (m1.kind, m1.w, m1.l, m1.nf, m1.m) == (DeviceKind.NMOS, 4.0, 0.5, 2, 1)  # w='2*wn' with wn=2u
    assert (m2.w, m2.l, m2.nf) == (4.0, 0.5, 2)
    assert (m3.kind, m3.m) == (DeviceKind.PMOS, 2)
    assert (m4.w, m4.l, m4.m) == (8.0, 1.0, 2)  # continuation lines joined
    assert m1.terminals == {"D": "x", "G": "inp", "S": "tail", "B": "vss"}
    cc, rz = c.device("Cc"), c.device("Rz")
    assert (cc.kind, cc.value, cc.model, cc.terminals) == (DeviceKind.CAP, 1e-12, None, {"PLUS": "out", "MINUS": "mid"})
    assert (rz.kind, rz.value, rz.model) == (DeviceKind.RES, 2500.0, "rppoly")
    assert c.symmetry_pairs == () and c.critical_nets == ()


def test_spectre_instances_with_and_without_parentheses() -> None:
    c = parse_netlist(SPECTRE_OTA)
    assert c.name == "amp" and c.ports == ("INP", "INM", "OUT", "VDD", "VSS")
    kinds = {d.name: d.kind for d in c.devices}
    assert kinds == {
        "M0": DeviceKind.NMOS, "M1": DeviceKind.NMOS, "M2": DeviceKind.PMOS, "M3": DeviceKind.PMOS,
        "M4": DeviceKind.NMOS, "C0": DeviceKind.CAP, "R0": DeviceKind.RES,
    }  # fmt: skip
    assert (c.device("M0").w, c.device("M0").l, c.device("M0").nf) == (12.0, 0.12, 6)
    assert c.device("M4").terminals == {"D": "T", "G": "VB", "S": "VSS", "B": "VSS"}
    r0 = c.device("R0")
    assert r0.terminals == {"PLUS": "Z", "MINUS": "X", "B": "VSS"}
    assert r0.value is None and c.device("C0").value is None  # sized by the PDK cell, not a value


def test_spectre_multi_is_m() -> None:
    c = parse_netlist("subckt a (x y)\nM0 (x y y y) nfet w=1u l=1u multi=3\nends a\n", dialect="spectre")
    assert c.device("M0").m == 3


def test_spectre_mega_versus_spice_milli() -> None:
    spectre = parse_netlist("subckt a (x y)\nR0 (x y) resistor r=1M\nends a\n")
    spice = parse_netlist("* t\n.subckt a x y\nR0 x y 1M\n.ends\n")
    assert spectre.device("R0").value == 1e6
    assert spice.device("R0").value == 1e-3


def test_dialect_detection() -> None:
    assert detect_dialect(SPICE_OTA) == "spice"
    assert detect_dialect(SPECTRE_OTA) == "spectre"


def test_top_level_cards_without_subckt_take_the_source_stem() -> None:
    c = parse_netlist("* no subckt\nM1 d g s b nmos w=1u l=1u\n", source="designs/my_amp.sp")
    assert c.name == "my_amp" and c.ports == ()


def test_spice_first_line_is_a_title() -> None:
    c = parse_netlist("Two stage amplifier\nM1 d g s b nch w=1u l=1u\n")
    assert [d.name for d in c.devices] == ["M1"]


def test_testbench_around_the_subckt_is_ignored() -> None:
    text = SPICE_OTA + "X1 a b c d e f ota5\nV1 e 0 1.2\n.tran 1n 1u\n.end\nthis is ignored after .end\n"
    assert parse_netlist(text).name == "ota5"


def test_name_picks_one_of_several_subckts() -> None:
    text = SPICE_OTA + ".subckt other a b\nR1 a b 1k\n.ends\n"
    with pytest.raises(NetlistError, match="several subckts"):
        parse_netlist(text)
    assert [d.name for d in parse_netlist(text, name="other").devices] == ["R1"]


def test_model_statements_give_kinds_to_custom_names() -> None:
    spice = ".model mylow nmos level=54\n.model myhi pmos(level=54)\n.subckt a x y\nM1 x y y y mylow w=1u l=1u\n"
    spice += "M2 x y y y myhi w=1u l=1u\n.ends\n"
    c = parse_netlist(spice)
    assert [d.kind for d in c.devices] == [DeviceKind.NMOS, DeviceKind.PMOS]
    spectre = "model dev1 bsim4 type=p\nsubckt a (x y)\nM1 (x y y y) dev1 w=1u l=1u\nends a\n"
    assert parse_netlist(spectre).device("M1").kind == DeviceKind.PMOS


def test_pdk_device_cells_as_x_instances() -> None:
    text = "* sky130\n.subckt a d g s\nXM1 d g s s sky130_fd_pr__nfet_01v8 w=1 l=0.15\n.ends\n.option scale=1e-6\n"
    m = parse_netlist(text).device("XM1")
    assert (m.kind, m.model, m.w, m.l) == (DeviceKind.NMOS, "sky130_fd_pr__nfet_01v8", 1.0, 0.15)


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("nch", DeviceKind.NMOS), ("nch_lvt", DeviceKind.NMOS), ("nfet_ud", DeviceKind.NMOS),
        ("NMOS_VTL", DeviceKind.NMOS), ("n_18_mm", DeviceKind.NMOS), ("sg13_lv_nmos", DeviceKind.NMOS),
        ("pch", DeviceKind.PMOS), ("pfet_lvt", DeviceKind.PMOS), ("pmos", DeviceKind.PMOS), ("p_33", DeviceKind.PMOS),
        ("mom_cap", DeviceKind.CAP), ("mimcap", DeviceKind.CAP), ("cfmom", DeviceKind.CAP), ("nmoscap", DeviceKind.CAP),
        ("poly_res", DeviceKind.RES), ("rppoly", DeviceKind.RES), ("rnpolywo", DeviceKind.RES),
        ("resistor", DeviceKind.RES), ("capacitor", DeviceKind.CAP),
    ],
)  # fmt: skip
def test_infer_kind_from_model_names(model: str, kind: DeviceKind) -> None:
    assert infer_kind(model) == kind


def test_infer_kind_falls_back_to_the_card_letter() -> None:
    assert infer_kind("cust1", "R") == DeviceKind.RES
    assert infer_kind("cust1", "C") == DeviceKind.CAP
    assert infer_kind("cust1", "M") is None


def test_types_override_and_channels_tag() -> None:
    text = "subckt a (x y z)\nM0 (x y z z) fet w=1u l=1u\nM1 (x y z z) fet w=1u l=1u\nends a\n"
    c = parse_netlist(
        text,
        types={"M0": DeviceKind.NMOS, "M1": DeviceKind.PMOS},
        channels={"M0": (Subcircuit.FIRST_STAGE,), "M1": (Subcircuit.CMFB, Subcircuit.BIAS)},
    )
    assert [(d.kind, d.tags) for d in c.devices] == [
        (DeviceKind.NMOS, (Subcircuit.FIRST_STAGE,)),
        (DeviceKind.PMOS, (Subcircuit.CMFB, Subcircuit.BIAS)),
    ]


def _error(text: str, **kwargs: object) -> NetlistError:
    with pytest.raises(NetlistError) as exc:
        parse_netlist(text, source="amp.sp", **kwargs)  # type: ignore[arg-type]
    return exc.value


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("* t\nM1 d g s b nch l=1u\n", "amp.sp:2", "needs w="),
        ("* t\nM1 d g s b mystery w=1u l=1u\n", "amp.sp:2", "cannot tell the device kind"),
        ("* t\nM1 d g nch w=1u l=1u\n", "amp.sp:2", "got 2"),
        ("* t\nM1 d g s b nch w=1u l=1u nf=1.5\n", "amp.sp:2", "whole number"),
        ("* t\nM1 d g s b nch w=-1u l=1u\n", "amp.sp:2", "must be positive"),
        ("* t\nM1 d g s b nch w=2 l=1u\n", "amp.sp:2", "w"),  # 2 metres: beyond the coordinate limit
        ("* t\nC1 a b 0\n", "amp.sp:2", "must be positive"),
        ("* t\nC1 a b c d 1p\n", "amp.sp:2", "unexpected"),
        ("* t\nR1 a b 1k r=2k\n", "amp.sp:2", "value given twice"),
        ("* t\nM1 d g s b nch w=1u l=1u\nM1 d g s b nch w=1u l=1u\n", "amp.sp:3", "already defined at amp.sp:2"),
        ("* t\nD1 a b dmod\n", "amp.sp", "no M/R/C devices"),  # a diode is dropped, nothing is left
        ("* t\n.subckt a x\nR1 x 0 1k\n.ends\n.subckt b y\nR1 y 0 1k\n.ends\n", "amp.sp", "several subckts"),
        ("* t\n.subckt a x\nM1 x x x x nch w=1u l=1u\n", "amp.sp:2", "has no ends"),  # names the opening line
        ("* t\n.ends\n", "amp.sp:2", "without an open subckt"),
        ("* t\n.subckt a x\n.subckt b y\n", "amp.sp:3", "nested"),
        ("* only comments\n", "amp.sp", "no M/R/C devices"),
        ("subckt a (x y)\nM1 (x y y y)\nends a\n", "amp.sp:2", "no master"),
        ("subckt a (x y)\nM1 (x y y y) nfet w=1u l=1u extra\nends a\n", "amp.sp:2", "after parameters"),
        ("subckt a (x y)\nV0 (x y) vsource dc=1\nends a\n", "amp.sp", "no M/R/C devices"),
        ("subckt a (x y)\nM1 (x y y y) nfet w=1u l=1u nf='2*nx'\nends a\n", "amp.sp:2", "unknown parameter 'nx'"),
        ("subckt a (x y)\nM1 (x y y y) nfet w=1u l=1u\nends a\nsimulator lang=verilog\n", "amp.sp:4", "unknown"),
    ],
)
def test_malformed_cards_name_file_and_line(text: str, field: str, words: str) -> None:
    err = _error(text)
    assert err.field == field
    assert words in err.message


def test_hierarchy_is_flattened_with_instance_prefixes_parameters_and_multipliers() -> None:
    text = ("* t\n.subckt top a b\nX1 a b leaf m=2 wl=2u\nX2 b a leaf\n.ends\n"
            ".subckt leaf x y wl=1u\nM1 x y mid 0 nch w=wl l=0.1u\nR1 mid y 1k\n.ends\n")
    c = parse_netlist(text)
    assert c.name == "top" and [d.name for d in c.devices] == ["X1_M1", "X1_R1", "X2_M1", "X2_R1"]
    m1, m2 = c.device("X1_M1"), c.device("X2_M1")
    assert m1.terminals == {"D": "a", "G": "b", "S": "X1_mid", "B": "0"} and m2.terminals["S"] == "X2_mid"
    assert (m1.w, m1.m, m2.w, m2.m) == (2.0, 2, 1.0, 1)  # the instance's parameter and multiplier


def test_elements_without_layout_meaning_are_shorted_or_dropped_and_said() -> None:
    text = ("subckt amp (a b g)\nM1 (a g s g) nfet w=1u l=1u\nP1 (s t) iprobe\nM2 (t g g g) nfet w=1u l=1u\n"
            "D0 (a g) diode\nV1 (b g) vsource dc=1.2\nM3 (g g g g) nfet w=1u l=1u\nends amp\n")
    notes: list[str] = []
    c = parse_netlist(text, notes=notes)
    assert [d.name for d in c.devices] == ["M1", "M2"]  # the probe joined s and t; diode, source, dummy dropped
    assert c.device("M1").terminals["S"] == c.device("M2").terminals["D"]
    said = " ".join(notes)
    assert all(w in said for w in ("P1: short", "D0: drop", "V1: drop", "M3: drop (dummy"))
    assert [d.name for d in parse_netlist(text, keep=["M3"], drop=["M2"]).devices] == ["M1", "M3"]


def test_undefined_sizes_and_missing_lengths_are_assumed_and_said() -> None:
    notes: list[str] = []
    c = parse_netlist("* t\nM1 a b c c nch w=2u l=0.2u\nM2 a b d d nch w=w0 l=l0\nM3 d b c c nch w=3u\n",
                      notes=notes)
    assert (c.device("M2").w, c.device("M2").l, c.device("M3").l) == (2.0, 0.2, 0.2)  # the given sizes' median
    assert any("--param w0=VALUE" in n for n in notes) and any("M3: no l=" in n for n in notes)
    assert parse_netlist("* t\nM2 a b d d nch w=w0 l=1u\n", params={"w0": "5u"}).device("M2").w == 5.0


def test_finfet_width_comes_from_fins_and_fingers() -> None:
    from placeq.footprint import FIN_WEFF, footprint

    d = parse_netlist("* t\nM1 a b c c nfet l=0.014u nfin=4 nf=2 w=180n\n").device("M1")
    assert d.nfin == 4 and d.w == pytest.approx(8 * FIN_WEFF)
    taller = parse_netlist("* t\nM1 a b c c nfet l=0.014u nfin=40 nf=2\n").device("M1")
    assert footprint(taller).h > footprint(d).h


def test_ends_with_another_name_closes_the_open_subckt_and_says_so() -> None:
    notes: list[str] = []
    c = parse_netlist("subckt a (x)\nM1 (x x y x) nfet w=1u l=1u\nends b\n", source="amp.sp", notes=notes)
    assert c.name == "a" and any("amp.sp:3" in n and "closes subckt 'a'" in n for n in notes)


def test_a_testbench_is_not_taken_for_a_design() -> None:
    text = ("subckt tb\nV0 (vdd 0) vsource dc=1.2\nI0 (vdd b) isource dc=1u\nX0 (a b vdd 0) OTA\n"
            "C0 (a 0) capacitor c=1p\nends tb\n")
    err = _error(text)
    assert "testbench" in err.message and "--testbench" in err.message


def test_sidecar_naming_unknown_device_is_an_error() -> None:
    err = _error("* t\nM1 d g s b nch w=1u l=1u\n", types={"M9": DeviceKind.NMOS})
    assert (err.field, err.message) == ("types.M9", "device 'M9' is not in the netlist")
    err = _error("* t\nM1 d g s b nch w=1u l=1u\n", channels={"M7": (Subcircuit.BIAS,)})
    assert err.field == "channels.M7"


def test_types_conflicting_with_the_card_name_both() -> None:
    err = _error("* t\nM1 d g s b nch w=1u l=1u\n", types={"M1": DeviceKind.CAP})
    assert err.field == "amp.sp:2"
    assert "a CAP has nets" in err.message and "types.M1" in err.message


def _spice_card(d: Device) -> str:
    nets = " ".join(d.terminals.values())
    if d.is_mos:
        return f"{d.name} {nets} {d.model} w={d.w!r}u l={d.l!r}u nf={d.nf} m={d.m}"
    if d.kind is DeviceKind.CAP:
        return f"{d.name} {nets} {d.value!r}"
    return f"X{d.name} {nets} rpoly r={d.value!r}"  # a 3-terminal resistor is a PDK cell in SPICE


def _spectre_card(d: Device) -> str:
    nets = " ".join(d.terminals.values())
    if d.is_mos:
        return f"{d.name} ({nets}) {d.model} w={d.w!r}u l={d.l!r}u nf={d.nf} multi={d.m}"
    master, key = ("capacitor", "c") if d.kind is DeviceKind.CAP else ("resistor", "r")
    return f"{d.name} ({nets}) {master} {key}={d.value!r}"


@pytest.mark.parametrize("design", BUILTIN_DESIGNS)
@pytest.mark.parametrize("dialect", ["spice", "spectre"])
def test_builtin_designs_survive_a_netlist_round_trip(design: str, dialect: str) -> None:
    """Golden reference: our own circuits, written as netlists and read back, keep every device field."""
    c = load_design(design)
    ports = " ".join(c.ports)
    if dialect == "spice":
        body = "\n".join(_spice_card(d) for d in c.devices)
        text = f"* {design}\n.subckt {c.name} {ports}\n{body}\n.ends {c.name}\n"
    else:
        body = "\n".join(_spectre_card(d) for d in c.devices)
        text = f"// {design}\nsubckt {c.name} ({ports})\n{body}\nends {c.name}\n"
    back = parse_netlist(text)
    assert back.name == c.name and back.ports == c.ports
    strip = {"tags", "model"}
    renamed = [
        d.model_copy(update={"name": "X" + d.name}) if dialect == "spice" and d.kind is DeviceKind.RES else d
        for d in c.devices
    ]
    assert [d.model_dump(exclude=strip) for d in back.devices] == [d.model_dump(exclude=strip) for d in renamed]
    assert [d.model for d in back.devices if d.is_mos] == [d.model for d in c.devices if d.is_mos]


def test_unknown_kind_names_the_types_field_for_text_and_the_types_file_for_files(tmp_path: Path) -> None:
    """The API and `parse_netlist` take kinds in a `types` field, the CLI in a --types file: each message names its
    own place, with the device to put there."""
    text = "* t\nM1 d g s b mystery w=1u l=1u\n"
    err = _error(text)
    assert 'give it in the `types` field, e.g. {"M1": "NMOS"}' in err.message and "file" not in err.message
    path = tmp_path / "amp.sp"
    path.write_text(text)
    with pytest.raises(NetlistError) as exc:
        read_netlist(path)
    assert exc.value.field == f"{path}:2"
    assert '--types FILE.json' in exc.value.message and '{"M1": "NMOS"}' in exc.value.message
