"""Command line entry point: ``python -m implicit_kernels <command>``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from implicit_kernels.compare import UsageError, run_compare
from implicit_kernels.coverage_table import run_coverage
from implicit_kernels.demo import run_demo


def build_parser() -> argparse.ArgumentParser:
    """The parser; every subcommand sets ``handler``, a function of the parsed arguments, and
    ``command_parser``, its own parser (which reports its usage errors)."""
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
    demo.set_defaults(handler=lambda args: run_demo(), command_parser=demo)
    coverage = commands.add_parser(
        "coverage",
        help="coverage table of the Clifford kernel heads for O(p,q), p + q = 2..4",
        description="Rank of Clifford kernel values at generic points over random parameters, against "
        "dim Hom_Stab(x) solved from the stabiliser's generators, for both kernel heads.",
    )
    coverage.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    coverage.add_argument("--signature", action="append", metavar="P,Q",
                          help="a signature to include (repeatable); default: the nine of the README table")
    coverage.set_defaults(handler=lambda args: run_coverage(args.json, args.signature), command_parser=coverage)
    compare = commands.add_parser(
        "compare",
        help="implicit vs analytic (escnn) kernels: equivariance, coverage, span, fit, cost",
        description="Compare implicit kernels with escnn's analytic bases. Reps are strings such as "
        "'2*trivial+standard', 'irrep(1,1)', 'T(1,0)+T(2,0)', 'grade(1)+multivector' "
        "(see implicit_kernels/rep_strings.py).",
    )
    compare.add_argument("--group", help="registry name, e.g. 'O(3)', 'O(3,0)', 'O(3)-mat'")
    compare.add_argument("--in", dest="rep_in", help="input rep string")
    compare.add_argument("--out", dest="rep_out", help="output rep string")
    compare.add_argument("--option", action="append", metavar="KEY=VALUE",
                         help="kernel-network option, e.g. head=single or harmonic_degree=1 (repeatable)")
    compare.add_argument("--all", action="store_true", help="run the built-in matrix of groups and rep pairs")
    compare.add_argument("--report", metavar="DIR", help="write compare.md and compare.json there")
    compare.add_argument("--plot", metavar="DIR", help="draw analytic and trained implicit kernels as PNG there")
    compare.add_argument("--fit-steps", type=int, default=300, help="Adam steps per fitted basis element (0: skip)")
    compare.add_argument("--no-cost", action="store_true", help="skip the time and memory measurements")
    compare.set_defaults(handler=run_compare, command_parser=compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command that ``argv`` names; 0 when it succeeds. Bad input, to argparse or as a
    command's :class:`~implicit_kernels.compare.UsageError`, exits with code 2 after printing the
    command's usage and one ``error: ...`` line on stderr (no traceback)."""
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except UsageError as error:
        args.command_parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
