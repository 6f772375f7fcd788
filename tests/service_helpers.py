"""Helpers shared by the service tests."""

from __future__ import annotations

import json

import numpy as np

from placeq.domain import Placement


def placements_json(example: Placement, n: int, seed: int = 0) -> list[dict[str, object]]:
    """`n` variants of the example placement: devices shifted by whole microns (still a valid placement)."""
    rng = np.random.default_rng(seed)
    data = json.loads(example.model_dump_json())
    out = []
    for _ in range(n):
        dx = rng.integers(-3, 4, size=len(data["devices"]))
        shift = {d["name"]: float(s) for d, s in zip(data["devices"], dx, strict=True)}
        item = json.loads(json.dumps(data))
        for d in item["devices"]:
            d["x"] += shift[d["name"]]
        for p in item["pins"]:
            p["box"]["x0"] += shift[p["device"]]
            p["box"]["x1"] += shift[p["device"]]
        out.append(item)
    return out
