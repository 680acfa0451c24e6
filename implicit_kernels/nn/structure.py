"""The invariant structure of one type of part, solved once through the group interface.

For a rep ``t`` (``d``-dimensional) of a group ``G``:

* ``L`` ``(k, d)``: the invariant linear functionals (``Hom_G(t, trivial)``), and ``U`` ``(d, k)``
  the invariant vectors (``Hom_G(trivial, t)``, each scaled so that its largest entry is 1: the
  trivial rep's ``1``, a (1,1)-tensor's identity map), with ``L`` normalised so that ``L U = I``; ``P = U L`` is
  then the equivariant projection onto the invariant part, and ``x = U (L x) + (x - U L x)``
  splits every feature into invariant coordinates and a remainder that no nonlinearity may touch
  except through invariant factors;
* ``forms`` ``(s, d, d)``: a basis of the invariant *symmetric* bilinear forms
  (``rho(g)^T S rho(g) = S``), the symmetric part of ``Hom_G(t, t*)``: ``x^T S x`` is invariant
  and finite everywhere, null vectors included. For orthogonal reps it holds the identity;
  for the Lorentz group on vectors it is the (indefinite) metric;
* ``definite``: a positive-definite element of that space, or ``None`` when there is none (then
  no norm of the field is invariant).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from groups import Rep
from implicit_kernels.nn.fields import normalised_basis

_RANK_TOL = 1e-9
_ASCENT_STEPS = 200


@dataclass(frozen=True)
class TypeStructure:
    """See the module docstring; all tensors float64."""

    L: torch.Tensor
    U: torch.Tensor
    forms: torch.Tensor
    definite: torch.Tensor | None

    @property
    def invariant_count(self) -> int:
        return self.L.shape[0]

    @property
    def size_forms(self) -> torch.Tensor:
        """``(s, d, d)`` forms whose ``sum_b |x^T S_b x|`` is the invariant squared size of a field:
        the definite form alone where there is one, else every invariant symmetric form."""
        return self.forms if self.definite is None else self.definite[None]

    @property
    def is_invariant(self) -> bool:
        """Whether the whole type is invariant (then it has no remainder to gate or scale)."""
        return self.L.shape[0] == self.L.shape[1]


def symmetric_forms(rep: Rep) -> torch.Tensor:
    """Basis ``(s, d, d)`` of the invariant symmetric bilinear forms of ``rep``, each scaled to
    ``|S|_F^2 = d`` (the identity, when it is one, stays the identity)."""
    maps = rep.group.intertwiners(rep, rep.dual())
    if maps.shape[0] == 0:
        return maps
    symmetric = (maps + maps.transpose(1, 2)).flatten(1) / 2
    u, s, vh = torch.linalg.svd(symmetric, full_matrices=False)
    span = vh[s > _RANK_TOL * max(float(s[0]), 1e-300)].reshape(-1, rep.size, rep.size)
    # sign convention: the first non-negligible diagonal entry is positive (|x|^2, not -|x|^2)
    diagonals = torch.diagonal(span, dim1=1, dim2=2)
    first = (diagonals.abs() > 1e-9 * diagonals.abs().amax(dim=1, keepdim=True)).to(torch.int64).argmax(dim=1)
    signs = torch.sign(diagonals.gather(1, first[:, None]))[:, 0]
    signs[signs == 0] = 1
    return normalised_basis(span * signs[:, None, None])


def positive_definite_form(forms: torch.Tensor) -> torch.Tensor | None:
    """A positive-definite element of the span of ``forms`` ``(s, d, d)`` scaled to trace ``d``, or
    ``None``.

    Starts from the projection of the identity onto the span (exact for orthogonal reps) and then
    climbs the smallest eigenvalue over unit coefficient vectors (its gradient is
    ``(v^T S_i v)_i`` for the eigenvector ``v``); accepts once that eigenvalue is clearly positive."""
    if forms.shape[0] == 0:
        return None
    d = forms.shape[-1]
    coefficients = torch.einsum("kii->k", forms)
    if float(coefficients.norm()) < 1e-12:
        coefficients = torch.ones(len(forms), dtype=torch.float64)
    for step in range(_ASCENT_STEPS):
        if float(coefficients.norm()) < 1e-12:
            return None
        coefficients = coefficients / coefficients.norm()
        form = torch.einsum("k,kij->ij", coefficients, forms)
        values, vectors = torch.linalg.eigh(form)
        if float(values[0]) > 1e-8 * float(values.abs().max()):
            return form * (d / torch.einsum("ii->", form))
        if len(forms) == 1:
            return None
        gradient = torch.einsum("i,kij,j->k", vectors[:, 0], forms, vectors[:, 0])
        coefficients = coefficients + gradient / (1 + step) ** 0.5
    return None


def squared_size(x: torch.Tensor, forms: torch.Tensor) -> torch.Tensor:
    """``sum_b |x^T S_b x|`` over the last axis of ``x`` ``(..., d)`` for ``forms`` ``(s, d, d)``:
    shape ``x.shape[:-1]``."""
    return torch.einsum("...d,bde,...e->...b", x, forms, x).abs().sum(-1)


def type_structure(rep: Rep) -> TypeStructure:
    """The :class:`TypeStructure` of ``rep`` (see the module docstring)."""
    group = rep.group
    L = group.intertwiners(rep, group.trivial)[:, 0, :]
    U = group.intertwiners(group.trivial, rep)[:, :, 0].T
    if U.shape[1]:
        peaks = U.gather(0, U.abs().argmax(dim=0, keepdim=True))
        U = U / peaks
    if L.shape[0]:
        L = torch.linalg.solve(L @ U, L)
    forms = symmetric_forms(rep)
    return TypeStructure(L, U, forms, positive_definite_form(forms))
