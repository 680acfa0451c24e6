"""``python -m benchmarks.speed.construction``: how long large layers take to build, and what they keep.

Each layer is built twice, each time in a fresh process, timed from the constructor call (imports
and group creation excluded), with the bytes of its buffers (the constants it keeps) and
parameters, and the peak resident memory the construction adds to the process: first with an
empty solver store (:mod:`groups.solver_cache`, a temporary directory), so every basis is solved,
then again with the bases the first build stored. escnn's own on-disk caches stay. The cases are
wide compact layers and rank-2 tensor fields of matrix groups, whose kernel bases the solver
finds numerically. Writes ``results/construction_cpu.json`` and the
``speed-construction`` section of ``benchmarks/speed/RESULTS.md``.

Options: ``--quick`` (the small cases only, for the smoke test), ``--threads`` (default 1),
``--out``, ``--results`` (``-`` for none).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

from benchmarks.results import run_record, wrap
from benchmarks.speed import command
from groups import solver_cache
from implicit_kernels.measure import peak_rss_mb

SECTION = "speed-construction"

# (name, group, layer, fields): fields as rep strings of implicit_kernels.rep_strings
CASES = [
    ("O(3) point, l <= 4, 64 channels", "O(3)", "PointConv",
     "10*irrep(0,0)+4*irrep(1,1)+2*irrep(0,2)+2*irrep(1,3)+2*irrep(0,4)"),
    ("SO(3) point, l <= 3, 64 channels", "SO(3)", "PointConv", "4*irrep(0)+4*irrep(1)+4*irrep(2)+4*irrep(3)"),
    ("O(2) grid 5^2, 5 irrep types, 40 channels", "O(2)", "GridConv",
     "8*irrep(0,0)+8*irrep(1,0)+4*irrep(1,1)+4*irrep(1,2)+4*irrep(1,3)"),
    ("O(3)-mat point, T00+T10+T20", "O(3)-mat", "PointConv", "T(0,0)+T(1,0)+T(2,0)"),
    ("SO+(1,3)-mat point, T00+T10+T20", "SO+(1,3)-mat", "PointConv", "T(0,0)+T(1,0)+T(2,0)"),
    ("SO(5)-mat point, T00+T10+T20", "SO(5)-mat", "PointConv", "T(0,0)+T(1,0)+T(2,0)"),
]
QUICK = ("O(3)-mat point, T00+T10+T20",)


def build(group: str, layer: str, fields: str) -> dict:
    """Build one layer in this process; its time, constants, parameters and the peak memory."""
    from groups import get_group
    from implicit_kernels import GridConv, PointConv
    from implicit_kernels.rep_strings import parse_rep

    G = get_group(group)
    rep = parse_rep(G, fields)
    built: dict[str, torch.nn.Module | float] = {}

    def construct() -> None:
        start = time.perf_counter()
        built["module"] = PointConv(rep, rep) if layer == "PointConv" else GridConv(rep, rep, kernel_size=5)
        built["seconds"] = time.perf_counter() - start

    peak = peak_rss_mb(construct)
    module = built["module"]
    return {"seconds": built["seconds"], "channels": rep.size,
            "buffer_mb": sum(b.numel() * b.element_size() for b in module.buffers()) / 1e6,
            "parameter_mb": sum(p.numel() * p.element_size() for p in module.parameters()) / 1e6,
            "peak_mb": peak}


def run(cases: list[tuple[str, str, str, str]], threads: int) -> list[dict]:
    """Per case, the first build's measurements and the second's under ``stored_``."""
    rows = []
    for name, group, layer, fields in cases:
        call = [sys.executable, "-m", "benchmarks.speed.construction", "--threads", str(threads),
                "--build", group, layer, fields]
        with tempfile.TemporaryDirectory(prefix="solver-store-") as store:
            environment = dict(os.environ, **{solver_cache.ENVIRONMENT: store})
            first, again = (json.loads(subprocess.run(call, capture_output=True, text=True, check=True, env=environment,
                                                      cwd=command.HERE.parent.parent).stdout.strip().splitlines()[-1])
                            for _ in range(2))
        rows.append({"case": name, "group": group, "layer": layer, "fields": fields, **first,
                     **{f"stored_{key}": again[key] for key in ("seconds", "peak_mb")}})
    return rows


def markdown(results: dict) -> str:
    lines = [
        *command.header(results),
        wrap("Each layer built in a fresh process (kernels of the default options), first with an empty solver "
             "store, then again in a new process with the bases the first build stored; constants = the layer's "
             "buffers, peak = the peak resident memory the construction adds (imports excluded)."),
        "",
        "| layer | channels | build s, first | build s, stored bases | constants MB | parameters MB | peak MB, "
        "first / stored |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def megabytes(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    for r in results["rows"]:
        lines.append(f"| {r['case']} | {r['channels']} | {r['seconds']:.2f} | {r['stored_seconds']:.2f} | "
                     f"{r['buffer_mb']:.2f} | {r['parameter_mb']:.2f} | {megabytes(r['peak_mb'])} / "
                     f"{megabytes(r['stored_peak_mb'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict | None:
    parser = command.parser("python -m benchmarks.speed.construction", __doc__, "the small cases only (a smoke run)")
    parser.add_argument("--build", nargs=3, metavar=("GROUP", "LAYER", "FIELDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.build:
        print(json.dumps(build(*args.build)))
        return None
    start = time.perf_counter()
    rows = run([case for case in CASES if not args.quick or case[0] in QUICK], args.threads)
    results = {**run_record("python -m benchmarks.speed.construction", argv, args.threads, start), "rows": rows}
    command.publish(results, markdown(results), args, "construction_cpu", SECTION, "Building large layers")
    return results


if __name__ == "__main__":
    main()
