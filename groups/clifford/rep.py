"""Representations of O(p, q) on multivector fields: sums of grades of Cl(p, q)."""

from __future__ import annotations

from functools import cached_property
from math import comb
from typing import TYPE_CHECKING

import torch

from groups.base import Rep
from groups.derived_reps import block_diagonal

if TYPE_CHECKING:
    from groups.clifford.group import PseudoOrthogonalGroup


class CliffordRep(Rep):
    """A direct sum of *fields*, each a set of grades of Cl(p, q) on which O(p, q) acts by
    exterior powers (see :mod:`groups.clifford.algebra`); e.g. a full multivector is the field
    with grades ``(0, 1, ..., n)``, a vector field ``(1,)``. Coordinates of a field are its blades
    in short-lex order; fields are concatenated in order.

    Build them from the group: ``G.multivector``, ``G.grade(k)``, ``G.grades(0, 2)``, sums and
    multiplicities (``2 * G.multivector + G.grade(1)``).
    """

    def __init__(self, group: PseudoOrthogonalGroup, fields: tuple[tuple[int, ...], ...]):
        n = group.n
        for field in fields:
            if not field or list(field) != sorted(set(field)) or field[0] < 0 or field[-1] > n:
                raise ValueError(f"a field must be a sorted tuple of distinct grades in 0..{n}, got {field}")
        self.group, self.fields = group, tuple(fields)

    @property
    def size(self) -> int:
        return sum(comb(self.group.n, k) for field in self.fields for k in field)

    @cached_property
    def blade_positions(self) -> list[torch.Tensor]:
        """Per field, the positions of its coordinates in a full multivector (``(2^n,)`` layout)."""
        grades = self.group.algebra.grades
        return [torch.cat([(grades == k).nonzero().flatten() for k in field]) for field in self.fields]

    @cached_property
    def coordinate_grades(self) -> torch.Tensor:
        """Long ``(size,)``: the grade of every coordinate."""
        return torch.cat([self.group.algebra.grades[idx] for idx in self.blade_positions])

    def _restrict(self, full: torch.Tensor) -> torch.Tensor:
        return block_diagonal([full[..., idx[:, None], idx[None, :]] for idx in self.blade_positions])

    def matrices(self, g):
        return self._restrict(self.group.algebra.action(g))

    def differential(self, A):
        return self._restrict(self.group.algebra.derivation(A))

    def decompose(self):
        """One part per grade of every field: a field's blades are ordered by grade, so the parts
        are contiguous and ``Q`` is the identity."""
        parts = tuple(CliffordRep(self.group, ((k,),)) for field in self.fields for k in field)
        return parts, None

    def invariant_basis(self) -> torch.Tensor:
        scalars = (self.coordinate_grades == 0).nonzero().flatten()
        return torch.eye(self.size, dtype=torch.float64)[:, scalars]

    def __eq__(self, other) -> bool:
        return isinstance(other, CliffordRep) and other.group == self.group and other.fields == self.fields

    __hash__ = None

    def __repr__(self) -> str:
        n = self.group.n
        names = ["multivector" if f == tuple(range(n + 1)) else f"grades{f}" if len(f) > 1 else f"grade({f[0]})"
                 for f in self.fields]
        return " + ".join(names)
