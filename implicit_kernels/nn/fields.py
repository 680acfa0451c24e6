"""How the ``nn`` layers see a rep: its parts (:meth:`groups.Rep.decompose`) grouped by type.

A rep ``rho = Q (part_1 (+) part_2 (+) ...) Q^-1`` is handled in the coordinates of its parts.
Equal parts are *copies of one type*; the layers stack the copies of a type as ``(..., m, d)``
(``m`` copies of a ``d``-dimensional type) and act on all of them at once, with maps solved once
per type (or pair, or triple of types) through :meth:`groups.Group.intertwiners`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from groups import Rep
from groups.kernel_network import ConstantsModule


@dataclass(frozen=True)
class FieldType:
    """One type of part: the rep, how many copies the layout holds and where they start."""

    rep: Rep
    starts: tuple[int, ...]

    @property
    def multiplicity(self) -> int:
        return len(self.starts)

    @property
    def dim(self) -> int:
        return self.rep.size


def _signed_permutation(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(index, signs)`` with ``(Q v)_r = signs_r v_index_r`` when ``Q`` is a signed permutation."""
    nonzero = q != 0
    if not bool((nonzero.sum(dim=1) == 1).all()) or not bool((q[nonzero].abs() == 1).all()):
        return None
    index = nonzero.to(torch.int64).argmax(dim=1)
    return index, q[torch.arange(len(q)), index]


class FieldLayout(ConstantsModule):
    """The parts of ``rep`` grouped by type, with the change of basis between the rep's
    coordinates and the parts' coordinates.

    :meth:`split` maps features ``(..., rep.size)`` to one ``(..., m_t, d_t)`` tensor per type
    ``t``; :meth:`merge` is its inverse. ``Q`` is applied as a gather when it is a signed
    permutation (escnn's vectors are permuted irreps), as a float64 constant otherwise.
    """

    def __init__(self, rep: Rep):
        super().__init__()
        self.rep = rep
        parts, q = rep.decompose()
        types: list[tuple[Rep, list[int]]] = []
        offset = 0
        for part in parts:
            for known, starts in types:
                if known == part:
                    starts.append(offset)
                    break
            else:
                types.append((part, [offset]))
            offset += part.size
        if offset != rep.size:
            raise ValueError(f"{rep!r} decomposes into parts of total size {offset}, not {rep.size}")
        self.types = tuple(FieldType(t, tuple(starts)) for t, starts in types)
        order = torch.cat([
            torch.arange(d_start, d_start + t.dim) for t in self.types for d_start in t.starts
        ]) if self.types else torch.zeros(0, dtype=torch.int64)
        self._identity_order = bool(torch.equal(order, torch.arange(rep.size)))
        self.register_buffer("order", order, persistent=False)
        self.register_buffer("inverse_order", torch.argsort(order), persistent=False)
        self._basis = "identity"
        if q is not None and not is_identity(q):
            permutation = _signed_permutation(q)
            if permutation is not None:
                index, signs = permutation
                self._basis = "permutation"
                self.register_buffer("q_index", index, persistent=False)
                self.register_buffer("q_inverse_index", torch.argsort(index), persistent=False)
                self.register_constant("q_signs", signs)
            else:
                self._basis = "dense"
                self.register_constant("q", q)
                self.register_constant("q_inverse", torch.linalg.inv(q))

    @property
    def sizes(self) -> list[int]:
        """``m_t * d_t`` per type, in order."""
        return [t.multiplicity * t.dim for t in self.types]

    def to_parts(self, x: torch.Tensor) -> torch.Tensor:
        """``Q^-1 x``: the rep's coordinates to the parts' coordinates."""
        if self._basis == "permutation":
            signs = self.constant("q_signs", x)
            return (x * signs)[..., self.q_inverse_index]
        if self._basis == "dense":
            return x @ self.constant("q_inverse", x).transpose(0, 1)
        return x

    def from_parts(self, y: torch.Tensor) -> torch.Tensor:
        """``Q y``: the parts' coordinates to the rep's coordinates."""
        if self._basis == "permutation":
            return y[..., self.q_index] * self.constant("q_signs", y)
        if self._basis == "dense":
            return y @ self.constant("q", y).transpose(0, 1)
        return y

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features ``(..., rep.size)`` -> per type ``(..., m_t, d_t)``."""
        x = self.to_parts(x)
        if not self._identity_order:
            x = x[..., self.order]
        pieces = x.split(self.sizes, dim=-1)
        return [piece.unflatten(-1, (t.multiplicity, t.dim)) for piece, t in zip(pieces, self.types)]

    def merge(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`split`: per type ``(..., m_t, d_t)`` -> features ``(..., rep.size)``."""
        y = torch.cat([piece.flatten(-2) for piece in pieces], dim=-1)
        if not self._identity_order:
            y = y[..., self.inverse_order]
        return self.from_parts(y)

    def extra_repr(self) -> str:
        return ", ".join(f"{t.multiplicity}x{t.rep!r}" for t in self.types)


def is_identity(matrix: torch.Tensor) -> bool:
    """Whether a ``(d, d)`` matrix is the identity (to ``1e-12``): the layers then skip it."""
    return matrix.dim() == 2 and matrix.shape[0] == matrix.shape[1] and bool(
        torch.allclose(matrix, torch.eye(matrix.shape[0], dtype=matrix.dtype), atol=1e-12)
    )


def normalised_basis(basis: torch.Tensor) -> torch.Tensor:
    """Scale every element ``E`` of a ``(k, d_out, ...)`` basis to ``|E|_F^2 = d_out``, so that it maps
    unit-variance inputs to outputs of about unit variance per component (the identity stays the
    identity)."""
    if basis.shape[0] == 0:
        return basis
    norms = basis.flatten(1).norm(dim=1)
    return basis * (basis.shape[1] ** 0.5 / norms).view(-1, *[1] * (basis.dim() - 1))
