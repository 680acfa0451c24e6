"""``python -m benchmarks.speed.graphs``: building neighbourhood graphs, ours against scipy's k-d tree.

Points are uniform in a cube sized so that a ball of radius 1 holds
:data:`~benchmarks.speed.cases.NEIGHBOURS` points (the density of the point case). For each size:

* ``radius_graph(pos, 1.0)`` against ``cKDTree(pos).query_pairs(1.0)`` with both directions
  concatenated (the same directed edges, left unsorted);
* ``knn_graph(pos, 16)`` against ``cKDTree(pos).query(pos, 17)`` (the point itself dropped).

Times are medians of interleaved repeats, tree construction included. The edge counts of both
libraries are recorded (scipy measures float32 positions in float64, so a pair within about 1e-7
of the radius may count differently). Writes ``results/graphs_cpu.json`` and the
``speed-graphs`` section of ``benchmarks/speed/RESULTS.md``.

Options: ``--quick`` (small sizes, for the smoke test), ``--threads`` (default 1; scipy's queries
use one worker), ``--out``, ``--results`` (``-`` for none).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy
import torch
from scipy.spatial import cKDTree

from benchmarks.results import run_record, wrap
from benchmarks.speed import command
from benchmarks.speed.cases import NEIGHBOURS, POINT_RADIUS
from implicit_kernels import knn_graph, radius_graph

SECTION = "speed-graphs"
K = 16


def cloud(points: int, seed: int = 0) -> torch.Tensor:
    """``points`` positions uniform in a cube holding :data:`NEIGHBOURS` per unit ball."""
    side = (points * 4 / 3 * math.pi * POINT_RADIUS**3 / NEIGHBOURS) ** (1 / 3)
    return torch.rand(points, 3, generator=torch.Generator().manual_seed(seed)) * side


def scipy_radius(pos: np.ndarray) -> int:
    pairs = cKDTree(pos).query_pairs(POINT_RADIUS, output_type="ndarray")
    return len(np.concatenate([pairs, pairs[:, ::-1]]))


def scipy_knn(pos: np.ndarray) -> int:
    _, index = cKDTree(pos).query(pos, K + 1)
    return index[:, 1:].size


def median_ms(calls: dict[str, Callable[[], int]], repeats: int) -> dict[str, dict]:
    """Median milliseconds and edge count of every call, timed round-robin after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    edges = {}
    for round_ in range(repeats + 1):
        for name, call in calls.items():
            start = time.perf_counter()
            edges[name] = call()
            if round_:
                times[name].append(1000 * (time.perf_counter() - start))
    return {name: {"ms": statistics.median(times[name]), "edges": edges[name]} for name in calls}


def run(sizes: tuple[int, ...], repeats: int) -> list[dict]:
    rows = []
    for points in sizes:
        pos = cloud(points)
        array = pos.numpy()
        timed = median_ms({
            "ours radius": lambda pos=pos: radius_graph(pos, POINT_RADIUS).shape[1],
            "scipy radius": lambda array=array: scipy_radius(array),
            "ours knn": lambda pos=pos: knn_graph(pos, K).shape[1],
            "scipy knn": lambda array=array: scipy_knn(array),
        }, repeats)
        for graph in ("radius", "knn"):
            ours, peer = timed[f"ours {graph}"], timed[f"scipy {graph}"]
            rows.append({"graph": graph, "points": points, "edges": ours["edges"], "scipy_edges": peer["edges"],
                         "ours_ms": ours["ms"], "scipy_ms": peer["ms"]})
    return rows


def markdown(results: dict) -> str:
    lines = [
        *command.header(results, f", scipy {results['scipy']}"),
        wrap(f"Uniform points in a cube, {NEIGHBOURS} per unit ball; `radius_graph(pos, {POINT_RADIUS})` and "
             f"`knn_graph(pos, {K})` (edges sorted by target) against scipy's `cKDTree` (built in the timed "
             "call; radius pairs in both directions, unsorted). Medians of interleaved repeats."),
        "",
        "| graph | points | edges | scipy edges | ours ms | scipy ms | ours / scipy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        lines.append(f"| {r['graph']} | {r['points']} | {r['edges']} | {r['scipy_edges']} | {r['ours_ms']:.1f} | "
                     f"{r['scipy_ms']:.1f} | {r['ours_ms'] / r['scipy_ms']:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = command.parser("python -m benchmarks.speed.graphs", __doc__, "small sizes (a smoke run)").parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    sizes, repeats = ((256, 1024), 1) if args.quick else ((1024, 4096, 16384, 65536), 5)
    rows = run(sizes, repeats)
    results = {**run_record("python -m benchmarks.speed.graphs", argv, args.threads, start),
               "scipy": scipy.__version__, "rows": rows}
    command.publish(results, markdown(results), args, "graphs_cpu", SECTION, "Building graphs")
    return results


if __name__ == "__main__":
    main()
