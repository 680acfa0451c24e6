"""Compact groups backed by escnn: subgroups of O(2) acting on R^2 and of O(3) acting on R^3.

Each group wraps an escnn ``GSpace``: its fibre group supplies the irreps, Clebsch-Gordan
coefficients and endomorphism bases, its ``basespace_action`` is our :attr:`standard` rep (the
matrices the group acts on ``R^n`` with), and its ``build_kernel_basis`` is the analytic kernel
basis our implicit kernels are cross-checked against.

Elements travel as ``(k, n, n)`` matrices. To evaluate escnn reps we convert each matrix back to
an escnn ``GroupElement`` by fitting the element's parameters (angle, flip, rotation matrix, or the
nearest element of a finite group) and accept it only if the fitted element reproduces the matrix
to a dtype-aware tolerance; anything else is reported as not in the group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import torch
from escnn import group as escnn_group
from escnn.gspaces import GSpace

from groups.base import Group, Rep
from groups.compact.rep import EscnnRep
from groups.kernel_network import KernelNetwork


def membership_tolerance(dtype: torch.dtype) -> float:
    """Max entrywise deviation accepted when matching a matrix to a group element."""
    return 1e-9 if dtype == torch.float64 else 2e-5


class CompactGroup(Group):
    """A compact subgroup of O(n), n in {2, 3}, defined by an escnn ``GSpace``.

    Args:
        name: registry name, e.g. ``"O(3)"``.
        gspace: the escnn gspace, e.g. ``escnn.gspaces.flipRot3dOnR3()``.
    """

    def __init__(self, name: str, gspace: GSpace):
        self.name = name
        self.gspace = gspace
        self.escnn_group = gspace.fibergroup
        self.n = gspace.dimensionality
        self._action = gspace.basespace_action

    def definition(self) -> dict:
        """``name`` and ``gspace`` (escnn gspaces compare by their subgroup id in O(2) or O(3))."""
        return {"name": self.name, "gspace": self.gspace}

    # ----------------------------------------------------------------------------------------
    # elements
    @property
    def is_finite(self) -> bool:
        return not self.escnn_group.continuous

    @property
    def angular_band(self) -> int:
        """For finite groups, the extra angular band (in harmonic degrees) that kernels and analytic
        bases cover beyond the Hom rep's own frequencies: the group order in 2D, 8 in 3D (escnn's
        basis reaches full rank at a generic point from band 4 for the octahedral and 8 for the
        icosahedral group). Zero for continuous groups."""
        if not self.is_finite:
            return 0
        return self.escnn_group.order() if self.n == 2 else 8

    def element_matrix(self, element) -> np.ndarray:
        """The ``(n, n)`` float64 matrix of an escnn element of the fibre group."""
        return np.asarray(self._action(element), dtype=np.float64)

    @cached_property
    def _finite_elements(self) -> tuple[list, torch.Tensor]:
        elements = list(self.escnn_group.elements)
        mats = torch.from_numpy(np.stack([self.element_matrix(e) for e in elements]))
        return elements, mats

    def sample(self, k, generator=None, dtype=torch.float64):
        elements = self._sample_elements(k, generator)
        mats = np.stack([self.element_matrix(e) for e in elements]) if k else np.zeros((0, self.n, self.n))
        return torch.from_numpy(mats).to(dtype)

    def _sample_elements(self, k: int, generator: torch.Generator | None) -> list:
        """``k`` Haar-random escnn elements, drawn with torch's ``generator``."""
        G = self.escnn_group
        if self.is_finite:
            elements, _ = self._finite_elements
            return [elements[int(i)] for i in torch.randint(len(elements), (k,), generator=generator)]
        angles = (2 * math.pi * torch.rand(k, generator=generator, dtype=torch.float64)).tolist()
        flips = torch.randint(2, (k,), generator=generator).tolist()
        if isinstance(G, escnn_group.SO2):
            return [G.element(a, "radians") for a in angles]
        if isinstance(G, escnn_group.O2):
            return [G.element((f, a), "radians") for f, a in zip(flips, angles)]
        quaternions = torch.randn(k, 4, generator=generator, dtype=torch.float64)
        quaternions = (quaternions / quaternions.norm(dim=1, keepdim=True)).numpy()
        if isinstance(G, escnn_group.SO3):
            return [G.element(q, "Q") for q in quaternions]
        if isinstance(G, escnn_group.O3):
            return [G.element((f, q), "Q") for f, q in zip(flips, quaternions)]
        raise NotImplementedError(f"no sampler for escnn group {G.name} ({type(G).__name__})")

    def to_escnn_elements(self, g: torch.Tensor) -> list:
        """escnn elements for a ``(k, n, n)`` batch; ``None`` where a matrix is not in the group."""
        tol = membership_tolerance(g.dtype)
        mats = g.detach().to("cpu", torch.float64)
        if self.is_finite:
            elements, table = self._finite_elements
            dist, idx = (mats[:, None] - table[None]).abs().flatten(2).amax(-1).min(dim=1)
            return [elements[int(i)] if float(d) <= tol else None for d, i in zip(dist, idx)]
        out = []
        for m in mats.numpy():
            element = self._fit_element(m)
            ok = element is not None and np.abs(self.element_matrix(element) - m).max() <= tol
            out.append(element if ok else None)
        return out

    def _fit_element(self, m: np.ndarray):
        """The escnn element whose matrix best matches ``m`` (not yet checked to match)."""
        G = self.escnn_group
        if not np.isfinite(m).all() or np.abs(m @ m.T - np.eye(self.n)).max() > 1e-3:
            return None
        det = np.linalg.det(m)
        if isinstance(G, escnn_group.SO3):
            return G.element(_nearest_rotation(m), "MAT") if det > 0 else None
        if isinstance(G, escnn_group.O3):
            flip = int(det < 0)
            return G.element((flip, _nearest_rotation(m * np.sign(det))), "MAT")
        if isinstance(G, escnn_group.SO2):
            return G.element(self._fit_angle(m, flip=None), "radians")
        if isinstance(G, escnn_group.O2):
            flip = int(det < 0)
            return G.element((flip, self._fit_angle(m, flip=flip)), "radians")
        raise NotImplementedError(f"cannot convert matrices to elements of {G.name}")

    @cached_property
    def _angle_basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For SO(2)/O(2) fibre groups: ``A, B, C, F`` with ``M(theta) = A + B cos + C sin`` the
        matrix of the rotation by ``theta`` and ``F`` the matrix of the flip (identity for SO(2)).

        Valid because the standard rep restricted to SO(2) only holds frequencies 0 and 1."""
        G = self.escnn_group
        rot = (lambda a: G.element(a, "radians")) if isinstance(G, escnn_group.SO2) else (
            lambda a: G.element((0, a), "radians"))
        m0, m_half, m_pi = (self.element_matrix(rot(a)) for a in (0.0, math.pi / 2, math.pi))
        flip = self.element_matrix(G.element((1, 0.0), "radians")) if isinstance(G, escnn_group.O2) else np.eye(self.n)
        return (m0 + m_pi) / 2, (m0 - m_pi) / 2, m_half - (m0 + m_pi) / 2, flip

    def _fit_angle(self, m: np.ndarray, flip: int | None) -> float:
        A, B, C, F = self._angle_basis
        rotation = m @ F.T if flip else m  # escnn composes (flip, theta) as R(theta) F
        cos = np.vdot(rotation - A, B) / np.vdot(B, B)
        sin = np.vdot(rotation - A, C) / np.vdot(C, C)
        return float(np.arctan2(sin, cos) % (2 * np.pi))

    def stabiliser_generators(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lie, discrete)`` generators of ``Stab(x)`` as group elements only (``lie`` is empty:
        escnn reps have no Lie-algebra action here). Finite groups: the elements fixing ``x``.
        Continuous groups: the candidates that fix ``x`` and lie in the group - rotations about
        ``x`` by two incommensurate angles (dense in the rotations about ``x``) and reflections in
        planes containing ``x`` (the one containing the z axis, which the axial groups keep, and a
        generic one)."""
        x = x.to(torch.float64)
        if self.is_finite:
            _, mats = self._finite_elements
            fixing = (mats @ x - x).abs().amax(dim=1) <= 1e-9 * (1 + float(x.abs().max()))
            return torch.zeros(0, self.n, self.n, dtype=torch.float64), mats[fixing]
        u = x / x.norm()
        eye = torch.eye(self.n, dtype=torch.float64)
        if self.n == 2:
            candidates = [2 * torch.outer(u, u) - eye]
        else:
            cross = torch.tensor([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]], dtype=torch.float64)
            candidates = [torch.linalg.matrix_exp(angle * cross) for angle in (1.0, math.sqrt(2.0))]
            for other in (torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), torch.tensor([0.3, -0.8, 0.5])):
                normal = torch.linalg.cross(u, other.to(torch.float64))
                if float(normal.norm()) > 1e-9:
                    normal = normal / normal.norm()
                    candidates.append(eye - 2 * torch.outer(normal, normal))
        candidates = torch.stack(candidates)
        return torch.zeros(0, self.n, self.n, dtype=torch.float64), candidates[self.contains(candidates)]

    def contains(self, g):
        return torch.tensor([e is not None for e in self.to_escnn_elements(g)], dtype=torch.bool)

    # ----------------------------------------------------------------------------------------
    # representations
    def rep(self, parts: escnn_group.Representation | Sequence[escnn_group.Representation]) -> EscnnRep:
        """Wrap an escnn representation of this group's fibre group, or the direct sum of several
        kept as separate summands (the fields of ``field_type()``)."""
        return EscnnRep(self, parts)

    def irrep(self, *irrep_id) -> EscnnRep:
        """The irrep with escnn's id, e.g. ``O(3).irrep(1, 1)`` (the polar vector, "1o")."""
        return self.rep(self.escnn_group.irrep(*irrep_id))

    @cached_property
    def trivial(self) -> EscnnRep:
        return self.rep(self.escnn_group.trivial_representation)

    @cached_property
    def standard(self) -> EscnnRep:
        return self.rep(self._action)

    @cached_property
    def regular(self) -> EscnnRep:
        """The regular representation (finite groups only)."""
        if not self.is_finite:
            raise ValueError(f"{self.name} is not finite: it has no finite-dimensional regular representation")
        return self.rep(self.escnn_group.regular_representation)

    def from_escnn(self, obj) -> EscnnRep:
        """A rep from an escnn ``Representation`` (one summand) or ``FieldType`` (one summand per
        field, so ``G.from_escnn(field_type).field_type() == field_type``) of this group's fibre
        group."""
        parts = getattr(obj, "representations", [obj])
        if not all(isinstance(part, escnn_group.Representation) for part in parts):
            raise TypeError(f"expected an escnn Representation or FieldType, got {type(obj).__name__}")
        for part in parts:
            if part.group != self.escnn_group:
                raise ValueError(
                    f"the escnn type belongs to {part.group.name}, not to {self.name}'s "
                    f"fibre group {self.escnn_group.name}"
                )
        return self.rep(parts)

    def direct_sum(self, reps: Sequence[Rep]) -> EscnnRep:
        """``rho_1 (+) rho_2 (+) ...``, keeping every summand of every ``rho_i`` as a part."""
        for r in reps:
            self.check_same_group(r)
        return self.rep([part for r in reps for part in r.parts])

    def tensor_product(self, a: Rep, b: Rep) -> EscnnRep:
        return self.rep(a.representation.tensor(b.representation))

    def dual(self, rep: Rep) -> EscnnRep:
        """``rho^-T``. escnn irreps are orthogonal, so with an orthogonal change of basis the dual is
        the rep itself; otherwise the change of basis ``Q`` becomes ``Q^-T``."""
        self.check_same_group(rep)
        q = rep.representation.change_of_basis
        if np.allclose(q @ q.T, np.eye(len(q)), atol=1e-12):
            return rep
        dual = escnn_group.Representation(
            self.escnn_group,
            f"{rep.representation.name}_dual",
            [irrep.id for irrep in rep.irreps],
            change_of_basis=np.linalg.inv(q).T,
        )
        return self.rep(dual)

    def solve_intertwiners(self, rep_in: Rep, rep_out: Rep) -> torch.Tensor:
        """Schur's lemma in escnn's irrep bases: a map is equivariant iff it maps copy ``i`` of an
        irrep ``psi`` in ``rep_in`` to copy ``j`` of the same irrep in ``rep_out`` by an element of
        ``End_G(psi)`` (escnn's endomorphism basis: 1, 2 or 4 matrices for real, complex and
        quaternionic type) and every other pair of irreps by zero; then
        ``W = Q_out W_irreps Q_in^-1``."""
        outs, ins = rep_out.irreps, rep_in.irreps
        out_starts = np.cumsum([0] + [psi.size for psi in outs])
        in_starts = np.cumsum([0] + [psi.size for psi in ins])
        blocks = []
        for j, psi in enumerate(outs):
            for i, phi in enumerate(ins):
                if psi.id != phi.id:
                    continue
                for endo in np.asarray(psi.endomorphism_basis(), dtype=np.float64):
                    w = np.zeros((rep_out.size, rep_in.size))
                    w[out_starts[j] : out_starts[j + 1], in_starts[i] : in_starts[i + 1]] = endo
                    blocks.append(w)
        if not blocks:
            return torch.zeros(0, rep_out.size, rep_in.size, dtype=torch.float64)
        basis = rep_out.change_of_basis @ np.stack(blocks) @ np.linalg.inv(rep_in.change_of_basis)
        return torch.from_numpy(basis)

    # ----------------------------------------------------------------------------------------
    def kernel_network(self, rep_in, rep_out, attr=None, **options) -> KernelNetwork:
        """See :class:`groups.compact.network.CompactKernelNetwork` for the options."""
        from groups.compact.network import CompactKernelNetwork

        for r in (rep_in, rep_out) + ((attr,) if attr is not None else ()):
            self.check_same_group(r)
        return CompactKernelNetwork(self, rep_in, rep_out, attr, **options)


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    """The rotation closest to ``m`` (polar decomposition), so escnn's strict checks pass."""
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r
