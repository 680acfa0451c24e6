"""Equivariance checks: transform inputs by group elements and compare with transformed outputs.

All errors are relative Frobenius errors ``|lhs - rhs| / |rhs|`` over the whole batch.
"""

from __future__ import annotations

import torch

from groups import Group, Rep
from implicit_kernels.grid import GridConv
from implicit_kernels.kernel import ImplicitKernel
from implicit_kernels.point import PointConv


def relative_error(lhs: torch.Tensor, rhs: torch.Tensor) -> float:
    """``|lhs - rhs| / |rhs|`` (Frobenius norms), as a float."""
    lhs, rhs = lhs.detach(), rhs.detach()
    return float((lhs - rhs).norm() / rhs.norm().clamp_min(torch.finfo(rhs.dtype).tiny))


def act(rep: Rep, g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``rho(g) v`` for one element ``g`` ``(n, n)`` and vectors ``v`` ``(..., rep.size)``."""
    return v @ rep(g.to(torch.float64)).to(v.dtype).transpose(0, 1)


def transform_grid(f: torch.Tensor, g: torch.Tensor, rep: Rep) -> torch.Tensor:
    """``(g . f)(p) = rho(g) f(g^-1 p)`` for a grid signal ``f`` ``(B, C, *spatial)`` and a signed
    permutation ``g`` (``(n, n)``) on the centred grid of :class:`GridConv`'s axis convention."""
    n = g.shape[0]
    perm = g.abs().argmax(dim=1)  # output axis l reads input axis perm[l]
    signs = g[torch.arange(n), perm]
    if not torch.equal(g.abs(), (g.abs() == 1).to(g.dtype)) or not bool((g.abs().sum(dim=1) == 1).all()):
        raise ValueError(f"transform_grid needs a signed permutation matrix, got {g.tolist()}")
    moved = f.permute(0, 1, *[2 + int(k) for k in perm])
    flips = [2 + l for l in range(n) if signs[l] < 0]
    moved = moved.flip(flips) if flips else moved
    channels = rep(g.to(torch.float64)).to(f.dtype)
    return torch.einsum("oc,bc...->bo...", channels, moved)


def kernel_equivariance_error(
    kernel: ImplicitKernel, g: torch.Tensor, x: torch.Tensor, attr: torch.Tensor | None = None
) -> float:
    """Error of ``K(g x, rho_a(g) a) = rho_out(g) K(x, a) rho_in(g)^-1`` over points ``x`` ``(m, n)``,
    one element ``g`` per point (``(m, n, n)``)."""
    gd = g.to(torch.float64)
    gx = torch.einsum("kij,kj->ki", g.to(x.dtype), x)
    ga = None if attr is None else torch.einsum("kij,kj->ki", kernel.attr_rep(gd).to(x.dtype), attr)
    rho_out = kernel.rep_out(gd).to(x.dtype)
    rho_in_inv = torch.linalg.inv(kernel.rep_in(gd)).to(x.dtype)
    return relative_error(kernel(gx, ga), rho_out @ kernel(x, attr) @ rho_in_inv)


def point_conv_equivariance_error(
    conv: PointConv,
    g: torch.Tensor,
    translation: torch.Tensor,
    f: torch.Tensor,
    pos: torch.Tensor,
    edge_index: torch.Tensor,
    attr: torch.Tensor | None = None,
) -> float:
    """Error of ``conv(rho_in(g) f, g pos + t, rho_a(g) a) = rho_out(g) conv(f, pos, a)``."""
    moved_pos = pos @ g.to(pos.dtype).transpose(0, 1) + translation.to(pos.dtype)
    moved_attr = None if attr is None else act(conv.attr_rep, g, attr)
    lhs = conv(act(conv.rep_in, g, f), moved_pos, edge_index, moved_attr)
    return relative_error(lhs, act(conv.rep_out, g, conv(f, pos, edge_index, attr)))


def grid_conv_equivariance_error(conv: GridConv, g: torch.Tensor, f: torch.Tensor) -> float:
    """Error of ``conv(g . f) = g . conv(f)`` for a grid-preserving ``g`` (see :func:`transform_grid`)."""
    lhs = conv(transform_grid(f, g, conv.rep_in))
    return relative_error(lhs, transform_grid(conv(f), g, conv.rep_out))


@torch.no_grad()
def check_equivariance(
    layer: ImplicitKernel | PointConv | GridConv,
    n_samples: int = 8,
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64),
    seed: int = 0,
) -> dict[torch.dtype, float]:
    """Max relative equivariance error of ``layer`` per dtype on random inputs.

    Kernels and point convolutions are tested with ``n_samples`` random (continuous) group
    elements and, for point layers, random translations; grid convolutions with the group's
    grid-preserving elements (all of them if ``n_samples`` allows), the only ones that commute
    exactly with sampling. The layer is left in its original dtype.
    """
    group: Group = layer.kernel.group if not isinstance(layer, ImplicitKernel) else layer.group
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    def attributes(count: int) -> torch.Tensor | None:
        rep = getattr(layer, "attr_rep", None)
        return None if rep is None else randn(count, rep.size)

    original = next(layer.parameters()).dtype
    errors = {}
    for dtype in dtypes:
        layer.to(dtype)
        if isinstance(layer, GridConv):
            elements = group.grid_elements()
            elements = elements[torch.randperm(len(elements), generator=generator)[:n_samples]]
            f = randn(2, layer.rep_in.size, *([7] * group.n)).to(dtype)
            errs = [grid_conv_equivariance_error(layer, g, f) for g in elements]
        elif isinstance(layer, PointConv):
            nodes = 24
            edges = torch.combinations(torch.arange(nodes), r=2).T
            edges = torch.cat([edges, edges.flip(0)], dim=1)
            f, pos, attr = randn(nodes, layer.rep_in.size), randn(nodes, group.n), attributes(edges.shape[1])
            cast = [None if t is None else t.to(dtype) for t in (f, pos, attr)]
            errs = [
                point_conv_equivariance_error(layer, g, randn(group.n), cast[0], cast[1], edges, cast[2])
                for g in group.sample(n_samples, generator=generator)
            ]
        else:
            x, attr = randn(n_samples, group.n), attributes(n_samples)
            g = group.sample(n_samples, generator=generator)
            errs = [kernel_equivariance_error(layer, g, x.to(dtype), None if attr is None else attr.to(dtype))]
        errors[dtype] = max(errs)
    layer.to(original)
    return errors
