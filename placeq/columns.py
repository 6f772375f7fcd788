"""Placements of one design in columns: the structure once, the coordinates as one number array per placement.

The documented placement form repeats every device's name, kind and tags and every pin's device, terminal and
net in each placement, and validating it builds ~1,600 objects per OTA placement (docs/performance.md: most of
a batch call's CPU). A design space shares all of that, so the columnar form sends it once and only the boxes
carry the batch axis, which is exactly `PlacementBatch`. The checks here are the ones `Placement` makes,
written over whole arrays with numpy; each failure is an `InputError` naming the field (``boxes[3]``,
``pins.device[7]``), so the API answers 422 as it does for the documented form.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import (
    MAX_COORD_UM,
    MAX_DEVICES,
    MAX_NETS,
    MAX_PINS,
    PIN_TOLERANCE_UM,
    DeviceKind,
    Subcircuit,
)
from placeq.errors import InputError


def _numbers(rows: object, field: str, width: int) -> np.ndarray:
    """(B, width) float64 from B rows of `width` finite numbers; `InputError` naming the first bad row."""
    try:
        array = np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError):
        array = None
    if array is None or array.ndim != 2 or array.shape[1] != width:
        lengths = [len(r) if isinstance(r, list | tuple) else -1 for r in rows] if isinstance(rows, list) else []
        bad = next((i for i, n in enumerate(lengths) if n != width), None)
        where = f"{field}[{bad}]" if bad is not None else field
        unit = "pin" if "pin" in field else "device"
        raise InputError(where, f"expected {width} numbers per placement (4 per {unit})")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        raise InputError(f"{field}[{int(np.argmin(finite))}]", "numbers must be finite")
    return array


def _first_bad(bad: np.ndarray | np.bool_, field: str, message: str) -> None:
    """Raise for the first True of `bad` (B, K): ``field[b][4k]`` names the placement and the box's first number."""
    bad = np.asarray(bad)
    if bad.any():
        b, k = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise InputError(f"{field}[{b}][{4 * k}]", message)


def _duplicates(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]


def batch_from_columns(
    *,
    design: str,
    devices: Sequence[str],
    kinds: Sequence[DeviceKind],
    tags: Sequence[Sequence[Subcircuit]],
    pin_device: Sequence[int],
    pin_terminal: Sequence[str],
    pin_net: Sequence[str],
    boxes: Sequence[Sequence[float]],
    pin_boxes: Sequence[Sequence[float]] | None,
) -> PlacementBatch:
    """A validated `PlacementBatch` from columns (names and types already checked by the caller's schema).

    `boxes` holds one row per placement: x, y, w, h of each device in `devices` order (4N numbers); `pin_boxes`
    one row per placement: x0, y0, x1, y1 of each pin in `pin_*` order (4P numbers). Nets are numbered in the
    order pins first name them, as `Placement.nets` does, so both forms rasterize identically.
    """
    n, p = len(devices), len(pin_device)
    if not 1 <= n <= MAX_DEVICES:
        raise InputError("devices", f"need 1 to {MAX_DEVICES} devices, got {n}")
    if dup := _duplicates(devices):
        raise InputError("devices", f"duplicate device names {dup[:10]}")
    for field, column in (("kinds", kinds), ("tags", tags)):
        if len(column) != n:
            raise InputError(field, f"expected one entry per device ({n}), got {len(column)}")
    for i, t in enumerate(tags):
        if len(set(t)) != len(t):
            raise InputError(f"tags[{i}]", "repeated subcircuit tag")
    if p > MAX_PINS:
        raise InputError("pins", f"{p} pins exceed the limit of {MAX_PINS}")
    for field, count in (("pins.terminal", len(pin_terminal)), ("pins.net", len(pin_net))):
        if count != p:
            raise InputError(field, f"expected one entry per pin ({p}, as pins.device), got {count}")
    dev_index = np.asarray(pin_device, dtype=np.int64).reshape(p)
    out_of_range = (dev_index < 0) | (dev_index >= n)
    if out_of_range.any():
        i = int(np.argmax(out_of_range))
        raise InputError(f"pins.device[{i}]", f"device index {int(dev_index[i])} is not in 0..{n - 1}")
    seen: set[tuple[int, str]] = set()
    for i, key in enumerate(zip(dev_index.tolist(), pin_terminal, strict=True)):
        if key in seen:
            raise InputError(f"pins.terminal[{i}]", f"duplicate pin {devices[key[0]]}.{key[1]}")
        seen.add(key)
    net_of = {net: j for j, net in enumerate(dict.fromkeys(pin_net))}
    if len(net_of) > MAX_NETS:
        raise InputError("pins.net", f"more than {MAX_NETS} nets")

    dev = _numbers(boxes, "boxes", 4 * n).reshape(-1, n, 4)  # (B, N, 4) x, y, w, h
    b = len(dev)
    if b == 0:
        raise InputError("boxes", "at least one placement is needed")
    lim = MAX_COORD_UM
    _first_bad((np.abs(dev[..., :2]) > lim).any(axis=-1), "boxes", f"x, y must lie within +-{lim:g} um")
    _first_bad(~((dev[..., 2:] > 0) & (dev[..., 2:] <= lim)).all(axis=-1), "boxes", f"w, h must be in (0, {lim:g}] um")
    _first_bad((dev[..., :2] + dev[..., 2:] > lim).any(axis=-1), "boxes", f"the device ends beyond {lim:g} um")
    if pin_boxes is None:
        if p:
            raise InputError("pin_boxes", f"expected one row of {4 * p} numbers per placement")
        pins = np.zeros((b, 0, 4))
    else:
        pins = _numbers(pin_boxes, "pin_boxes", 4 * p).reshape(-1, p, 4)  # (B, P, 4) x0, y0, x1, y1
        if len(pins) != b:
            raise InputError("pin_boxes", f"expected one row per placement ({b}, as boxes), got {len(pins)}")
        _first_bad((np.abs(pins) > lim).any(axis=-1), "pin_boxes", f"coordinates must lie within +-{lim:g} um")
        _first_bad((pins[..., 2:] < pins[..., :2]).any(axis=-1), "pin_boxes", "x1 >= x0 and y1 >= y0 required")
        owner = dev[:, dev_index]  # (B, P, 4) x, y, w, h of each pin's device
        tol = PIN_TOLERANCE_UM
        outside = (
            (pins[..., 0] < owner[..., 0] - tol)
            | (pins[..., 1] < owner[..., 1] - tol)
            | (pins[..., 2] > owner[..., 0] + owner[..., 2] + tol)
            | (pins[..., 3] > owner[..., 1] + owner[..., 3] + tol)
        )
        _first_bad(outside, "pin_boxes", f"a pin lies outside its device by more than {PIN_TOLERANCE_UM} um")
    return PlacementBatch(
        design=design,
        device_names=tuple(devices),
        kinds=tuple(kinds),
        tags=tuple(tuple(t) for t in tags),
        pin_device=dev_index,
        pin_terminal=tuple(pin_terminal),
        pin_net=np.array([net_of[m] for m in pin_net], dtype=np.int64).reshape(p),
        nets=tuple(net_of),
        boxes=dev,
        pin_boxes=pins,
    )


def columns_of(batch: PlacementBatch) -> dict[str, object]:
    """The columnar JSON form of `batch` (what a client sends as ``{"columns": ...}`` to /predict)."""
    return {
        "design": batch.design,
        "devices": list(batch.device_names),
        "kinds": [k.value for k in batch.kinds],
        "tags": [[s.value for s in t] for t in batch.tags],
        "pins": {
            "device": batch.pin_device.tolist(),
            "terminal": list(batch.pin_terminal),
            "net": [batch.nets[int(m)] for m in batch.pin_net],
        },
        "boxes": batch.boxes.reshape(len(batch), -1).tolist(),
        "pin_boxes": batch.pin_boxes.reshape(len(batch), -1).tolist(),
    }
