"""Representations of the escnn-backed compact groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
import torch
from escnn import group as escnn_group

from groups.base import Rep
from groups.compact import escnn_pickle

if TYPE_CHECKING:
    from groups.compact.group import CompactGroup

# escnn's groups and reps pickle by their definition (see escnn_pickle)
escnn_pickle.register()


class EscnnRep(Rep):
    """A rep of a :class:`~groups.compact.group.CompactGroup`, held as escnn ``Representation`` s.

    ``parts`` are the summands ``rho = rho_1 (+) rho_2 (+) ...`` as they were put together (by
    ``a + b``, ``3 * a`` or an escnn ``FieldType``): the fields of :meth:`field_type`.
    ``representation`` is their direct sum, ``rho(g) = Q (irrep_1(g) (+) irrep_2(g) (+) ...) Q^-1``
    (``Q`` = ``change_of_basis``), which the matrices come from.

    Args:
        group: the group.
        parts: one escnn representation of ``group.escnn_group``, or a non-empty sequence of them
            (the summands, in order).
    """

    def __init__(
        self,
        group: CompactGroup,
        parts: escnn_group.Representation | Sequence[escnn_group.Representation],
    ):
        parts = (parts,) if isinstance(parts, escnn_group.Representation) else tuple(parts)
        if not parts:
            raise ValueError(f"a rep of {group.name} needs at least one escnn representation, got none")
        for part in parts:
            if not isinstance(part, escnn_group.Representation):
                raise TypeError(f"expected escnn Representations of {group.name}, got {type(part).__name__}")
            if part.group != group.escnn_group:
                raise ValueError(f"{part} is not a representation of {group.name}")
        self.group = group
        self.parts: tuple[escnn_group.Representation, ...] = parts
        self.representation = parts[0] if len(parts) == 1 else escnn_group.directsum(list(parts))

    @property
    def size(self) -> int:
        return self.representation.size

    @property
    def irreps(self) -> list[escnn_group.IrreducibleRepresentation]:
        """The irreps of the decomposition, in order."""
        G = self.group.escnn_group
        return [G.irrep(*irrep_id) for irrep_id in self.representation.irreps]

    @property
    def change_of_basis(self) -> np.ndarray:
        return np.asarray(self.representation.change_of_basis, dtype=np.float64)

    def matrices(self, g):
        elements = self.group.to_escnn_elements(g)
        if not elements:
            return g.new_zeros(0, self.size, self.size)
        mats = np.stack([self.representation(e) for e in elements]).astype(np.float64)
        return torch.from_numpy(mats).to(device=g.device, dtype=g.dtype)

    def decompose(self):
        """escnn's irreps, one part each, with the change of basis (``None`` when it is the
        identity)."""
        parts = tuple(self.group.rep(irrep) for irrep in self.irreps)
        q = self.change_of_basis
        return parts, None if np.array_equal(q, np.eye(len(q))) else torch.from_numpy(q.copy())

    def rotation_generator(self) -> torch.Tensor:
        """``X = Q (X_1 (+) X_2 (+) ...) Q^-1`` over escnn's irreps of the planar groups (``SO(2)``,
        ``O(2)``, ``C_N``, ``D_N``): an irrep of frequency ``k`` (the last entry of its id) is
        ``R(k t)`` on the rotation by ``t``, so ``X_i = k J`` for a two-dimensional irrep and ``0``
        for a one-dimensional irrep that is trivial on rotations. The extension takes the
        frequency escnn lists, ``|k| <= N / 2``. A one-dimensional irrep of frequency ``N / 2``
        (the sign of the rotation by ``2 pi / N``) has no extension: ``ValueError``."""
        self.check_planar()
        blocks = []
        for irrep in self.irreps:
            k = irrep.id[-1]
            if irrep.size == 1 and k != 0:
                raise ValueError(
                    f"irrep {irrep.id} of {self.group.name} changes sign under the rotation by 2 pi / N and "
                    "has no extension to all rotations of the plane; build the rep from other irreps"
                )
            blocks.append(np.zeros((1, 1)) if irrep.size == 1 else k * np.array([[0.0, -1.0], [1.0, 0.0]]))
        q = self.change_of_basis
        x = q @ scipy.linalg.block_diag(*blocks) @ np.linalg.inv(q)
        return torch.from_numpy(x)

    def invariant_basis(self) -> torch.Tensor:
        trivial = self.group.escnn_group.trivial_representation.irreps[0]
        columns, offset = [], 0
        for irrep in self.irreps:
            if irrep.id == trivial:
                columns.append(offset)
            offset += irrep.size
        return torch.from_numpy(self.change_of_basis[:, columns].copy())

    def field_type(self):
        """This rep as an escnn ``FieldType`` over the group's gspace, one field per summand of
        ``parts``, so escnn's per-field modules (``NormNonLinearity``, ``GatedNonLinearity1``, ...)
        see the fields. Arrays of its ``GeometricTensor`` s use escnn's grid layout: see
        :mod:`implicit_kernels.escnn_interop` and ``GridConv(..., layout="escnn")``."""
        from escnn.nn import FieldType

        return FieldType(self.group.gspace, list(self.parts))

    def __eq__(self, other) -> bool:
        if not isinstance(other, EscnnRep) or other.group != self.group:
            return False
        if other.representation is self.representation:
            return True
        return other.representation.irreps == self.representation.irreps and np.allclose(
            other.change_of_basis, self.change_of_basis
        )

    __hash__ = None

    def __reduce__(self) -> tuple:
        """Pickle as the group (by its registered name) and the summands, each an escnn
        representation reduced to its irrep ids and change of basis (see
        :mod:`groups.compact.escnn_pickle`); the closures escnn keeps are rebuilt on loading."""
        return EscnnRep, (self.group, self.parts)

    def __repr__(self) -> str:
        ids = ", ".join(str(i.id) for i in self.irreps)
        return f"Rep[{self.group.name}](size={self.size}, irreps=[{ids}])"
