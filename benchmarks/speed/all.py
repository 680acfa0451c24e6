"""``python -m benchmarks.speed.all``: every speed table in one command.

Runs, one after the other and on one thread each: the layers against their peers
(``python -m benchmarks.speed``), the ``implicit_kernels.nn`` blocks against e3nn, graph building,
eager against compiled, the construction of large layers, and the point and grid layers of every
family. Each writes its record and its section of ``benchmarks/speed/RESULTS.md`` as it would alone.

Options: ``--quick`` (every command's smoke sizes; the compiled case then only captures the graph,
with the ``eager`` backend), ``--threads`` (default 1), ``--out`` (folder of every record;
default: each command's own), ``--results`` (``-`` for none).
"""

from __future__ import annotations

import argparse
import time

from benchmarks.speed import __main__ as layers
from benchmarks.speed import blocks, compiled, construction, families, graphs, grids

COMMANDS = [("layers", layers), ("blocks", blocks), ("graphs", graphs), ("compiled", compiled),
            ("construction", construction), ("families", families), ("grids", grids)]


def command_lines(quick: bool, threads: int, results: str, out: str | None) -> list[tuple[str, list[str]]]:
    """Each command's name and arguments."""
    lines = []
    for name, _ in COMMANDS:
        # the results file only where it is not the commands' own, so that each record shows the
        # command that reproduces it alone (the layer table's default threads are torch's, hence
        # always named)
        argv = ["--threads", str(threads)]
        argv += ["--results", results] if results != str(layers.report.RESULTS_MD) else []
        argv += ["--out", out] if out else []
        if quick:
            argv.append("--quick")
            argv += {"blocks": ["--no-cold"], "compiled": ["--backend", "eager"]}.get(name, [])
        lines.append((name, argv))
    return lines


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every command's smoke sizes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default=str(layers.report.RESULTS_MD))
    parser.add_argument("--out", help="folder of every record (default: each command's own)")
    args = parser.parse_args(argv)
    modules = dict(COMMANDS)
    seconds = {}
    for name, command_argv in command_lines(args.quick, args.threads, args.results, args.out):
        start = time.perf_counter()
        modules[name].main(command_argv)
        seconds[name] = time.perf_counter() - start
    print("seconds per command:", {name: round(value) for name, value in seconds.items()})
    return seconds


if __name__ == "__main__":
    main()
