"""`simulate.check`: the nominal operating point and the reasons a design cannot be labelled, with real ngspice."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Circuit
from placeq.errors import InputError
from simulate.check import MIN_GAIN_DB, MIN_MARGIN_V, check_design, fix_bias, judge, signal_path
from simulate.label import label_batch
from simulate.netlist import build_template, layout_values
from simulate.ngspice import batch_run
from simulate.nominal import row_placement
from simulate.operating_point import nominal_deck, run_deck
from simulate.techfile import load_tech

pytestmark = pytest.mark.ngspice


def edited(name: str, edit: dict[str, object] | None = None, **tb: object) -> Circuit:
    """A built-in design with some testbench fields replaced and device terminals moved ({device: {term: net}})."""
    data = json.loads(load_design(name).model_dump_json())
    data["testbench"].update(tb)
    for dev in data["devices"]:
        dev["terminals"].update((edit or {}).get(dev["name"], {}))
    return Circuit.model_validate(data)


def floating_ota1() -> Circuit:
    """ota1 whose tail gate M9.G moved to a new port VBT that only a bias current feeds: no DC path."""
    return edited("ota1", {"M9": {"G": "VBT"}}, bias_currents={"VBN": 2e-5, "VBT": 2e-5})


@pytest.mark.parametrize("name", BUILTIN_DESIGNS)
def test_builtin_designs_can_be_labelled_with_every_signal_path_device_saturated(name: str) -> None:
    circuit = load_design(name)
    report = check_design(circuit)
    assert report.ok, report.problems
    path = signal_path(circuit)
    rows = [r for r in report.devices if r.op.name in path]
    assert len(rows) == len(path) > 0
    assert all(r.region == "saturation" and r.op.margin >= MIN_MARGIN_V for r in rows)
    assert report.gain_db > MIN_GAIN_DB and report.gain > 0
    assert 0.5 < report.output_cm < 1.0  # docs/circuits.md: 0.62 V (ota1/ota2), 0.88-0.89 V (ota3/ota4)


def test_single_ended_open_loop_gain_is_the_amplifiers_not_the_low_pass_load() -> None:
    """A single-ended OTA's loop is opened behind a buffer: the 1 GF low-pass on the output itself shorted it at
    1 Hz, and every single-ended design read ~0 dB (16 of 16 generated ones were rejected for it)."""
    from placeq.generate import generate

    single = [g.circuit for g in generate(48, seed=0) if len(g.circuit.testbench.outputs) == 1][:2]
    assert single
    for circuit in single:
        report = check_design(circuit)
        assert report.gain_db > MIN_GAIN_DB and report.gain > 0, (circuit.name, report.gain_db)


def test_floating_bias_node_is_found_before_simulating_and_the_labeller_refuses_it() -> None:
    circuit = floating_ota1()
    report = check_design(circuit)
    assert not report.ok
    assert "floating node" in report.problems[0] and "VBT (only M9.G)" in report.problems[0]
    with pytest.raises(InputError, match="floating node VBT"):
        label_batch(circuit, row_placement(circuit))


def test_a_floating_node_that_ngspice_b_rescues_is_a_failed_label_not_ok() -> None:
    """ngspice -b's transient op puts the floating gate at ~455 V with plausible outputs (issue 12's 'ok' labels)."""
    circuit = floating_ota1()
    tech = load_tech()
    batch = row_placement(circuit)
    template, routing = build_template(circuit, batch, tech)
    values = layout_values(circuit, batch, routing, tech)
    from simulate.label import _probe

    (res,) = batch_run([template.render(values, 0)], _probe(template, ac=False))
    assert not res.ok
    assert "vbt" in res.reason and "outside the supply rails" in res.reason


def test_swapped_inputs_are_feedback_of_the_wrong_polarity() -> None:
    report = check_design(edited("ota1", inputs=["INM", "INP"]))
    assert not report.ok and report.gain < 0
    assert any("wrong polarity" in p and "[INP, INM]" in p for p in report.problems)


def test_a_nan_in_the_operating_point_is_a_reason_not_a_number() -> None:
    circuit = load_design("ota3")
    (op,) = run_deck(nominal_deck(circuit, load_tech()))
    assert judge(circuit, op).ok
    poisoned = dataclasses.replace(op, voltages={**op.voltages, "TAIL1": math.nan}, nonfinite=("tail1",))
    report = judge(circuit, poisoned)
    assert not report.ok and report.problems[0].startswith("NaN in the operating point: tail1")


def test_sinks_in_triode_are_named_and_fix_bias_moves_the_bias_back() -> None:
    circuit = edited("ota3", bias_currents={"VBN": 6e-5}, bias_voltages={"VREF": 0.4})
    report = check_design(circuit)
    assert not report.ok
    assert "not saturated" in report.problems[0] and "M6 (triode" in report.problems[0]
    fix = fix_bias(circuit)
    assert fix.margin_before < 0 < MIN_MARGIN_V < fix.margin_after
    assert "VBN" in fix.changed and fix.changed["VBN"][0] == 6e-5
    fixed = circuit.model_copy(update={"testbench": fix.testbench})
    assert check_design(fixed).ok


def test_a_design_without_a_testbench_cannot_be_checked() -> None:
    circuit = load_design("ota1").model_copy(update={"testbench": None})
    with pytest.raises(InputError, match="no testbench"):
        check_design(circuit)


def test_fix_bias_moves_a_drafted_common_mode_but_never_a_given_one() -> None:
    """A drafted testbench's mid-supply common mode is a guess --fix-bias may move; a designer's stays put."""
    from placeq.circuits import load_design
    from simulate.check import fix_bias

    ota3 = load_design("ota3")
    tb = ota3.testbench
    assert tb is not None
    low = ota3.model_copy(update={"testbench": tb.model_copy(update={"common_mode": 0.3})})
    kept = fix_bias(low)
    assert kept.testbench.common_mode == 0.3 and "common_mode" not in kept.changed
    moved = fix_bias(low, common_mode=True)
    assert moved.testbench.common_mode != 0.3 and moved.margin_after >= kept.margin_after
