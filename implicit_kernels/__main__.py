"""Command line entry point: ``python -m implicit_kernels <command>``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from implicit_kernels.coverage_table import run_coverage
from implicit_kernels.demo import run_demo


def build_parser() -> argparse.ArgumentParser:
    """The parser; every subcommand sets ``handler``, a function of the parsed arguments."""
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
    demo.set_defaults(handler=lambda args: run_demo())
    coverage = commands.add_parser(
        "coverage",
        help="coverage table of the Clifford kernel heads for O(p,q), p + q = 2..4",
        description="Rank of Clifford kernel values at generic points over random parameters, against "
        "dim Hom_Stab(x) solved from the stabiliser's generators, for both kernel heads.",
    )
    coverage.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    coverage.add_argument("--signature", action="append", metavar="P,Q",
                          help="a signature to include (repeatable); default: the nine of the README table")
    coverage.set_defaults(handler=lambda args: run_coverage(args.json, args.signature))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.handler(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
