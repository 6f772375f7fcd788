"""Pictures: a placement beside its feature images, feature grids, and `placeq draw`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from cli import main
from placeq.domain import SUBCIRCUITS, Box, DeviceKind, Pin, PlacedDevice, Placement
from placeq.draw import draw_features, draw_placement
from placeq.errors import InputError
from placeq.features import rasterize


def example(n: int = 12) -> Placement:
    rng = np.random.default_rng(5)
    devices, pins = [], []
    for i in range(n):  # non-overlapping: one device per cell of a 4-wide grid
        x, y = 6.0 * (i % 4) + rng.uniform(0, 1), 5.0 * (i // 4) + rng.uniform(0, 1)
        d = PlacedDevice(name=f"D{i}", kind=list(DeviceKind)[i % 4], tags=(SUBCIRCUITS[i % 5],), x=x, y=y, w=4.0, h=3.0)
        devices.append(d)
        pins += [
            Pin(
                device=d.name,
                terminal="PLUS" if i % 4 > 1 else "D",
                net=f"n{i % 3}",
                box=Box(x0=x + 0.2, y0=y + 0.2, x1=x + 0.6, y1=y + 0.6),
            ),
        ]
    return Placement(design="pic", devices=tuple(devices), pins=tuple(pins))


def assert_picture(path: Path, min_width: int) -> None:
    img = imread(path)  # (H, W, 4) floats for a PNG
    assert img.ndim == 3 and img.shape[1] >= min_width
    assert img[..., :3].std() > 0.05  # not a blank canvas
    assert len(np.unique(img[..., :3].reshape(-1, 3), axis=0)) > 8  # several colours drawn


def test_draw_placement_writes_a_png(tmp_path: Path) -> None:
    out = draw_placement(example(), tmp_path / "sub" / "p.png", title="twelve devices")
    assert out == tmp_path / "sub" / "p.png"
    assert_picture(out, 800)


@pytest.mark.parametrize(("nofeat", "coords"), [(False, False), (False, True), (True, False)])
def test_draw_features_grids(tmp_path: Path, nofeat: bool, coords: bool) -> None:
    out = draw_features(rasterize(example(), nofeat=nofeat), tmp_path / "f.png", coords=coords)
    assert_picture(out, 300)


def test_draw_features_rejects_a_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="features"):
        draw_features(np.zeros((5, 64, 64), np.float32), tmp_path / "f.png")


def test_cli_draw(tmp_path: Path) -> None:
    src = tmp_path / "ps.jsonl"
    src.write_text(example().model_dump_json() + "\n" + example(6).model_dump_json() + "\n")
    assert main(["draw", str(src), "-o", str(tmp_path / "a.png"), "--index", "1"]) == 0
    assert_picture(tmp_path / "a.png", 800)
    assert main(["draw", str(src), "-o", str(tmp_path / "c.png"), "--channels"]) == 0
    assert_picture(tmp_path / "c.png", 600)
    assert main(["draw", str(src), "-o", str(tmp_path / "x.png"), "--index", "2"]) == 2
    assert not (tmp_path / "x.png").exists()
