"""`placeq draw`: a PNG of a placement beside its feature images (for people; see docs/features.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from placeq.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "draw",
        help="draw a placement and its six feature images to a PNG",
        description=(
            "Draw a placement (devices coloured by subcircuit, pins, net boxes) beside its six feature images. "
            "With --channels, draw all 18 feature channels instead."
        ),
    )
    p.add_argument("placement", type=Path, help="Placement .json, or .jsonl (see --index)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output .png file")
    p.add_argument("--index", type=int, default=0, help="which placement of a .jsonl file (0-based; default 0)")
    p.add_argument("--title", default=None, help="figure title (default: design and sizes)")
    p.add_argument("--channels", action="store_true", help="draw the 18 channels (images and coordinates)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cli.features import read_placements
    from placeq.draw import draw_features, draw_placement
    from placeq.features import rasterize

    placements, _ = read_placements(args.placement)
    if not 0 <= args.index < len(placements):
        raise InputError("index", f"{args.index} is out of range: {args.placement} holds {len(placements)}")
    placement = placements[args.index]
    if args.channels:
        path = draw_features(rasterize(placement), args.output, title=args.title or placement.design, coords=True)
    else:
        path = draw_placement(placement, args.output, title=args.title)
    print(path)
    return 0
