"""The benchmark cases: inputs, and the timing of every layer on them.

Every layer is timed on the same inputs in the same process: **forward** is inference (eval mode,
no autograd; grid layers may use a cached kernel there), **forward+backward** is a training step
(train mode, gradients for the input features and all parameters, loss ``sum(y^2)``). Times are
medians over repeated calls after one warm-up call. Peak memory is measured for one
forward+backward in a fresh process (:mod:`benchmarks.speed.memory`), so that memory the
allocator kept from earlier cases is not hidden.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from benchmarks.speed.peers import PlainConv, grid_layers, our_fields, point_layers
from groups import get_group
from implicit_kernels import GridConv, ImplicitKernel, radius_graph
from implicit_kernels.compare import evaluation_cost
from implicit_kernels.rep_strings import parse_rep

POINT_RADIUS = 1.0
NEIGHBOURS = 30  # expected neighbours per point (inside the cloud) of the point case's radius graph


@dataclass
class Row:
    """One layer in one case; times in milliseconds, memory in MB (``None``: not measured)."""

    case: str
    layer: str
    construct_ms: float
    forward_ms: float
    train_ms: float
    peak_mb: float | None = None


@dataclass(frozen=True)
class Sizes:
    """The shapes of the cases (``full()``: the reported ones; ``quick()``: a smoke run)."""

    grid_batch: int
    grid_side: int
    kernel_size: int
    points: int
    kernel_points: tuple[int, ...]
    repeats: int
    analytic_limit: int | None = None  # escnn's basis is sampled at kernel_points up to this many

    @classmethod
    def full(cls) -> Sizes:
        return cls(grid_batch=4, grid_side=16, kernel_size=5, points=4096,
                   kernel_points=(100, 1000, 10000, 100000), repeats=5, analytic_limit=10000)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(grid_batch=1, grid_side=6, kernel_size=3, points=256, kernel_points=(100,), repeats=1)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_layers(case: str, builders: dict[str, Callable[[], nn.Module]], inputs: tuple | dict[str, tuple],
                repeats: int, device: torch.device, slow_seconds: float = 2.0) -> list[Row]:
    """Construct every layer (timed), then time inference and training steps on ``inputs`` (the
    first input is the feature tensor that receives a gradient; a dict gives each layer its own
    inputs, by name) round-robin over the layers, so that the drifts of a noisy machine hit them
    alike. A layer whose call takes over ``slow_seconds`` is not called again for that measurement."""
    layers, construct = {}, {}
    for name, build in builders.items():
        start = time.perf_counter()
        layers[name] = build()
        construct[name] = time.perf_counter() - start
        layers[name].to(device)
    per_layer = inputs if isinstance(inputs, dict) else dict.fromkeys(layers, inputs)
    features = {name: per_layer[name][0].detach().requires_grad_() for name in layers}

    def forward(name: str) -> None:
        layers[name].eval()
        with torch.no_grad():
            layers[name](*per_layer[name])

    def train_step(name: str) -> None:
        layer = layers[name]
        layer.train()
        layer.zero_grad(set_to_none=True)
        layer(features[name], *per_layer[name][1:]).square().sum().backward()

    times: dict[tuple[str, Callable], list[float]] = {
        (name, step): [] for name in layers for step in (forward, train_step)
    }
    for round_ in range(repeats + 1):  # round 0 warms up
        for (name, step), elapsed in times.items():
            if elapsed and elapsed[-1] > slow_seconds:
                continue
            start = time.perf_counter()
            step(name)
            synchronise(device)
            if round_ or time.perf_counter() - start > slow_seconds:
                elapsed.append(time.perf_counter() - start)
    return [Row(case, name, 1000 * construct[name], 1000 * statistics.median(times[name, forward]),
                1000 * statistics.median(times[name, train_step])) for name in layers]


def grid_inputs(sizes: Sizes, channels: int, device: torch.device, dim: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (sizes.grid_batch, channels) + (sizes.grid_side,) * dim
    return torch.randn(shape, generator=generator).to(device)


def point_inputs(n_points: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features ``(N, 18)``, positions uniform in a cube sized for :data:`NEIGHBOURS` points per
    ball of radius :data:`POINT_RADIUS` (fewer at the faces), and their radius graph."""
    generator = torch.Generator().manual_seed(seed)
    side = (n_points * 4 / 3 * math.pi * POINT_RADIUS**3 / NEIGHBOURS) ** (1 / 3)
    pos = torch.rand(n_points, 3, generator=generator) * side
    f = torch.randn(n_points, our_fields().size, generator=generator)
    return f.to(device), pos.to(device), radius_graph(pos, POINT_RADIUS).to(device)


def grid_case(sizes: Sizes, device: torch.device) -> list[Row]:
    f = grid_inputs(sizes, our_fields().size, device)
    return time_layers("grid", grid_layers(sizes.kernel_size), (f,), sizes.repeats, device)


def point_case(sizes: Sizes, device: torch.device) -> tuple[list[Row], int]:
    """The point-case rows (without memory) and the number of edges."""
    inputs = point_inputs(sizes.points, device)
    edges = inputs[2].shape[1]
    layers = point_layers(POINT_RADIUS, edges / sizes.points)
    return time_layers("point", layers, inputs, sizes.repeats, device), edges


def clifford_case(sizes: Sizes, device: torch.device) -> list[Row]:
    """Clifford-steerable GridConv on R^{1,2} (spacetime, O(1,2)) and R^3 (O(3,0)) with
    ``2 x multivector`` fields (16 channels), against a plain conv of the same weight shape."""
    rows = []
    for group in ("O(1,2)", "O(3,0)"):
        rep = parse_rep(get_group(group), "2*multivector")
        f = grid_inputs(sizes, rep.size, device)
        layers = {
            f"ours GridConv {group}": lambda rep=rep: GridConv(rep, rep, sizes.kernel_size),
            f"F.conv3d (same weight shape) {group}": lambda n=rep.size: PlainConv(n, n, sizes.kernel_size, 3),
        }
        rows += time_layers("clifford", layers, (f,), sizes.repeats, device)
    return rows


def kernel_case(sizes: Sizes) -> list[dict]:
    """Kernel evaluation alone at each of ``sizes.kernel_points`` points: ours against sampling
    escnn's analytic basis and contracting it (:func:`implicit_kernels.compare.evaluation_cost`)."""
    rep = our_fields()
    return evaluation_cost(ImplicitKernel(rep, rep), sizes.kernel_points, repeats=sizes.repeats,
                           analytic_limit=sizes.analytic_limit)
