"""`placeq features`: rasterize placements (a Placement JSON, or JSON lines of them) into a .npy tensor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from placeq.domain import Placement
from placeq.errors import InputError
from placeq.textio import read_text


def register(sub: Any) -> None:
    p = sub.add_parser(
        "features",
        help="rasterize placements into feature tensors (.npy): 18x64x64 each, or 2x64x64 with --nofeat",
        description=(
            "Read one Placement JSON (-> array (18, 64, 64)) or a .jsonl file with one Placement per line "
            "(-> (B, 18, 64, 64), in file order) and save the paper's feature tensors as float32 .npy. "
            "Channel layout: docs/features.md."
        ),
    )
    p.add_argument("placement", type=Path, help="Placement .json, or .jsonl with one placement per line")
    p.add_argument("-o", "--output", required=True, type=Path, help="output .npy file")
    p.add_argument("--nofeat", action="store_true", help="the paper's nofeat form: (2, 64, 64) per placement")
    p.set_defaults(handler=run)


def _parse(text: str, where: str) -> Placement:
    try:
        return Placement.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(part) for part in err["loc"])
        raise InputError(where, f"{loc}: {err['msg']}" if loc else err["msg"]) from exc


def read_placements(path: Path) -> tuple[list[Placement], bool]:
    """Placements of a .json (one) or .jsonl (one per non-blank line) file, and whether it was JSON lines.

    Errors name ``file:line`` and the field within the placement.
    """
    if not path.is_file():
        raise InputError("placement", f"no such file: {path}")
    text = read_text(path, what="placement file")
    if path.suffix != ".jsonl":
        return [_parse(text, str(path))], False
    placements = [_parse(line, f"{path}:{i}") for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not placements:
        raise InputError(str(path), "no placements in the file")
    return placements, True


def rasterize_placements(placements: list[Placement], *, nofeat: bool = False) -> np.ndarray:
    """(B, C, 64, 64) features of placements of possibly several designs, in input order.

    Placements sharing a structure are rasterized as one batch (the fast path).
    """
    from placeq.batch import PlacementBatch
    from placeq.features import FEATURE_SHAPE, NOFEAT_SHAPE, rasterize_batch

    groups: dict[tuple[object, ...], list[int]] = {}
    for i, p in enumerate(placements):
        key = (
            p.design,
            tuple((d.name, d.kind, d.tags) for d in p.devices),
            tuple((q.device, q.terminal, q.net) for q in p.pins),
        )
        groups.setdefault(key, []).append(i)
    out = np.empty((len(placements), *(NOFEAT_SHAPE if nofeat else FEATURE_SHAPE)), dtype=np.float32)
    for index in groups.values():
        batch = PlacementBatch.from_placements([placements[i] for i in index])
        out[index] = rasterize_batch(batch, nofeat=nofeat)
    return out


def run(args: argparse.Namespace) -> int:
    placements, many = read_placements(args.placement)
    features = rasterize_placements(placements, nofeat=args.nofeat)
    if not many:
        features = features[0]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.output, features)
    print(f"{args.output}: {features.dtype} {tuple(features.shape)}", file=sys.stdout)
    return 0
