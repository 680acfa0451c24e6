"""Conversion between our grid layout and escnn's.

Our grid layers (:class:`~implicit_kernels.GridConv`) read spatial array axis ``k`` as coordinate
``k`` of ``R^n``. escnn's (``R2Conv``, ``R3Conv``, ``GeometricTensor.transform``) read the array
axes as ``[..., -Z, -Y, X]``: for an ``n``-dimensional grid, array axis ``a`` runs along coordinate
``n - 1 - a``, reversed for every axis but the last. In 2D, array index ``(a, b)`` about the
centre ``c`` is the point ``(b - c, -(a - c))``; in 3D, ``(a, b, d)`` is ``(d - c, -(b - c), -(a - c))``.

With ``E`` this map of arrays, ``E(g . f) = g .escnn E(f)`` for every grid-preserving ``g``, where
``.`` is :func:`~implicit_kernels.equivariance.transform_grid` and ``.escnn`` is escnn's
``GeometricTensor.transform``; so a layer ``L`` of ours is equivariant on escnn arrays as
``E . L . E^-1``, which is what ``GridConv(..., layout="escnn")`` computes directly.
"""

from __future__ import annotations

import torch

LAYOUTS = ("ours", "escnn")
"""The grid layouts :class:`~implicit_kernels.GridConv` accepts."""


def _spatial_axes(f: torch.Tensor, what: str) -> int:
    if f.dim() < 3:
        raise ValueError(f"{what} needs a (B, C, *spatial) tensor with a spatial axis, got shape {tuple(f.shape)}")
    return f.dim() - 2


def to_escnn_layout(f: torch.Tensor) -> torch.Tensor:
    """``(B, C, *spatial)`` in our layout (axis ``k`` = coordinate ``k``) to escnn's: reverse the
    axes of coordinates ``1..n-1``, then put the spatial axes in reverse order."""
    n = _spatial_axes(f, "to_escnn_layout")
    flipped = f.flip([2 + k for k in range(1, n)]) if n > 1 else f
    return flipped.permute(0, 1, *range(n + 1, 1, -1))


def from_escnn_layout(f: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`to_escnn_layout`: ``(B, C, *spatial)`` in escnn's layout to ours."""
    n = _spatial_axes(f, "from_escnn_layout")
    ours = f.permute(0, 1, *range(n + 1, 1, -1))
    return ours.flip([2 + k for k in range(1, n)]) if n > 1 else ours
