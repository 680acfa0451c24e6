"""The pseudo-orthogonal groups O(p, q) acting on ``R^{p,q}``, with their multivector reps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property

import torch

from groups.base import Group, Rep
from groups.clifford.algebra import CliffordAlgebra
from groups.clifford.factored import FactoredCliffordKernelNetwork, spans_vector_subalgebra
from groups.clifford.network import CliffordKernelNetwork
from groups.clifford.rep import CliffordRep
from groups.derived_reps import DerivedRepAlgebra, DirectSumRep, TensorProductRep, block_diagonal
from groups.kernel_network import KernelNetwork
from groups.registry import get_group
from groups.solver import equivariant_maps

# the multivector grades of Cl(n, 0) as escnn irreps of O(n) (ids of escnn's O(2) and O(3))
_ESCNN_GRADE_IRREPS = {
    2: {0: (0, 0), 1: (1, 1), 2: (1, 0)},
    3: {0: (0, 0), 1: (1, 1), 2: (0, 1), 3: (1, 0)},
}


def _haar_orthogonal(k: int, m: int, generator: torch.Generator | None) -> torch.Tensor:
    """``k`` Haar-random elements of O(m) (both components), float64 ``(k, m, m)``."""
    if m == 0:
        return torch.zeros(k, 0, 0, dtype=torch.float64)
    z = torch.randn(k, m, m, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(z)
    return Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))[:, None, :]


class PseudoOrthogonalGroup(DerivedRepAlgebra, Group):
    """``O(p, q) = {g : g^T eta g = eta}``, ``eta = diag(+1 x p, -1 x q)``, acting on ``R^{p,q}``.

    Its reps are fields of the Clifford algebra Cl(p, q) (:class:`CliffordRep`): ``G.multivector``,
    ``G.grade(k)``, ``G.grades(...)``, with ``G.trivial = G.grade(0)`` and
    ``G.standard = G.grade(1)``; tensor products and duals are generic (and not accepted by the
    kernel network). The group is non-compact when ``p, q > 0``: there is no Haar sampling and the
    invariant ``q(x) = <x, x>`` is indefinite.

    Args:
        p, q: signature, ``2 <= p + q <= 6``.
        max_rapidity: default bound on the boost rapidities drawn by :meth:`sample`.
    """

    def __init__(self, p: int, q: int, max_rapidity: float = 1.0):
        if p < 0 or q < 0 or not 2 <= p + q <= CliffordAlgebra.max_dimension:
            raise ValueError(f"O(p, q) is provided for p, q >= 0 and 2 <= p + q <= 6, got ({p}, {q})")
        self.p, self.q, self.n = p, q, p + q
        self.name = f"O({p},{q})"
        self.algebra = CliffordAlgebra(p, q)
        self.eta = torch.diag(self.algebra.metric)
        self.max_rapidity = float(max_rapidity)

    def definition(self) -> dict:
        """The signature and the sampler's default rapidity bound."""
        return {"p": self.p, "q": self.q, "max_rapidity": self.max_rapidity}

    # ----------------------------------------------------------------------------------------
    # elements
    def sample(self, k, generator=None, dtype=torch.float64, max_rapidity: float | None = None):
        """``k`` elements ``K_1 B K_2``: ``K_i`` Haar-random in ``O(p) x O(q)`` (so every
        component, reflections included, is reached) and ``B`` a boost with rapidities uniform in
        ``[-max_rapidity, max_rapidity]`` in the planes ``(e_i, e_{p+i})``, ``i < min(p, q)``
        (Cartan's ``KAK`` decomposition). Not an invariant measure: none exists for ``p, q > 0``."""
        bound = self.max_rapidity if max_rapidity is None else float(max_rapidity)

        def compact_part() -> torch.Tensor:
            return block_diagonal([_haar_orthogonal(k, self.p, generator), _haar_orthogonal(k, self.q, generator)])

        k1, k2 = compact_part(), compact_part()
        boost = torch.eye(self.n, dtype=torch.float64).repeat(k, 1, 1)
        for i in range(min(self.p, self.q)):
            t = bound * (2 * torch.rand(k, generator=generator, dtype=torch.float64) - 1)
            a, b = i, self.p + i
            boost[:, a, a] = boost[:, b, b] = torch.cosh(t)
            boost[:, a, b] = boost[:, b, a] = torch.sinh(t)
        return (k1 @ boost @ k2).to(dtype)

    def contains(self, g):
        eta = self.eta.to(device=g.device, dtype=g.dtype)
        deviation = (g.transpose(-1, -2) @ eta @ g - eta).abs().amax(dim=(-1, -2))
        scale = 1 + g.abs().amax(dim=(-1, -2)) ** 2
        tol = 1e-9 if g.dtype == torch.float64 else 2e-5
        return deviation <= tol * scale

    def lie_algebra(self) -> torch.Tensor:
        """Basis ``(n(n-1)/2, n, n)`` of ``o(p, q)``: ``A_ij = e_i e_j^T eta - e_j e_i^T eta``."""
        e = torch.eye(self.n, dtype=torch.float64)
        pairs = [(i, j) for i in range(self.n) for j in range(i + 1, self.n)]
        return torch.stack([self._rotation_generator(e[i], e[j]) for i, j in pairs])

    def _rotation_generator(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``w -> u <v, w> - v <u, w>``: an element of ``o(p, q)`` that fixes ``{u, v}^perp``."""
        return torch.outer(u, self.eta @ v) - torch.outer(v, self.eta @ u)

    def _reflection(self, u: torch.Tensor) -> torch.Tensor:
        """``w -> w - 2 u <u, w> / <u, u>`` for a non-null ``u``."""
        return torch.eye(self.n, dtype=torch.float64) - 2 * torch.outer(u, self.eta @ u) / (u @ self.eta @ u)

    def generators(self):
        """``o(p, q)`` and the reflections in ``e_1`` and ``e_{p+1}`` (one per metric sign): the
        Lie algebra generates the identity component and the reflections its four components."""
        e = torch.eye(self.n, dtype=torch.float64)
        reflections = [self._reflection(e[i]) for i in sorted({0, self.p} - {self.n})]
        return self.lie_algebra(), torch.stack(reflections)

    def stabiliser_generators(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generators ``(lie, discrete)`` of ``Stab(x) = O(x^perp)`` for a non-null ``x`` ``(n,)``:
        the rotations of ``x^perp`` (pairs of an eta-orthogonal basis of it) and the reflections
        in one positive and one negative vector of ``x^perp`` where they exist."""
        x = x.to(torch.float64)
        q = float(x @ self.eta @ x)
        if abs(q) <= 1e-9 * float(x @ x):
            raise ValueError(f"the stabiliser generators need a non-null x, got q(x) = {q:.3g}")
        complement = torch.linalg.svd((self.eta @ x)[None, :], full_matrices=True)[2][1:]  # rows span x^perp
        signs, rotation = torch.linalg.eigh(complement @ self.eta @ complement.T)
        basis = rotation.T @ complement  # eta-orthogonal basis of x^perp, signs of <u, u> in `signs`
        pairs = [(i, j) for i in range(len(basis)) for j in range(i + 1, len(basis))]
        lie = [self._rotation_generator(basis[i], basis[j]) for i, j in pairs]
        discrete = [self._reflection(basis[int(i)]) for i in {int(signs.argmax()), int(signs.argmin())}]
        lie = torch.stack(lie) if lie else torch.zeros(0, self.n, self.n, dtype=torch.float64)
        return lie, torch.stack(discrete)

    @property
    def time_axes(self) -> tuple[int, ...]:
        """The axes of the minority metric sign (the ``p`` positive ones on a tie): ``(0,)`` for
        Minkowski (+,-,-,-) = O(1,3), ``(3,)`` for (+,+,+,-) = O(3,1), none for O(n,0)."""
        if self.q == 0:
            return ()
        return tuple(range(self.p)) if self.p <= self.q else tuple(range(self.p, self.n))

    # ----------------------------------------------------------------------------------------
    # representations
    def grades(self, *grades: int) -> CliffordRep:
        """One field holding the given grades."""
        return CliffordRep(self, (tuple(sorted(grades)),))

    def grade(self, k: int) -> CliffordRep:
        """The ``k``-vectors, ``Lambda^k R^{p,q}`` (``C(n, k)`` components)."""
        return self.grades(k)

    @cached_property
    def multivector(self) -> CliffordRep:
        """The whole algebra Cl(p, q) (``2^n`` components)."""
        return self.grades(*range(self.n + 1))

    @property
    def trivial(self) -> CliffordRep:
        return self.grade(0)

    @property
    def standard(self) -> CliffordRep:
        return self.grade(1)

    def direct_sum(self, reps: Sequence[Rep]) -> Rep:
        if all(isinstance(r, CliffordRep) for r in reps):
            return CliffordRep(self, tuple(f for r in reps for f in r.fields))
        return DirectSumRep(reps)

    def invariant_norm2(self, x):
        """``|q(x)| = |<x, x>|``: invariant and non-negative, but zero on the whole light cone
        (``p, q > 0``), so a shell ``exp(-|q| / 2 sigma^2)`` does not decay along null directions;
        the kernel's support there is bounded only by the grid or the graph."""
        return (x * x * self.algebra.metric.to(device=x.device, dtype=x.dtype)).sum(-1).abs()

    # ----------------------------------------------------------------------------------------
    # escnn counterpart (Euclidean signatures in 2D and 3D)
    def escnn_equivalent(self, rep: CliffordRep):
        """For O(2, 0) and O(3, 0): the same rep as an escnn rep of the compact ``O(n)``, with the
        change of basis ``Q`` (float64) such that ``rep(g) = Q escnn_rep(g) Q^-1`` for every ``g``
        (both groups act on ``R^n`` by the same matrices). ``Q`` is orthogonal: each grade is one
        escnn irrep and its intertwiner is solved numerically and normalised."""
        if self.q != 0 or self.n not in _ESCNN_GRADE_IRREPS:
            raise ValueError(f"escnn covers O(2) and O(3) only, not {self.name}")
        compact = get_group(f"O({self.n})")
        grade_irreps = _ESCNN_GRADE_IRREPS[self.n]
        blocks, escnn_parts = [], []
        samples = torch.cat([self.sample(4, generator=torch.Generator().manual_seed(0)), self.generators()[1]])
        for field in rep.fields:
            for k in field:
                irrep = compact.irrep(*grade_irreps[k])
                grade = self.grade(k)
                solution = equivariant_maps(irrep, grade, torch.zeros(0, self.n, self.n), samples)
                if len(solution) != 1:
                    raise RuntimeError(f"grade {k} of {self.name} did not match escnn's irrep {grade_irreps[k]}")
                q = solution[0]
                blocks.append(q * math.sqrt(grade.size) / q.norm())
                escnn_parts.append(irrep)
        return compact.direct_sum(escnn_parts), torch.block_diag(*blocks)

    # ----------------------------------------------------------------------------------------
    def solve_intertwiners(self, rep_in: Rep, rep_out: Rep) -> torch.Tensor:
        """Closed forms where the reps are single grades: ``Hom(Lambda^j, Lambda^k)`` is ``I`` for
        ``j = k`` and zero otherwise (``Lambda^k`` and ``Lambda^(n-k)`` differ by the determinant),
        and the equivariant bilinear maps ``Lambda^i x Lambda^j -> Lambda^k`` (``rep_in`` the tensor
        product of two grades) are the multiples of the geometric product's grade projection
        ``<a b>_k``, zero where it vanishes. The tests compare both with the dimensions solved from
        sampled group elements. Other reps go to the generic solver."""
        k = _single_grade(rep_out)
        if k is not None:
            j = _single_grade(rep_in)
            if j is not None:
                return (torch.eye(rep_in.size, dtype=torch.float64)[None] if j == k
                        else torch.zeros(0, rep_out.size, rep_in.size, dtype=torch.float64))
            if isinstance(rep_in, TensorProductRep):
                i, j = _single_grade(rep_in.a), _single_grade(rep_in.b)
                if i is not None and j is not None:
                    return self._product_projection(i, j, k)
        return super().solve_intertwiners(rep_in, rep_out)

    def _product_projection(self, i: int, j: int, k: int) -> torch.Tensor:
        """``(1, C(n,k), C(n,i) C(n,j))`` matrix of ``a (x) b -> <a b>_k`` on grades ``i, j``, or an
        empty basis when the projection vanishes."""
        a, b, c = (self.algebra.grade_indices(g) for g in (i, j, k))
        table = self.algebra.cayley[a][:, b][:, :, c]  # (d_i, d_j, d_k)
        if not bool(table.any()):
            return torch.zeros(0, len(c), len(a) * len(b), dtype=torch.float64)
        return table.permute(2, 0, 1).reshape(1, len(c), -1)

    def kernel_network(self, rep_in, rep_out, attr=None, **options) -> KernelNetwork:
        """:class:`FactoredCliffordKernelNetwork` when the attributes are absent or scalars (point
        layers then sum features over neighbours), :class:`CliffordKernelNetwork` otherwise."""
        network = FactoredCliffordKernelNetwork if spans_vector_subalgebra(attr) else CliffordKernelNetwork
        return network(self, rep_in, rep_out, attr, **options)


def _single_grade(rep: Rep) -> int | None:
    """``k`` when ``rep`` is the single grade ``Lambda^k`` of a Clifford group, else ``None``."""
    if isinstance(rep, CliffordRep) and len(rep.fields) == 1 and len(rep.fields[0]) == 1:
        return rep.fields[0][0]
    return None

