"""Generators of the built-in matrix groups (all float64)."""

from __future__ import annotations

import math

import torch


def rotation_generators(n: int, metric: torch.Tensor | None = None) -> torch.Tensor:
    """Basis of the Lie algebra preserving ``metric`` (default identity): ``E_ij eta - E_ji eta``,
    ``i < j``, i.e. so(n) or so(p, q); ``(n(n-1)/2, n, n)``."""
    eta = torch.eye(n, dtype=torch.float64) if metric is None else metric
    e = torch.eye(n, dtype=torch.float64)
    return torch.stack([torch.outer(e[i], eta @ e[j]) - torch.outer(e[j], eta @ e[i])
                        for i in range(n) for j in range(i + 1, n)])


def reflection(n: int, axis: int = 0) -> torch.Tensor:
    """``diag(1, .., -1, .., 1)`` with ``-1`` at ``axis``."""
    m = torch.eye(n, dtype=torch.float64)
    m[axis, axis] = -1.0
    return m


def planar_rotation(angle: float, n: int = 2) -> torch.Tensor:
    """Rotation by ``angle`` in the plane of the first two axes of ``R^n``."""
    m = torch.eye(n, dtype=torch.float64)
    c, s = math.cos(angle), math.sin(angle)
    m[0, 0], m[0, 1], m[1, 0], m[1, 1] = c, -s, s, c
    return m


def permutation_generators(n: int) -> torch.Tensor:
    """A transposition ``(0 1)`` and the cycle ``(0 1 .. n-1)`` as permutation matrices: they generate S_n."""
    eye = torch.eye(n, dtype=torch.float64)
    transposition = eye[[1, 0] + list(range(2, n))]
    cycle = eye[[(i + 1) % n for i in range(n)]]
    return torch.stack([transposition, cycle])
