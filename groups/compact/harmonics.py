"""The harmonic embedding that makes compact-group kernels complete.

A gated MLP fed with ``x`` alone only ever produces harmonics of degree <= 1 in ``x`` (linear maps
and invariant gates cannot raise the degree), so kernels whose Hom rep holds higher irreps would be
incomplete. This module supplies them exactly: with ``u = x / sqrt(|x|^2 + eps^2)`` it computes
the solid harmonics ``Y_l(u)`` of the parent group P = O(2) or O(3) recursively,

    Y_1(u) = Q^-1 u,        Y_{l+1}(u) = c_{l+1} CG_{(l, 1) -> l+1}(Y_l(u) (x) Y_1(u)),

with escnn's Clebsch-Gordan coefficients (``Q`` is the change of basis of P's standard rep and
``c_l`` normalises ``|Y_l| = |u|^l``), then restricts each ``Y_l`` to the subgroup G with escnn's
``restrict_representation``. ``Y_l(u)`` is a polynomial in ``u``: smooth, finite and zero at ``x = 0``
for ``l >= 1``, so zero-length offsets give the invariant kernel value they must.

The degree is chosen per needed G-irrep ``psi``: for continuous G it is psi's frequency (that is
where ``psi`` first appears among restricted harmonics, and at a generic point one appearance
already spans ``psi^Stab(x)``); for finite G (trivial stabiliser at a generic point) degrees are
added until the span of ``{A c : A in End_G(psi), c a psi-component of Y_l(x0)}`` at a random
point ``x0`` is all of ``psi``.

For finite G that pointwise span is not the whole story: a finite group has invariant functions
of the direction (e.g. ``cos(N theta)`` for C_N), and kernels whose angular profile goes through
them need those invariants as inputs. With ``extra_degree`` the embedding adds the harmonics of
``extra_degree`` more degrees and keeps their G-invariant components, so gates and the head can
build angular profiles up to that band (the analytic cross-check uses the same band limit,
:attr:`groups.compact.group.CompactGroup.angular_band`).
"""

from __future__ import annotations

import numpy as np
import torch
from escnn import group as escnn_group
from escnn.group import IrreducibleRepresentation

from groups.compact.layers import IrrepLayout
from groups.kernel_network import ConstantsModule

MAX_DEGREE = 24


class HarmonicEmbedding(ConstantsModule):
    """``(..., n) -> (..., layout.size)``: restricted harmonics of ``x`` in G-irrep basis.

    Args:
        group: the :class:`~groups.compact.group.CompactGroup`.
        needed: the non-trivial G-irreps the kernel must produce; only their components are kept.
        eps: softening length of ``u = x / sqrt(|x|^2 + eps^2)`` (in the units of ``x``).
        max_degree: cap on the degree (``None``: as high as completeness needs). ``1`` keeps only
            ``Y_1 = x``, the input of a plain gated MLP, which is incomplete for Hom reps holding
            irreps of higher degree (kept as an option to measure exactly that).
        extra_degree: degrees added beyond the needed one, whose invariant components are kept too.
    """

    def __init__(self, group, needed: list[IrreducibleRepresentation], eps: float = 0.05,
                 max_degree: int | None = None, extra_degree: int = 0):
        super().__init__()
        self.eps = eps
        gspace = group.gspace
        parent = escnn_group.o2_group() if group.n == 2 else escnn_group.o3_group()
        needed = [psi for psi in dict.fromkeys(needed) if not psi.is_trivial()]
        self._parent = parent

        std_cob = np.asarray(parent.standard_representation().change_of_basis, dtype=np.float64)
        self.register_constant("to_irrep_basis", np.linalg.inv(std_cob))
        degree = self._choose_degree(group, parent, gspace, needed)
        degree = degree + extra_degree if max_degree is None else min(degree, max_degree)
        if extra_degree:
            G = group.escnn_group
            needed = needed + [G.irrep(*G.trivial_representation.irreps[0])]
        for l in range(2, degree + 1):
            self._add_cg(l)
        kept_rows, kept_irreps = [], []
        offset = 0
        for l in range(1, degree + 1):
            restricted = parent.restrict_representation(gspace._sg_id, self._parent_irrep(l))
            inv_cob = np.linalg.inv(np.asarray(restricted.change_of_basis, dtype=np.float64))
            row = 0
            for irrep_id in restricted.irreps:
                psi = group.escnn_group.irrep(*irrep_id)
                if psi in needed:
                    kept_rows.append((offset, inv_cob[row : row + psi.size]))
                    kept_irreps.append(psi)
                row += psi.size
            offset += self._parent_irrep(l).size
        self.degree = degree
        self.layout = IrrepLayout.from_counts((psi, 1) for psi in kept_irreps)
        # one matrix taking the stacked parent harmonics [Y_1, ..., Y_L] to the kept G-irrep
        # components, ordered as in ``layout``
        projection = np.zeros((self.layout.size, offset))
        cursor = {psi: sl.start for psi, _, sl in self.layout.blocks()}
        for (start, rows), psi in zip(kept_rows, kept_irreps):
            projection[cursor[psi] : cursor[psi] + psi.size, start : start + rows.shape[1]] = rows
            cursor[psi] += psi.size
        self.register_constant("projection", projection)

    def _parent_irrep(self, l: int) -> IrreducibleRepresentation:
        """The parent irrep carried by harmonics of degree ``l``: O(2) ``(1, l)``, O(3) ``(l mod 2, l)``."""
        return self._parent.irrep(1, l) if self._parent.name == "O(2)" else self._parent.irrep(l % 2, l)

    def _add_cg(self, l: int) -> None:
        """Register the normalised Clebsch-Gordan tensor taking ``Y_{l-1} (x) Y_1`` to ``Y_l``."""
        if hasattr(self, f"cg{l}"):
            return
        prev, one, new = self._parent_irrep(l - 1), self._parent_irrep(1), self._parent_irrep(l)
        cg = np.asarray(self._parent._clebsh_gordan_coeff(prev.id, one.id, new.id), dtype=np.float64)
        self.register_constant(f"cg{l}", cg[:, :, 0, :])
        # normalise so that |Y_l(u)| = |u|^l (the norm is constant on the unit sphere)
        with torch.no_grad():
            e = torch.zeros(1, len(self.to_irrep_basis), dtype=torch.float64)
            e[0, 0] = 1.0
            value = self._parent_harmonics(e, l)[-1]
        getattr(self, f"cg{l}").div_(value.norm())

    def _parent_harmonics(self, u: torch.Tensor, degree: int) -> list[torch.Tensor]:
        y1 = u @ self.constant("to_irrep_basis", u).transpose(0, 1)
        out = [y1]
        for l in range(2, degree + 1):
            cg = self.constant(f"cg{l}", u)
            # Y_l = (Y_{l-1} (x) Y_1) . cg as one outer product and one matmul (a three-operand
            # einsum would search its contraction order on every call)
            outer = (out[-1][..., :, None] * y1[..., None, :]).flatten(-2)
            out.append(outer @ cg.flatten(0, 1))
        return out

    def _choose_degree(self, group, parent, gspace, needed) -> int:
        if not needed:
            return 0
        if not group.is_finite:
            return max(int(psi.attributes.get("frequency", 1)) for psi in needed)
        # finite groups: add degrees until every needed irrep is spanned at a generic point
        x0 = torch.from_numpy(np.random.default_rng(0).normal(size=(1, group.n)))
        x0 = x0 / x0.norm()
        spans = {psi: np.zeros((0, psi.size)) for psi in needed}
        for l in range(1, MAX_DEGREE + 1):
            if l >= 2:
                self._add_cg(l)
            y = self._parent_harmonics(x0, l)[-1][0].numpy()
            restricted = parent.restrict_representation(gspace._sg_id, self._parent_irrep(l))
            components = np.linalg.solve(np.asarray(restricted.change_of_basis, dtype=np.float64), y)
            row = 0
            for irrep_id in restricted.irreps:
                psi = group.escnn_group.irrep(*irrep_id)
                if psi in spans:
                    c = components[row : row + psi.size]
                    new = np.stack([e @ c for e in psi.endomorphism_basis()])
                    spans[psi] = np.concatenate([spans[psi], new])
                row += psi.size
            if all(np.linalg.matrix_rank(s, tol=1e-8) == psi.size for psi, s in spans.items()):
                return l
        missing = [psi.id for psi, s in spans.items() if np.linalg.matrix_rank(s, tol=1e-8) < psi.size]
        raise RuntimeError(f"harmonics up to degree {MAX_DEGREE} do not span the irreps {missing} of {group.name}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.degree == 0:
            return x.new_zeros(x.shape[:-1] + (0,))
        u = x / torch.sqrt((x * x).sum(-1, keepdim=True) + self.eps**2)
        stacked = torch.cat(self._parent_harmonics(u, self.degree), dim=-1)
        return stacked @ self.constant("projection", x).transpose(0, 1)

