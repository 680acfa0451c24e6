"""``python -m benchmarks.speed.families``: the point convolution of every family, side by side.

One ``PointConv`` per family with about the same number of channels in and out, on uniform
points in a cube of ``R^n`` sized for about :data:`~benchmarks.speed.cases.NEIGHBOURS` points per
ball of radius 1, and their radius graph: about 18 channels on 4096 points (:data:`CASES`) and 64
channels on 1024 points (:data:`WIDE_CASES`). Times are medians of interleaved repeats
(:func:`benchmarks.speed.cases.time_layers`; a step over 2 s is timed once), the training step
being forward+backward with loss ``sum(y^2)``; ratios are to the compact O(3) layer in the same
run. Peak memory of one training step is measured in a fresh process per layer. Writes
``results/families_cpu.json`` and the ``speed-families`` section of ``benchmarks/speed/RESULTS.md``.

Options: ``--quick`` (few points, no memory, for the smoke test), ``--threads`` (default 1),
``--points`` (of the first table; the wide one takes a quarter), ``--out``, ``--results`` (``-`` for
none).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import asdict

import torch

from benchmarks.results import run_record, wrap
from benchmarks.speed import command
from benchmarks.speed.cases import NEIGHBOURS, POINT_RADIUS, time_layers
from benchmarks.speed.peers import OUR_FIELDS, WIDE_FIELDS
from groups import get_group
from implicit_kernels import PointConv, radius_graph
from implicit_kernels.measure import peak_rss_mb
from implicit_kernels.rep_strings import parse_rep

SECTION = "speed-families"

# (row name, group, fields); the first row is the reference
CASES = [
    ("compact O(3)", "O(3)", OUR_FIELDS),
    ("matrix O(3)-mat", "O(3)-mat", "3*T(0,0)+2*T(1,0)+T(2,0)"),
    ("Clifford O(3,0)", "O(3,0)", "2*multivector"),
    ("matrix SO+(1,3)-mat", "SO+(1,3)-mat", "2*T(0,0)+T(2,0)"),
    ("Clifford O(1,3)", "O(1,3)", "multivector"),
]
# 64 channels; the first row is the reference
WIDE_CASES = [
    ("compact O(3)", "O(3)", WIDE_FIELDS),
    ("Clifford O(3,0)", "O(3,0)", "8*multivector"),
    ("Clifford O(1,3)", "O(1,3)", "4*multivector"),
]


def inputs(group: str, fields: str, points: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features, positions uniform in a cube of ``R^n`` holding about :data:`NEIGHBOURS` points per
    unit ball, and their radius graph."""
    G = get_group(group)
    ball = math.pi ** (G.n / 2) / math.gamma(G.n / 2 + 1) * POINT_RADIUS**G.n
    side = (points * ball / NEIGHBOURS) ** (1 / G.n)
    generator = torch.Generator().manual_seed(seed)
    pos = torch.rand(points, G.n, generator=generator) * side
    f = torch.randn(points, parse_rep(G, fields).size, generator=generator)
    return f, pos, radius_graph(pos, POINT_RADIUS)


def layer(group: str, fields: str, edges: int, points: int) -> PointConv:
    rep = parse_rep(get_group(group), fields)
    return PointConv(rep, rep, radius=POINT_RADIUS, avg_degree=edges / points)


def training_step_peak_mb(group: str, fields: str, points: int) -> float:
    """Peak memory (MB) above the level before one training step, in this process."""
    f, pos, edge_index = inputs(group, fields, points)
    conv = layer(group, fields, edge_index.shape[1], points)
    f.requires_grad_()
    return peak_rss_mb(lambda: conv(f, pos, edge_index).square().sum().backward())


def run(cases: list[tuple[str, str, str]], points: int, repeats: int, threads: int, memory: bool) -> list[dict]:
    data = {name: inputs(group, fields, points) for name, group, fields in cases}
    builders = {name: (lambda group=group, fields=fields, e=data[name][2]: layer(group, fields, e.shape[1], points))
                for name, group, fields in cases}
    rows = time_layers("families", builders, data, repeats, torch.device("cpu"))
    out = []
    for row, (name, group, fields) in zip(rows, cases):
        peak = None
        if memory:
            call = [sys.executable, "-m", "benchmarks.speed.families", "--threads", str(threads),
                    "--points", str(points), "--measure", group, fields]
            done = subprocess.run(call, capture_output=True, text=True, check=True, cwd=command.HERE.parent.parent)
            peak = json.loads(done.stdout.strip().splitlines()[-1])
        out.append({**asdict(row), "group": group, "fields": fields, "channels": data[name][0].shape[1],
                    "edges": data[name][2].shape[1], "peak_mb": peak})
    return out


def table(rows: list[dict]) -> list[str]:
    """Rows with their ratios to the first."""
    reference = rows[0]
    lines = ["| layer | fields (channels) | edges | fwd+bwd ms | / compact | peak MB | / compact |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        memory = "- | -" if r["peak_mb"] is None else (
            f"{r['peak_mb']:.0f} | {r['peak_mb'] / reference['peak_mb']:.2f}x")
        lines.append(f"| {r['layer']} | `{r['fields']}` ({r['channels']}) | {r['edges']} | {r['train_ms']:.0f} | "
                     f"{r['train_ms'] / reference['train_ms']:.2f}x | {memory} |")
    return lines


def markdown(results: dict) -> str:
    return "\n".join([
        *command.header(results),
        wrap(f"`PointConv` on {results['points']} uniform points of `R^n`, radius graph of about {NEIGHBOURS} "
             "neighbours per unit ball; the same fields in and out. Ratios to the compact O(3) layer."),
        "",
        *table(results["rows"]),
        "",
        f"The same at 64 channels on {results['wide_points']} points:",
        "",
        *table(results["wide_rows"]),
    ])


def main(argv: list[str] | None = None) -> dict | None:
    parser = command.parser("python -m benchmarks.speed.families", __doc__, "few points, no memory (a smoke run)")
    parser.add_argument("--points", type=int, default=None, help="points per cloud (default 4096; 128 quick)")
    parser.add_argument("--measure", nargs=2, metavar=("GROUP", "FIELDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    points = args.points or (128 if args.quick else 4096)
    if args.measure:
        print(json.dumps(training_step_peak_mb(*args.measure, points)))
        return None
    start = time.perf_counter()
    repeats = 1 if args.quick else 3
    rows = run(CASES, points, repeats, args.threads, memory=not args.quick)
    wide_rows = run(WIDE_CASES, points // 4, repeats, args.threads, memory=not args.quick)
    results = {**run_record("python -m benchmarks.speed.families", argv, args.threads, start),
               "points": points, "rows": rows, "wide_points": points // 4, "wide_rows": wide_rows}
    command.publish(results, markdown(results), args, "families_cpu", SECTION, "Every family's point convolution")
    return results


if __name__ == "__main__":
    main()
