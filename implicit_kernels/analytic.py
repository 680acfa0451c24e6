"""Analytic steerable kernel bases from escnn, in our layout, and rank-based coverage.

For a point ``x`` with stabiliser ``H``, the values that the constraint allows for ``K(x)`` form
``Hom_H(rho_in, rho_out)``. escnn's analytic basis is complete, so its rank at a generic point is
``dim Hom_H``; an implicit kernel family is complete when its values over random parameters reach
the same rank:

    coverage(x) = rank{K_theta(x) : theta random} / rank{escnn basis at x}.

Groups escnn does not cover get ``dim Hom_H`` from the numerical solver instead
(:func:`stabiliser_hom_dim`, from generators of the stabiliser), and groups that are escnn groups
in another basis (the Clifford O(2, 0) and O(3, 0)) are compared through their change of basis.
"""

from __future__ import annotations

import math

import torch

from groups import Rep
from groups.solver import equivariant_maps
from implicit_kernels.escnn_basis import escnn_sampler
from implicit_kernels.kernel import ImplicitKernel


def analytic_basis(rep_in: Rep, rep_out: Rep, points: torch.Tensor, r_max: float | None = None) -> torch.Tensor:
    """escnn's analytic basis for ``K(g x) = rho_out K(x) rho_in^-1`` sampled at ``points``
    ``(m, n)``: returns ``(m, n_basis, rep_out.size, rep_in.size)`` in ``points``' dtype.

    Rings of Gaussian radial profiles (width 0.5) are placed every 0.5 from 0 to past ``r_max``
    (default: the farthest point; pass it to get the same basis for different point sets), with
    the band limit of :func:`implicit_kernels.escnn_basis.escnn_sampler`.
    """
    if r_max is None:
        r_max = float(points.norm(dim=-1).max()) if len(points) else 1.0
    rings = [0.5 * i for i in range(int(math.ceil(r_max / 0.5)) + 2)]
    return escnn_sampler(rep_in, rep_out, rings, sigma=0.5)(points)


def matrix_rank(values: torch.Tensor, rtol: float = 1e-7) -> int:
    """Numerical rank of ``(m, ...)`` stacked kernel values (flattened per row): singular values
    above ``rtol`` times the largest count."""
    flat = values.reshape(values.shape[0], -1).to(torch.float64)
    if flat.numel() == 0:
        return 0
    s = torch.linalg.svdvals(flat)
    return int((s > rtol * s.max()).sum()) if s.max() > 0 else 0


@torch.no_grad()
def implicit_rank(kernel: ImplicitKernel, x: torch.Tensor, draws: int | None = None, seed: int = 0) -> int:
    """Rank of ``{K_theta(x)}`` over ``draws`` random parameter draws (default: ``C_out C_in + 4``)
    at one point ``x`` ``(n,)``. The kernel's parameters are restored afterwards."""
    draws = draws or kernel.rep_out.size * kernel.rep_in.size + 4
    state = {k: v.clone() for k, v in kernel.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    point = x.to(torch.float64).reshape(1, -1)
    original = next(kernel.parameters()).dtype
    kernel.to(torch.float64)
    values = []
    for _ in range(draws):
        kernel.network.reset_parameters(generator)
        values.append(kernel(point)[0])
    kernel.to(original)
    kernel.load_state_dict(state)
    return matrix_rank(torch.stack(values))


def span_residual(values: torch.Tensor, basis: torch.Tensor, rtol: float = 1e-10) -> float:
    """Largest relative residual ``|v - P v| / |v|`` over points, with ``P`` the orthogonal projector
    onto the span of the basis at that point: ``values`` ``(m, out, in)``, ``basis``
    ``(m, n_basis, out, in)``. Basis directions below ``rtol`` times the largest singular value at
    a point are dropped (the analytic bases hold many vanishing rings)."""
    flat_basis = basis.to(torch.float64).flatten(2).transpose(1, 2)  # (m, out*in, n_basis)
    flat_values = values.to(torch.float64).flatten(1)
    worst = 0.0
    for A, v in zip(flat_basis, flat_values):
        u, s, _ = torch.linalg.svd(A, full_matrices=False)
        u = u[:, s > rtol * s[0]] if s.numel() and s[0] > 0 else u[:, :0]
        residual = v - u @ (u.transpose(0, 1) @ v)
        worst = max(worst, float(residual.norm() / v.norm().clamp_min(1e-300)))
    return worst


def stabiliser_hom_dim(rep_in: Rep, rep_out: Rep, x: torch.Tensor, rtol: float = 1e-9) -> int:
    """``dim Hom_H(rho_in, rho_out)`` for ``H = Stab(x)``, solved numerically: the maps ``W`` with
    ``d rho_out(A) W = W d rho_in(A)`` and ``rho_out(h) W = W rho_in(h)`` for the generators
    ``A``, ``h`` the group gives for the stabiliser (``group.stabiliser_generators(x)``)."""
    return len(equivariant_maps(rep_in, rep_out, *rep_in.group.stabiliser_generators(x), rtol))


def coverage(kernel: ImplicitKernel, x: torch.Tensor) -> tuple[int, int]:
    """``(rank of the implicit kernel family at x, rank of escnn's analytic basis at x)``."""
    analytic = analytic_basis(kernel.rep_in, kernel.rep_out, x.to(torch.float64).reshape(1, -1))[0]
    return implicit_rank(kernel, x), matrix_rank(analytic)
