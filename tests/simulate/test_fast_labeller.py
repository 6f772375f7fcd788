"""Issue 15: the faster labeller (lines encoded once per chunk, layout numbers computed in the workers) gives the
labels of the straightforward path it replaced, on every built-in design, failures included."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace

import numpy as np
import pytest

from placeq.batch import PlacementBatch
from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Circuit
from simulate.label import RETRY_OPTIONS, _nodeset, _probe, _spice, combine_gradients, label_batch
from simulate.netlist import build_template, layout_values
from simulate.ngspice import SimResult
from simulate.nominal import row_placements
from simulate.techfile import Tech, load_tech

pytestmark = pytest.mark.ngspice


def reference_labels(circuit: Circuit, batch: PlacementBatch, tech: Tech) -> list[SimResult]:
    """The labeller before issue 15: numbers for the whole batch in the caller, each netlist rendered as text and
    split, encoded and loaded by `SharedSpice.run`, the same retry; per placement one run for each gradient of the
    label (issue 13), combined by the same rule."""
    template, routing = build_template(circuit, batch, tech)
    spice = _spice()
    probe = _probe(template, ac=True)
    seeded = template.with_nodeset(_nodeset(spice, template))
    retry = replace(template, nodeset=RETRY_OPTIONS)
    runs = []
    for g_vth, g_beta in tech.gradient_vectors():
        values = layout_values(circuit, batch, routing, tech, g_vth, g_beta)
        out = []
        for i in range(len(batch)):
            res = spice.run(seeded.render(values, i, f"placement {i}"), probe)
            if not res.ok and not res.reason.startswith("|offset|"):
                again = spice.run(retry.render(values, i, f"placement {i}"), probe)
                res = again if again.ok else SimResult(res.offset, res.cm_gain, False,
                                                       f"{res.reason}; retry with gmin/source stepping: "
                                                       f"{again.reason}")
            out.append(res)
        runs.append(out)
    return [combine_gradients([run[i] for run in runs]) for i in range(len(batch))]


@pytest.mark.parametrize("design", BUILTIN_DESIGNS)
def test_fast_labeller_gives_the_reference_labels(design: str) -> None:
    circuit = load_design(design)
    batch = row_placements(circuit, 24, seed=15, row_um=50.0, gap_um=0.4)  # random device orders
    steep = dataclasses.replace(load_tech(), vth_grad=5e-3)  # 5 mV/um: the widely split pairs leave linear range
    failed = 0
    for tech in (load_tech(), steep):
        ref = reference_labels(circuit, batch, tech)
        table = label_batch(circuit, batch, tech=tech, jobs=2, chunk_size=7, measure="both")
        assert table.ok.tolist() == [r.ok for r in ref]
        assert list(table.reason) == [r.reason for r in ref]
        ref_offset = np.array([r.offset for r in ref])
        ref_cmrr = np.array([min(-20 * math.log10(r.cm_gain), 300.0) if r.cm_gain > 0 else math.nan for r in ref])
        np.testing.assert_allclose(table.offset, ref_offset, rtol=0, atol=1e-9, equal_nan=True)
        np.testing.assert_allclose(table.cmrr_db, ref_cmrr, rtol=0, atol=1e-6, equal_nan=True)
        failed += int((~table.ok).sum())
    assert 0 < failed < 2 * len(batch)  # failures were compared too, and not everything failed
