"""Exactly equivariant linear building blocks working in escnn's irrep basis.

Features live in an :class:`IrrepLayout`: for each distinct irrep ``psi`` (trivial first) a block
of ``multiplicity x dim(psi)`` numbers, stored row-major as ``(copy, component)``. In this basis
the equivariant linear maps are block diagonal by Schur's lemma: copy ``j`` of ``psi`` in the
output is ``sum_i sum_b w[j, i, b] E_b x_i`` with ``E_b`` escnn's basis of ``End_G(psi)`` (one
matrix for real-type irreps, two for complex type, four for quaternionic type). This is exact: no
sampling over the group is involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from escnn.group import IrreducibleRepresentation
from torch import nn

from groups.kernel_network import ConstantsModule


@dataclass(frozen=True)
class IrrepLayout:
    """Ordered ``(irrep, multiplicity)`` blocks; the trivial irrep, when present, comes first."""

    irreps: tuple[IrreducibleRepresentation, ...]
    multiplicities: tuple[int, ...]

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[IrreducibleRepresentation, int]]) -> IrrepLayout:
        """Merge ``(irrep, multiplicity)`` pairs (repeats are added up), trivial irrep first,
        then in order of first appearance; zero multiplicities are dropped."""
        merged: dict = {}
        for irrep, mult in counts:
            merged[irrep] = merged.get(irrep, 0) + int(mult)
        keys = sorted((k for k in merged if merged[k] > 0), key=lambda k: not k.is_trivial())
        return cls(tuple(keys), tuple(merged[k] for k in keys))

    @property
    def size(self) -> int:
        return sum(m * irrep.size for irrep, m in zip(self.irreps, self.multiplicities))

    def blocks(self) -> list[tuple[IrreducibleRepresentation, int, slice]]:
        """``(irrep, multiplicity, slice of the feature vector)`` for every block."""
        out, start = [], 0
        for irrep, m in zip(self.irreps, self.multiplicities):
            out.append((irrep, m, slice(start, start + m * irrep.size)))
            start += m * irrep.size
        return out

    @property
    def scalar_count(self) -> int:
        """Number of trivial (invariant) channels."""
        return self.multiplicities[0] if self.irreps and self.irreps[0].is_trivial() else 0


def irrep_permutation(irreps: Sequence[IrreducibleRepresentation], layout: IrrepLayout) -> torch.Tensor:
    """Index ``p`` with ``layout_vector = vector[p]`` for a vector given in the irrep order
    ``irreps`` (as in an escnn ``Representation``), whose irreps the layout holds exactly."""
    starts: dict = {}
    offset = 0
    for irrep in irreps:
        starts.setdefault(irrep, []).append(offset)
        offset += irrep.size
    index = []
    for irrep, m, _ in layout.blocks():
        copies = starts.get(irrep, [])
        if len(copies) != m:
            raise ValueError(f"layout has {m} copies of {irrep}, the irrep list {len(copies)}")
        for start in copies:
            index.extend(range(start, start + irrep.size))
    return torch.tensor(index, dtype=torch.long)


class IrrepLinear(ConstantsModule):
    """Equivariant linear map between two :class:`IrrepLayout` s, with bias on trivial outputs.

    ``forward``: ``(..., layout_in.size) -> (..., layout_out.size)``. Irreps present on only one
    side get no weights (Schur's lemma: the only equivariant map between them is zero).
    """

    def __init__(self, layout_in: IrrepLayout, layout_out: IrrepLayout, bias: bool = True):
        super().__init__()
        self.layout_in, self.layout_out = layout_in, layout_out
        in_blocks = {irrep: (m, sl) for irrep, m, sl in layout_in.blocks()}
        self._paths: list[tuple[str, slice, slice, int, int]] = []
        self.weights = nn.ParameterDict()
        for j, (irrep, m_out, out_slice) in enumerate(layout_out.blocks()):
            if irrep not in in_blocks:
                continue
            m_in, in_slice = in_blocks[irrep]
            basis = np.asarray(irrep.endomorphism_basis(), dtype=np.float64)
            key = f"irrep{j}"
            self.register_constant(f"endo_{key}", basis)
            self.weights[key] = nn.Parameter(torch.empty(m_out, m_in, len(basis)))
            self._paths.append((key, out_slice, in_slice, m_in, irrep.size))
        scalars_out = layout_out.scalar_count
        self.bias = nn.Parameter(torch.empty(scalars_out)) if bias and scalars_out else None
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Weights ~ N(0, 1 / (fan_in copies * endomorphism dim)), which keeps unit variance per
        component for unit-variance inputs; zero bias."""
        with torch.no_grad():
            for w in self.weights.values():
                std = (w.shape[1] * w.shape[2]) ** -0.5
                w.copy_(torch.randn(w.shape, generator=generator, dtype=torch.float64) * std)
            if self.bias is not None:
                self.bias.zero_()

    def dense_weight(self) -> torch.Tensor:
        """The map as a ``(layout_out.size, layout_in.size)`` matrix."""
        ref = next(iter(self.weights.values()), None)
        dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        device = ref.device if ref is not None else None
        weight = torch.zeros(self.layout_out.size * self.layout_in.size, dtype=dtype, device=device)
        blocks, positions = [], []
        for key, out_slice, in_slice, _, _ in self._paths:
            endo = self.constant(f"endo_{key}", weight)
            blocks.append(torch.einsum("oib,bde->odie", self.weights[key], endo).flatten())
            rows = torch.arange(out_slice.start, out_slice.stop, device=device)
            positions.append((rows[:, None] * self.layout_in.size
                              + torch.arange(in_slice.start, in_slice.stop, device=device)).flatten())
        if blocks:  # one scatter: slice assignments would each copy the whole gradient in the backward pass
            weight = weight.index_copy(0, torch.cat(positions), torch.cat(blocks))
        return weight.view(self.layout_out.size, self.layout_in.size)

    def dense_bias(self) -> torch.Tensor | None:
        """The bias as a ``(layout_out.size,)`` vector (zero outside the trivial block)."""
        if self.bias is None:
            return None
        return F.pad(self.bias, (0, self.layout_out.size - self.bias.numel()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Block by block: per irrep, mix the copies with ``W[o, i, b]`` and apply the
        endomorphism basis ``E_b`` inside each copy. That costs ``m_out (m_in + d) d`` per irrep
        instead of the ``m_out m_in d^2`` of the dense matrix (:meth:`dense_weight`)."""
        batch = x.shape[:-1]
        # one split (not one slice per block) keeps the backward to a single concatenation
        in_slices = [sl for _, _, sl in self.layout_in.blocks()]
        blocks_in = dict(zip([sl.start for sl in in_slices], x.split([sl.stop - sl.start for sl in in_slices], dim=-1)))
        paths = {out_slice.start: (key, in_slice, m_in, d) for key, out_slice, in_slice, m_in, d in self._paths}
        pieces = []
        for _, _, out_slice in self.layout_out.blocks():
            if out_slice.start not in paths:
                pieces.append(x.new_zeros(*batch, out_slice.stop - out_slice.start))
                continue
            key, in_slice, m_in, d = paths[out_slice.start]
            copies = blocks_in[in_slice.start].unflatten(-1, (m_in, d))
            mixed = torch.einsum("...ie,oib->...obe", copies, self.weights[key])
            endo = self.constant(f"endo_{key}", x)
            block = mixed[..., 0, :] if endo.shape[0] == 1 else torch.einsum("...obe,bde->...od", mixed, endo)
            pieces.append(block.flatten(-2))
        if self.bias is not None:  # the trivial block comes first in a layout
            pieces[0] = pieces[0] + self.bias
        return torch.cat(pieces, dim=-1)
