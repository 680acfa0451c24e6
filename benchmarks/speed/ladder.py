"""The point case of the speed benchmark against any code tree, for before/after comparisons:

    git worktree add /tmp/before 7c5b85c
    PYTHONPATH=/tmp/before python benchmarks/speed/ladder.py before
    PYTHONPATH=. python benchmarks/speed/ladder.py after --chunk-size 65536

Self-contained on purpose (older trees have no ``benchmarks.speed``): it rebuilds the point
case's inputs (same seed and formula as :func:`benchmarks.speed.cases.point_inputs`), times our
PointConv (median of 5 after a warm-up, one thread) and measures the peak RSS of one training
step in a fresh child process.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from groups import get_group
from implicit_kernels import PointConv, radius_graph
from implicit_kernels.rep_strings import parse_rep


def build(chunk_size: int | None):
    generator = torch.Generator().manual_seed(0)
    n = 4096
    side = (n * 4 / 3 * math.pi / 30) ** (1 / 3)
    pos = torch.rand(n, 3, generator=generator) * side
    rep = parse_rep(get_group("O(3)"), "2*irrep(0,0)+2*irrep(1,1)+2*irrep(0,2)")
    f = torch.randn(n, rep.size, generator=generator)
    edges = radius_graph(pos, 1.0)
    options = {} if chunk_size is None else {"chunk_size": chunk_size}
    start = time.perf_counter()
    conv = PointConv(rep, rep, radius=1.0, avg_degree=edges.shape[1] / n, **options)
    return conv, f, pos, edges, time.perf_counter() - start


def status_mb(key: str) -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key))
    return float(line.split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("label")
    parser.add_argument("--chunk-size", type=int)
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    conv, f, pos, edges, construct = build(args.chunk_size)
    features = f.clone().requires_grad_()

    def train_step() -> None:
        conv.zero_grad(set_to_none=True)
        conv(features, pos, edges).square().sum().backward()

    if args.memory_only:
        Path("/proc/self/clear_refs").write_text("5")
        before = status_mb("VmRSS:")
        train_step()
        print(status_mb("VmHWM:") - before)
        return

    def forward() -> None:
        with torch.no_grad():
            conv(f, pos, edges)

    def median_ms(run) -> float:
        run()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)

    child = subprocess.run([sys.executable, *sys.argv, "--memory-only"], capture_output=True, text=True, check=True)
    print(f"{args.label}: {edges.shape[1]} edges, construct {1000 * construct:.0f} ms, "
          f"forward {median_ms(forward):.0f} ms, forward+backward {median_ms(train_step):.0f} ms, "
          f"peak {float(child.stdout):.0f} MB")


if __name__ == "__main__":
    main()
