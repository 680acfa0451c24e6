"""Representations of the escnn-backed compact groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from escnn import group as escnn_group

from groups.base import Rep

if TYPE_CHECKING:
    from groups.compact.group import CompactGroup


class EscnnRep(Rep):
    """A rep of a :class:`~groups.compact.group.CompactGroup`, held as an escnn ``Representation``
    ``rho(g) = Q (irrep_1(g) (+) irrep_2(g) (+) ...) Q^-1`` (``Q`` = ``change_of_basis``).
    """

    def __init__(self, group: CompactGroup, representation: escnn_group.Representation):
        if representation.group != group.escnn_group:
            raise ValueError(f"{representation} is not a representation of {group.name}")
        self.group = group
        self.representation = representation

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
        mats = np.stack([self.representation(e) for e in elements]).astype(np.float64)
        return torch.from_numpy(mats).to(device=g.device, dtype=g.dtype)

    def invariant_basis(self) -> torch.Tensor:
        trivial = self.group.escnn_group.trivial_representation.irreps[0]
        columns, offset = [], 0
        for irrep in self.irreps:
            if irrep.id == trivial:
                columns.append(offset)
            offset += irrep.size
        return torch.from_numpy(self.change_of_basis[:, columns].copy())

    def field_type(self):
        """This rep as an escnn ``FieldType`` over the group's gspace (one field)."""
        from escnn.nn import FieldType

        return FieldType(self.group.gspace, [self.representation])

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, EscnnRep)
            and other.group is self.group
            and other.representation.irreps == self.representation.irreps
            and np.allclose(other.change_of_basis, self.change_of_basis)
        )

    __hash__ = None

    def __repr__(self) -> str:
        ids = ", ".join(str(i.id) for i in self.irreps)
        return f"Rep[{self.group.name}](size={self.size}, irreps=[{ids}])"
