"""Corpus OTAs at their authors' own supply: MAGICAL-CIRCUITS' testbenches (1.1-1.2 V) with the generic 40 nm-class
cards (`--tech simulate/tech_40lv.json`), and `--fix-bias` putting the signal path first (issue 12).

The netlists are read from ../shared (BSD-3, never copied into the repo). Without ../shared the tests skip, except
under CI, where the corpus must be there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cli import main

pytestmark = pytest.mark.ngspice

REPO = Path(__file__).resolve().parents[2]
OTAS = REPO.parent / "shared" / "corpus" / "magical-circuits" / "OTA"
if not OTAS.is_dir() and os.environ.get("CI") != "true":
    pytest.skip("../shared/corpus is not here", allow_module_level=True)

TECH_40LV = str(REPO / "simulate" / "tech_40lv.json")


def _import(name: str, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / f"{name}.json"
    assert main(["import-netlist", str(OTAS / f"{name}.sp"), "--testbench", str(OTAS / f"{name}_test.sp"),
                 *extra, "-o", str(out)]) == 0
    return out


def _check(design: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["check", "--design", str(design), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_ota_4_biases_at_its_authors_1v2_on_the_40lv_cards_but_keeps_its_pmos_pair_at_the_triode_edge(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    design = _import("OTA_4", tmp_path)
    code, generic = _check(design, capsys)
    assert code == 2 and generic["loop_gain_db"] < 0  # 1.8 V cards at 1.2 V: no amplifier
    code, lv = _check(design, capsys, "--tech", TECH_40LV)
    assert code == 2 and lv["loop_gain_db"] > 55  # the authors publish 67 dB
    assert "M34 (triode" in lv["problems"][0] and "M35 (triode" in lv["problems"][0]


def test_fix_bias_raises_the_signal_path_margin_not_an_off_path_device(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OTA_4's bias device M6 sits in triode whatever the ports do; sweeping for it used to push the PMOS input pair
    deeper into triode (-0.06 -> -0.15 V). The signal path now comes first."""
    design = _import("OTA_4", tmp_path)
    capsys.readouterr()
    main(["check", "--design", str(design), "--tech", TECH_40LV, "--fix-bias", "-o", str(tmp_path / "fixed.json")])
    note = capsys.readouterr().out.splitlines()[0]
    before, after = (float(x) for x in note.split("smallest signal-path margin ")[1].split(" V")[0].split(" -> "))
    assert before < 0 < after


def test_ota_xt_checks_and_labels_with_its_authors_testbench_on_the_40lv_cards(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    design = _import("OTA_XT_MAGICAL", tmp_path, "--sym", str(OTAS.parents[1] / "magical" / "OTA_XT_MAGICAL.sym"))
    fixed = tmp_path / "xt_fixed.json"
    main(["check", "--design", str(design), "--tech", TECH_40LV, "--fix-bias", "-o", str(fixed)])
    code, report = _check(fixed, capsys, "--tech", TECH_40LV)
    assert code == 0 and report["ok"]
    path = [d for d in report["devices"] if d["signal_path"]]
    assert path and all(d["margin"] >= 0.05 for d in path)
    space, labels = tmp_path / "xt.parquet", tmp_path / "xt_labels.csv"
    assert main(["place", "--design", str(fixed), "--count", "8", "-o", str(space)]) == 0
    assert main(["simulate", "--design", str(fixed), str(space), "-o", str(labels), "--tech", TECH_40LV,
                 "--jobs", "1", "--no-cache", "--no-progress"]) == 0
    rows = labels.read_text().splitlines()[1:]
    assert len(rows) == 8 and all(",ok," in r for r in rows)
