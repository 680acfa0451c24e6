"""The families the nn tests run on: one rep per family, chosen so that a wrong inverse, transpose
or sign cannot hide (non-orthogonal reps, duals, groups without -I, boosts), and a family defined
here from scratch through the Group/Rep interface only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from escnn.group import Representation

from groups import Group, Rep, get_group
from groups.derived_reps import DerivedRepAlgebra, DirectSumRep


class ConjugatedPermutationRep(Rep):
    """``rho(g) = A P(g) A^-1`` for the permutation matrices ``P(g)`` of :class:`CyclicShift` and a
    fixed non-orthogonal ``A``; ``A = I`` gives the group's own matrices."""

    def __init__(self, group: CyclicShift, twist: torch.Tensor):
        self.group, self.twist = group, twist

    @property
    def size(self) -> int:
        return len(self.twist)

    def matrices(self, g):
        twist = self.twist.to(g.dtype)
        return twist @ g @ torch.linalg.inv(twist)

    def invariant_basis(self):
        return self.twist @ torch.ones(3, 1, dtype=torch.float64) / 3**0.5

    def __eq__(self, other) -> bool:
        return isinstance(other, ConjugatedPermutationRep) and torch.equal(other.twist, self.twist)

    __hash__ = None


class TrivialRep(Rep):
    def __init__(self, group: CyclicShift):
        self.group = group

    size = 1

    def matrices(self, g):
        return g.new_ones(g.shape[0], 1, 1)

    def invariant_basis(self):
        return torch.ones(1, 1, dtype=torch.float64)

    def __eq__(self, other) -> bool:
        return isinstance(other, TrivialRep)

    __hash__ = None


class CyclicShift(DerivedRepAlgebra, Group):
    """The cyclic group of order 3 permuting the axes of R^3, written as a new family: it knows
    nothing of the library's families and gives only what the base classes ask for (its
    intertwiners come from the default solver, its reps are not decomposed)."""

    name, n = "CyclicShift", 3

    def __init__(self):
        shift = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
        self.elements = torch.stack([torch.eye(3, dtype=torch.float64), shift, shift @ shift])

    def sample(self, k, generator=None, dtype=torch.float64):
        return self.elements[torch.randint(3, (k,), generator=generator)].to(dtype)

    def contains(self, g):
        return (g.to(torch.float64)[:, None] - self.elements[None]).abs().amax(dim=(-1, -2)).amin(dim=1) < 1e-6

    def generators(self):
        return torch.zeros(0, 3, 3, dtype=torch.float64), self.elements[1:2]

    @property
    def trivial(self):
        return TrivialRep(self)

    @property
    def standard(self):
        return ConjugatedPermutationRep(self, torch.eye(3, dtype=torch.float64))

    def twisted(self, seed: int) -> ConjugatedPermutationRep:
        twist = torch.eye(3, dtype=torch.float64) + 0.5 * torch.randn(
            3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
        )
        return ConjugatedPermutationRep(self, twist)

    def direct_sum(self, reps):
        return DirectSumRep([p for r in reps for p in (r.parts if isinstance(r, DirectSumRep) else (r,))])

    def kernel_network(self, rep_in, rep_out, attr=None, **options):
        raise NotImplementedError("CyclicShift only tests the nn modules")


def skewed(G: Group, rep: Rep, seed: int) -> Rep:
    """``rep`` of an escnn-backed group in a random non-orthogonal basis, through ``G.from_escnn``."""
    rng = np.random.default_rng(seed)
    q = np.eye(rep.size) + 0.4 * rng.standard_normal((rep.size, rep.size))
    representation = Representation(
        G.escnn_group, f"skewed_{seed}_{rep.size}", [irrep.id for irrep in rep.irreps],
        change_of_basis=q @ rep.change_of_basis,
    )
    return G.from_escnn(representation)


@dataclass(frozen=True)
class Family:
    """A group, a rep for the modules and how to draw test elements."""

    name: str
    build: Callable[[], tuple[Group, Rep]]
    boosts: str | None = None
    tolerance: dict[torch.dtype, float] | None = None

    def elements(self, G: Group, k: int = 6, seed: int = 0) -> torch.Tensor:
        """``k`` elements; for Lorentz groups Clifford-sampled ones (all components, boosts of
        rapidity up to 2) that lie in ``G``."""
        generator = torch.Generator().manual_seed(seed)
        if self.boosts is None:
            return G.sample(k, generator=generator)
        candidates = get_group(self.boosts).sample(8 * k, generator=generator, max_rapidity=2.0)
        return candidates[G.contains(candidates)][:k]


def _compact(name: str, extra: Callable[[Group], Rep]) -> Callable[[], tuple[Group, Rep]]:
    def build():
        G = get_group(name)
        return G, G.standard + 2 * G.trivial + extra(G)
    return build


def _skewed_o3():
    G = get_group("O(3)")
    return G, skewed(G, G.standard + G.trivial + G.irrep(0, 2), seed=3) + G.standard


def _clifford(name: str):
    def build():
        G = get_group(name)
        return G, G.multivector + G.grade(1) + G.trivial
    return build


def _matrix(name: str, extra: Callable[[Group], Rep]):
    def build():
        G = get_group(name)
        return G, G.standard + G.trivial + extra(G)
    return build


def _user():
    G = CyclicShift()
    return G, G.twisted(1) + G.trivial + G.twisted(1) + G.standard.dual()


TENSOR_BOOSTS = {torch.float64: 1e-10, torch.float32: 2e-4}
"""Lorentz (1,1)-tensors under boosts of rapidity 2 carry entries up to cosh(2)^2 ~ 14 in
``rho(g)``: float32 inputs moved by them lose about that factor in digits, and quadratic invariants
(sums of products of such components that cancel to an invariant) lose its square. Measured for
the nonlinear modules: 2e-5 to 4.4e-5 (float32), 1e-12 (float64); linear ones stay below 1e-6."""

SKEWED = {torch.float64: 1e-10, torch.float32: 1e-4}
"""The skewed O(3) rep's change of basis ``Q = I + 0.4 N(0, 1)`` amplifies float32 rounding by its
condition number: a network of four modules with random parameters measured 1.7e-5 (float32) and
below 1e-14 (float64); single modules stay below 1e-5."""

FAMILIES = [
    Family("O(3)", _compact("O(3)", lambda G: G.irrep(0, 2))),
    Family("SO(2)", _compact("SO(2)", lambda G: G.irrep(3))),
    Family("D4", _compact("D4", lambda G: G.irrep(1, 2))),
    Family("Ico", _compact("Ico", lambda G: G.standard.tensor(G.standard))),
    Family("O(3)-skewed", _skewed_o3, tolerance=SKEWED),
    Family("O(3,0)", _clifford("O(3,0)")),
    Family("O(1,3)", _clifford("O(1,3)"), boosts="O(1,3)"),
    Family("O(2,1)", _clifford("O(2,1)"), boosts="O(2,1)"),
    Family("O(1,3)-mat", _matrix("O(1,3)-mat", lambda G: G.T(1, 1)), boosts="O(1,3)", tolerance=TENSOR_BOOSTS),
    Family("SO+(1,3)-mat", _matrix("SO+(1,3)-mat", lambda G: G.T(0, 1)), boosts="O(1,3)"),
    Family("SO(3)-mat", _matrix("SO(3)-mat", lambda G: G.T(2, 0))),
    Family("C3z-mat", _matrix("C3z-mat", lambda G: G.T(1, 1))),
    Family("user", _user),
]
