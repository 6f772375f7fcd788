"""`placeq features`: Placement JSON / JSON lines in, a .npy tensor out; bad input names file:line and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli import main
from placeq.domain import Box, DeviceKind, Pin, PlacedDevice, Placement, Subcircuit
from placeq.features import rasterize


def placement(design: str, shift: float = 0.0, n: int = 3) -> Placement:
    devices = tuple(
        PlacedDevice(
            name=f"M{i}",
            kind=DeviceKind.NMOS if i % 2 else DeviceKind.PMOS,
            tags=(Subcircuit.FIRST_STAGE,),
            x=3.0 * i + shift * i,
            y=0.5 * i,
            w=2.0,
            h=1.5,
        )
        for i in range(n)
    )
    pins = tuple(
        Pin(device=d.name, terminal="D", net="out", box=Box(x0=d.x, y0=d.y, x1=d.x + 0.2, y1=d.y + 0.2))
        for d in devices
    )
    return Placement(design=design, devices=devices, pins=pins)


def test_one_placement_json_gives_one_tensor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "p.json", tmp_path / "f.npy"
    p = placement("a")
    src.write_text(p.model_dump_json())
    assert main(["features", str(src), "-o", str(out)]) == 0
    arr = np.load(out)
    assert arr.shape == (18, 64, 64) and arr.dtype == np.float32
    np.testing.assert_array_equal(arr, rasterize(p))
    assert "(18, 64, 64)" in capsys.readouterr().out


def test_jsonl_of_two_designs_stacks_in_file_order(tmp_path: Path) -> None:
    src, out = tmp_path / "ps.jsonl", tmp_path / "f.npy"
    ps = [placement("a"), placement("b", n=4), placement("a", shift=1.0)]
    src.write_text("\n".join(p.model_dump_json() for p in ps) + "\n\n")
    assert main(["features", str(src), "-o", str(out), "--nofeat"]) == 0
    arr = np.load(out)
    assert arr.shape == (3, 2, 64, 64)
    for i, p in enumerate(ps):
        np.testing.assert_array_equal(arr[i], rasterize(p, nofeat=True))


def test_bad_line_is_named_with_its_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "ps.jsonl"
    bad = placement("a").model_dump()
    bad["devices"][1]["w"] = -1.0
    src.write_text(placement("a").model_dump_json() + "\n" + json.dumps(bad) + "\n")
    assert main(["features", str(src), "-o", str(tmp_path / "f.npy")]) == 2
    err = capsys.readouterr().err
    assert f"{src}:2" in err and "devices.1.w" in err
    assert not (tmp_path / "f.npy").exists()


def test_missing_file_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["features", str(tmp_path / "none.json"), "-o", str(tmp_path / "f.npy")]) == 2
    assert "no such file" in capsys.readouterr().err
