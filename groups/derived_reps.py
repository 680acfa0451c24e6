"""Reps built generically from others: direct sums, tensor products and duals.

Families with their own closed-form rep algebra (escnn's) do not need these; families defined by
matrices (Clifford groups, groups from generators) use them. Each composes ``rho`` and its Lie
algebra derivative ``d rho`` from its parts, and finds invariants numerically from the group's
generators (:meth:`groups.base.Group.generators`) with :func:`groups.solver.equivariant_maps`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch

from groups.base import Rep
from groups.solver import equivariant_maps, kronecker_eigenspaces, merge_eigenspace


def block_diagonal(blocks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Batched block-diagonal matrix of ``(..., d_i, d_i)`` blocks sharing their batch shape."""
    size = sum(b.shape[-1] for b in blocks)
    out = blocks[0].new_zeros(*blocks[0].shape[:-2], size, size)
    offset = 0
    for block in blocks:
        d = block.shape[-1]
        out[..., offset : offset + d, offset : offset + d] = block
        offset += d
    return out


def batched_kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Kronecker product over the last two axes: ``(..., m, m), (..., k, k) -> (..., mk, mk)``."""
    out = a[..., :, None, :, None] * b[..., None, :, None, :]
    return out.reshape(*out.shape[:-4], a.shape[-2] * b.shape[-2], a.shape[-1] * b.shape[-1])


DIFFERENTIAL_MEMO_SIZE = 64  # Lie-algebra elements whose images a rep object keeps
Differential = Callable[[Rep, torch.Tensor], torch.Tensor]


def memoised_differential(method: Differential) -> Differential:
    """``differential(A)`` computed once per rep object and Lie-algebra element (keyed by the
    float64 bytes of ``A``), for the last :data:`DIFFERENTIAL_MEMO_SIZE` elements: the solver asks
    for the images of the same generators for every problem a rep takes part in. The returned
    tensor is shared; callers must not modify it in place."""

    @functools.wraps(method)
    def differential(self: Rep, A: torch.Tensor) -> torch.Tensor:
        memo = self.__dict__.setdefault("_differential_memo", {})
        key = (tuple(A.shape), A.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
        if key not in memo:
            if len(memo) >= DIFFERENTIAL_MEMO_SIZE:
                memo.pop(next(iter(memo)))
            memo[key] = method(self, A)
        return memo[key]

    return differential


def tensor_power_differential(factors: list[torch.Tensor]) -> torch.Tensor:
    """``sum_m I (x) .. (x) A_m (x) .. (x) I`` for the per-factor Lie images ``factors`` (the
    derivative of a Kronecker product of reps); ``(1, 1)`` zero for no factors."""
    sizes = [f.shape[0] for f in factors]
    total = torch.zeros(math.prod(sizes), math.prod(sizes), dtype=torch.float64)
    for m, factor in enumerate(factors):
        term = torch.ones(1, 1, dtype=torch.float64)
        for j, size in enumerate(sizes):
            term = torch.kron(term, factor.contiguous() if j == m else torch.eye(size, dtype=torch.float64))
        total = total + term
    return total


class GeneratedRep(Rep):
    """A rep whose invariants are solved numerically from the group's generators."""

    def invariant_basis(self) -> torch.Tensor:
        maps = equivariant_maps(self.group.trivial, self, *self.group.generators())
        return maps[:, :, 0].T


class DirectSumRep(GeneratedRep):
    """``rho_1 (+) rho_2 (+) ...`` (block diagonal, in order)."""

    def __init__(self, reps: Sequence[Rep]):
        self.group, self.parts = reps[0].group, tuple(reps)

    @property
    def size(self) -> int:
        return sum(r.size for r in self.parts)

    def matrices(self, g):
        return block_diagonal([r.matrices(g) for r in self.parts])

    def differential(self, A):
        return block_diagonal([r.differential(A) for r in self.parts])

    def lie_eigenspaces(self, A, tol):
        """Each part's eigenspaces, embedded in its block; equal eigenvalues merged."""
        merged, offset = [], 0
        for part in self.parts:
            for value, basis in part.lie_eigenspaces(A, tol):
                embedded = basis.new_zeros(self.size, basis.shape[1])
                embedded[offset:offset + part.size] = basis
                merge_eigenspace(merged, value, embedded, tol)
            offset += part.size
        return merged

    def decompose(self):
        """The parts' own decompositions, concatenated; ``Q`` is block diagonal in theirs."""
        decompositions = [part.decompose() for part in self.parts]
        parts = tuple(p for sub_parts, _ in decompositions for p in sub_parts)
        if all(q is None for _, q in decompositions):
            return parts, None
        blocks = [torch.eye(part.size, dtype=torch.float64) if q is None else q
                  for part, (_, q) in zip(self.parts, decompositions)]
        return parts, torch.block_diag(*blocks)

    def __eq__(self, other) -> bool:
        return isinstance(other, DirectSumRep) and other.group == self.group and other.parts == self.parts

    __hash__ = None

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.parts))


class TensorProductRep(GeneratedRep):
    """``rho_a (x) rho_b`` (Kronecker, row-major); ``d rho = d rho_a (x) I + I (x) d rho_b``."""

    def __init__(self, a: Rep, b: Rep):
        self.group, self.a, self.b = a.group, a, b

    @property
    def size(self) -> int:
        return self.a.size * self.b.size

    def matrices(self, g):
        return batched_kron(self.a.matrices(g), self.b.matrices(g))

    @memoised_differential
    def differential(self, A):
        return tensor_power_differential([self.a.differential(A), self.b.differential(A)])

    def lie_eigenspaces(self, A, tol):
        """Kronecker products of the factors' eigenspaces (``d rho`` is a Kronecker sum)."""
        return kronecker_eigenspaces(self.a.lie_eigenspaces(A, tol), self.b.lie_eigenspaces(A, tol), tol)

    def __eq__(self, other) -> bool:
        return isinstance(other, TensorProductRep) and (other.a, other.b) == (self.a, self.b)

    __hash__ = None

    def __repr__(self) -> str:
        return f"({self.a!r}) x ({self.b!r})"


class DualRep(GeneratedRep):
    """``g -> rho(g)^-T``; ``d rho^* (A) = -d rho(A)^T``."""

    def __init__(self, rep: Rep):
        self.group, self.rep = rep.group, rep

    @property
    def size(self) -> int:
        return self.rep.size

    def matrices(self, g):
        return torch.linalg.inv(self.rep.matrices(g)).transpose(-1, -2)

    def differential(self, A):
        return -self.rep.differential(A).transpose(0, 1)

    def __eq__(self, other) -> bool:
        return isinstance(other, DualRep) and other.rep == self.rep

    __hash__ = None

    def __repr__(self) -> str:
        return f"({self.rep!r})*"


class DerivedRepAlgebra:
    """Group mixin: tensor products and duals as the generic :class:`TensorProductRep` and
    :class:`DualRep`, for families whose own reps do not close under them."""

    def tensor_product(self, a: Rep, b: Rep) -> Rep:
        return TensorProductRep(a, b)

    def dual(self, rep: Rep) -> Rep:
        return DualRep(rep)
