"""Command line entry point: ``python -m implicit_kernels <command>``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from implicit_kernels.demo import run_demo


def build_parser() -> argparse.ArgumentParser:
    """The parser; every subcommand sets ``handler``, a function of no arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m implicit_kernels",
        description="Implicit steerable kernels for arbitrary groups.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="a short tour: equivariance, coverage and cost per group, then a tiny training run",
        description="A short tour: equivariance, coverage and cost per group, then a tiny training run.",
    )
    demo.set_defaults(handler=run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.handler()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
