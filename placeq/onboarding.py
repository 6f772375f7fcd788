"""An imported circuit made usable: a testbench (given, read or drafted) and what the topology says (tags, symmetry,
critical nets), each with its provenance. `placeq import-netlist` and `POST /designs` both call `complete`, so a
circuit registered through the API is understood exactly as one imported on the command line."""

from __future__ import annotations

from collections.abc import Iterable

from placeq.domain import Circuit, Testbench
from placeq.testbench_draft import draft_testbench
from placeq.topology import understand


def complete(
    circuit: Circuit,
    *,
    testbench: Testbench | None = None,
    testbench_notes: Iterable[str] = (),
    critical: int | list[str] | None = None,
    power: Iterable[str] = (),
    ground: Iterable[str] = (),
) -> tuple[Circuit, list[str]]:
    """(`circuit` completed, notes). `testbench` (given) replaces the circuit's; without one the circuit keeps its
    own or gets a draft from its ports and topology (placeq.testbench_draft), marked "inferred"."""
    notes = list(testbench_notes)
    if testbench is not None:
        circuit = circuit.model_copy(update={"testbench": testbench,
                                             "provenance": {**circuit.provenance, "testbench": "given"}})
    elif circuit.testbench is None:
        draft = draft_testbench(circuit)
        notes += draft.lines()
        if draft.testbench is not None:
            circuit = circuit.model_copy(update={"testbench": draft.testbench,
                                                 "provenance": {**circuit.provenance, "testbench": "inferred"}})
    circuit, inferred = understand(circuit, critical=critical, power=power, ground=ground)
    return circuit, notes + inferred
