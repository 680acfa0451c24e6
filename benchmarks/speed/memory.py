"""Peak memory of one point-convolution training step in a fresh process:
``python -m benchmarks.speed.memory LAYER --points N --threads T`` prints the MB as JSON.

A fresh process is needed on CPU: memory the allocator kept from earlier work would otherwise
absorb part of the peak. On a GPU the peak is read from the CUDA allocator in-process instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.speed.cases import POINT_RADIUS, point_inputs
from benchmarks.speed.peers import point_layers
from implicit_kernels.measure import peak_rss_mb

REPO_ROOT = Path(__file__).resolve().parents[2]


def training_step_peak_mb(name: str, n_points: int, device: torch.device) -> float | None:
    """Peak memory (MB) above the level before one forward+backward of the named point layer."""
    f, pos, edge_index = point_inputs(n_points, device)
    layer = point_layers(POINT_RADIUS, edge_index.shape[1] / n_points)[name]().to(device)
    f.requires_grad_()

    def step():
        layer(f, pos, edge_index).square().sum().backward()

    if device.type != "cuda":
        return peak_rss_mb(step)
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def measure(name: str, n_points: int, threads: int, device: torch.device) -> float | None:
    """:func:`training_step_peak_mb`, in a fresh process on CPU."""
    if device.type == "cuda":
        return training_step_peak_mb(name, n_points, device)
    command = [sys.executable, "-m", "benchmarks.speed.memory", name, "--points", str(n_points),
               "--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("layer", help="a point-case layer name (see benchmarks.speed.peers.point_layers)")
    parser.add_argument("--points", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(training_step_peak_mb(args.layer, args.points, torch.device("cpu"))))


if __name__ == "__main__":
    main()
