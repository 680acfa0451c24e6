"""Plain multilayer perceptrons: the non-equivariant baselines and the invariant heads of the benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(sizes: Sequence[int], last_activation: bool = False) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]), SiLU, ..., Linear(sizes[-2], sizes[-1])`` (and a final SiLU with
    ``last_activation``): ``(..., sizes[0]) -> (..., sizes[-1])``."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)
