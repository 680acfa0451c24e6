"""The invariant scalars of a feature."""

from __future__ import annotations

import torch

from groups import Rep
from groups.kernel_network import ConstantsModule
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn.fields import FieldLayout, is_identity
from implicit_kernels.nn.structure import type_structure
from implicit_kernels.validation import check_dtypes, check_features


class Invariants(ConstantsModule, EquivariantModule):
    """``rep -> count * trivial``: the linear and quadratic invariants of every field.

    For each part type ``t`` of ``rep`` (:meth:`groups.Rep.decompose`) and each of its copies
    ``x``: the invariant coordinates ``L x`` (the invariant part, :mod:`~implicit_kernels.nn.structure`)
    and, unless ``t`` is wholly invariant, the quadratic invariants ``x^T S_b x`` for a basis ``S_b``
    of the invariant symmetric forms of ``t``: ``|x|^2`` for orthogonal reps, the quadratic form
    ``q`` of each grade for Clifford multivectors, the solved forms otherwise. All are polynomials,
    so they are finite everywhere, null vectors included (where ``q = 0``). With ``norms=True``
    the quadratic invariants ``v`` are returned as sizes ``sqrt(|v| + eps)`` instead (the norm for
    definite forms; ``eps`` keeps the gradient finite at zero). Output order: all linear invariants
    (type by type, copy by copy), then all quadratic ones.

    Shapes: ``(..., rep.size) -> (..., count)``.
    """

    def __init__(self, rep: Rep, norms: bool = False, eps: float = 1e-12):
        super().__init__()
        self.rep_in = rep
        self.norms, self.eps = norms, float(eps)
        self.layout = FieldLayout(rep)
        # per type: the constant of L (or "identity", or None) and of the forms (or the scale c
        # when the only form is c I, then the invariant is c |x|^2; or None)
        self._linear: list[str | None] = []
        self._quadratic: list[str | float | None] = []
        count = 0
        for index, t in enumerate(self.layout.types):
            structure = type_structure(t.rep)
            linear = quadratic = None
            if structure.invariant_count:
                linear = "identity" if is_identity(structure.L) else f"linear_{index}"
                if linear != "identity":
                    self.register_constant(linear, structure.L)
                count += t.multiplicity * structure.invariant_count
            if not structure.is_invariant and len(structure.forms):
                scale = float(structure.forms[0, 0, 0]) if len(structure.forms) == 1 else 0.0
                if scale and is_identity(structure.forms[0] / scale):
                    quadratic = scale
                else:
                    quadratic = f"forms_{index}"
                    self.register_constant(quadratic, structure.forms)
                count += t.multiplicity * len(structure.forms)
            self._linear.append(linear)
            self._quadratic.append(quadratic)
        if count == 0:
            raise ValueError(f"{rep!r} has no invariant linear functional and no invariant symmetric form")
        self.count = count
        self.rep_out = count * rep.group.trivial

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, self.rep_in, dim=x.dim() - 1, what="Invariants input")
        check_dtypes(self, x, "Invariants input")
        return self.from_pieces(self.layout.split(x))

    def from_pieces(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        """The invariants from the per-type pieces of :meth:`FieldLayout.split`."""
        linear, quadratic = [], []
        for piece, lin, quad in zip(pieces, self._linear, self._quadratic):
            if lin == "identity":
                linear.append(piece.flatten(-2))
            elif lin is not None:
                linear.append((piece @ self.constant(lin, piece).transpose(0, 1)).flatten(-2))
            if isinstance(quad, float):
                quadratic.append(piece.square().sum(-1) * quad)
            elif quad is not None:
                forms = self.constant(quad, piece)
                quadratic.append(torch.einsum("...md,kde,...me->...mk", piece, forms, piece).flatten(-2))
        if self.norms:
            quadratic = [(value.abs() + self.eps).sqrt() for value in quadratic]
        values = linear + quadratic
        if not values:
            return pieces[0].new_zeros(*pieces[0].shape[:-2], 0)
        return torch.cat(values, dim=-1)

    def extra_repr(self) -> str:
        return f"{self.rep_in!r} -> {self.count} invariants"
