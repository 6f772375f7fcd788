"""The `placeq` command. Each command group lives in its own module exposing `register(subparsers)`.

Heavy imports (torch, onnxruntime, the service) happen inside handlers, so `placeq --help` stays fast and the
core install (no extras) can still run the commands that need only the core.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from placeq import __version__
from placeq.errors import PlaceqError

# Command-group modules under cli, in --help order. A module may register several subcommands.
COMMAND_MODULES: tuple[str, ...] = (
    "designs",
    "imports",
    "features",
    "draw",
    "place",
    "explore",
    "check",
    "generate",
    "simulate",
    "training",
    "report",
    "loto",
    "serve",
    "keys",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="placeq",
        description="Predict the post-layout quality of analog (OTA) placements before routing them.",
    )
    parser.add_argument("--version", action="version", version=f"placeq {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cli.{name}":
                continue  # command group not present in this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        rc = args.handler(args)
    except PlaceqError as exc:
        print(f"placeq {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
