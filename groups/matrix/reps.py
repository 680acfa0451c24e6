"""Tensor representations of a matrix group: ``T(r, s) = V^(x r) (x) V*^(x s)`` and the symmetric
powers ``Sym^k V`` that polynomial features of ``x`` live in."""

from __future__ import annotations

import itertools
from functools import cached_property
from typing import TYPE_CHECKING

import torch

from groups.derived_reps import GeneratedRep, batched_kron, memoised_differential, tensor_power_differential
from groups.solver import eigenspaces, kronecker_eigenspaces

if TYPE_CHECKING:
    from groups.matrix.group import MatrixGroup


class TensorRep(GeneratedRep):
    """``T(r, s)``: ``rho(g) = g (x) .. (x) g (x) g^-T (x) .. (x) g^-T`` (``r`` then ``s`` factors,
    Kronecker row-major), ``d rho(A)`` the matching sum with ``A`` and ``-A^T``. ``T(0, 0)`` is the
    trivial rep, ``T(1, 0)`` the standard one and ``T(0, 1)`` its dual."""

    def __init__(self, group: MatrixGroup, r: int, s: int):
        if r < 0 or s < 0:
            raise ValueError(f"T(r, s) needs r, s >= 0, got ({r}, {s})")
        self.group, self.r, self.s = group, r, s

    @property
    def size(self) -> int:
        return self.group.n ** (self.r + self.s)

    def matrices(self, g):
        factors = [g] * self.r + ([torch.linalg.inv(g).transpose(-1, -2)] * self.s if self.s else [])
        out = torch.ones(g.shape[0], 1, 1, dtype=g.dtype, device=g.device)
        for factor in factors:
            out = batched_kron(out, factor)
        return out

    @memoised_differential
    def differential(self, A):
        A = A.to(torch.float64)
        return tensor_power_differential([A] * self.r + [-A.transpose(0, 1)] * self.s)

    def lie_eigenspaces(self, A, tol):
        """Kronecker products of the eigenspaces of ``A`` (``r`` factors) and ``-A^T`` (``s``)."""
        A = A.to(torch.float64)
        spaces = [(0.0, torch.ones(1, 1, dtype=torch.complex128))]
        for factor in [A] * self.r + [-A.transpose(0, 1)] * self.s:
            spaces = kronecker_eigenspaces(spaces, eigenspaces(factor, tol), tol)
        return spaces

    def __eq__(self, other) -> bool:
        return isinstance(other, TensorRep) and other.group == self.group and (other.r, other.s) == (self.r, self.s)

    __hash__ = None

    def __repr__(self) -> str:
        return f"T({self.r},{self.s})"


class SymmetricPowerRep(GeneratedRep):
    """``Sym^k V`` in the monomial basis: coordinates ``x^alpha`` for the multisets ``alpha`` of
    ``k`` axes in lexicographic order, so that :meth:`monomials` maps ``x`` to a vector with
    ``monomials(g x) = rho(g) monomials(x)``.

    ``rho(g)`` is built by expanding ``prod_t (g x)_{alpha_t}`` one factor at a time and
    ``d rho(A)`` by the product rule, so neither ever forms the ``n^k``-sized tensor power."""

    def __init__(self, group: MatrixGroup, k: int):
        self.group, self.k = group, k
        self.exponents = list(itertools.combinations_with_replacement(range(group.n), k))

    @property
    def size(self) -> int:
        return len(self.exponents)

    @cached_property
    def _recursion(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For each monomial ``alpha``: the index of ``alpha`` minus its last axis in ``Sym^(k-1)``,
        that last axis, and the table ``(size of Sym^(k-1), n)`` of the index of ``beta + {b}``."""
        lower = SymmetricPowerRep(self.group, self.k - 1)
        lower_index = {beta: i for i, beta in enumerate(lower.exponents)}
        index = {alpha: i for i, alpha in enumerate(self.exponents)}
        prefix = torch.tensor([lower_index[alpha[:-1]] for alpha in self.exponents])
        last = torch.tensor([alpha[-1] for alpha in self.exponents])
        axes = range(self.group.n)
        grow = torch.tensor([[index[tuple(sorted(beta + (b,)))] for b in axes] for beta in lower.exponents])
        return prefix, last, grow

    def monomials(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., n) -> (..., size)``: the products ``x_a1 ... x_ak``."""
        if self.k == 0:
            return x.new_ones(*x.shape[:-1], 1)
        axes = torch.tensor(self.exponents, device=x.device)  # (size, k)
        return x[..., axes].prod(dim=-1)

    def matrices(self, g):
        if self.k == 0:
            return g.new_ones(g.shape[0], 1, 1)
        prefix, last, grow = (t.to(g.device) for t in self._recursion)
        lower = SymmetricPowerRep(self.group, self.k - 1).matrices(g)  # (b, S', S')
        # row alpha: (row prefix(alpha) of lower) times the linear form g[last(alpha)], expanded
        terms = lower[:, prefix, :, None] * g[:, last, None, :]  # (b, S, S', n)
        batch, flat = g.shape[0], grow.numel()
        target = grow.reshape(1, 1, flat).expand(batch, self.size, flat)
        out = g.new_zeros(batch, self.size, self.size)
        return out.scatter_add_(2, target, terms.reshape(batch, self.size, flat))

    @cached_property
    def _product_rule(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For every monomial ``alpha`` and factor ``t``: the row ``alpha``, the columns
        ``(rest + {b} for every axis b)`` with ``rest = alpha`` minus its factor ``t``, and the axis
        ``alpha_t``; flattened over ``(alpha, t)``."""
        lower = SymmetricPowerRep(self.group, self.k - 1)
        lower_index = {beta: i for i, beta in enumerate(lower.exponents)}
        _, _, grow = self._recursion
        pairs = [(row, lower_index[alpha[:t] + alpha[t + 1 :]], alpha[t])
                 for row, alpha in enumerate(self.exponents) for t in range(self.k)]
        rows, rests, axes = (torch.tensor(column) for column in zip(*pairs))
        return rows, grow[rests], axes

    @memoised_differential
    def differential(self, A):
        A = A.to(torch.float64)
        out = torch.zeros(self.size, self.size, dtype=torch.float64)
        if self.k == 0:
            return out
        # product rule: the factor x_{alpha_t} of x^alpha becomes (A x)_{alpha_t} = sum_b A[alpha_t, b] x_b
        rows, columns, axes = self._product_rule
        return out.index_put_((rows[:, None], columns), A[axes], accumulate=True)

    def __repr__(self) -> str:
        return f"Sym^{self.k}"
