"""The matrix-group kernel network: exact equivariance, completeness for every built-in group,
cross-checks with escnn's analytic bases and agreement of the three families on O(3)."""

import pytest
import torch
from conftest import MATRIX_GROUPS, matrix_reps, tolerance_for

from groups import get_group
from groups.solver import equivariant_maps
from implicit_kernels import ImplicitKernel
from implicit_kernels.analytic import analytic_basis, implicit_rank, matrix_rank, span_residual, stabiliser_hom_dim
from implicit_kernels.equivariance import assert_equivariant


def test_kernel_constraint(matrix_group):
    assert_equivariant(ImplicitKernel(*matrix_reps(matrix_group)), tolerance_for(matrix_group), n_samples=32)


@pytest.mark.parametrize("name", MATRIX_GROUPS)
def test_default_kernel_is_complete(name):
    G = get_group(name)
    rep_in, rep_out = matrix_reps(G)
    x = torch.randn(G.n, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    kernel = ImplicitKernel(rep_in, rep_out)
    assert implicit_rank(kernel, x) == stabiliser_hom_dim(rep_in, rep_out, x) > 0


@pytest.mark.parametrize("name", ["O(3)-mat", "SO+(1,3)-mat", "SO(4)-mat", "C4-mat"])
def test_no_kept_covariant_is_redundant(name):
    """The network keeps exactly dim Hom_Stab(x) polynomial maps in all, and each block's values at
    a fresh point are independent: no map is a combination of the others with invariant
    coefficients (which the MLP already gives)."""
    G = get_group(name)
    rep_in, rep_out = matrix_reps(G)
    network = ImplicitKernel(rep_in, rep_out).network.double()
    x = torch.randn(G.n, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    total = 0
    for index in range(len(network.block_degrees)):
        maps = network._block_maps(index, x)
        values = torch.cat([m @ power.monomials(x) for m, power in zip(maps, network.powers)])
        assert matrix_rank(values) == len(values)
        total += len(values)
    assert total == stabiliser_hom_dim(rep_in, rep_out, x) > 0


def test_attributes_enter_equivariantly():
    G = get_group("SO+(1,3)-mat")
    kernel = ImplicitKernel(G.standard, G.trivial + G.standard, attr=G.trivial + G.standard)
    assert_equivariant(kernel, tolerance_for(G), n_samples=16)


@pytest.mark.parametrize("name", ["O(2)-mat", "SO(2)-mat", "O(3)-mat", "SO(3)-mat", "C4-mat", "D4-mat"])
def test_kernels_lie_in_the_span_of_escnn_basis(name):
    G = get_group(name)
    rep_in, rep_out = G.trivial + G.standard, G.standard + G.T(2, 0)
    kernel = ImplicitKernel(rep_in, rep_out).double()
    x = torch.randn(10, G.n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    basis = analytic_basis(rep_in, rep_out, x)
    with torch.no_grad():
        assert span_residual(kernel(x), basis) <= 1e-6
    assert implicit_rank(kernel, x[0]) == matrix_rank(basis[0]) == stabiliser_hom_dim(rep_in, rep_out, x[0])


def test_three_families_agree_on_o3():
    """escnn-backed O(3), Clifford O(3,0) and matrix O(3)-mat: dim Hom_Stab(x) for the shared reps
    scalar + vector -> vector + scalar, from escnn's basis, the Clifford stabiliser and the matrix one."""
    x = torch.tensor([0.3, -1.1, 0.7], dtype=torch.float64)
    compact, clifford, matrix = get_group("O(3)"), get_group("O(3,0)"), get_group("O(3)-mat")
    ranks = {
        "escnn": matrix_rank(analytic_basis(compact.trivial + compact.standard, compact.standard + compact.trivial,
                                            x[None])[0]),
        "clifford": stabiliser_hom_dim(clifford.grade(0) + clifford.grade(1), clifford.grade(1) + clifford.grade(0), x),
        "matrix": stabiliser_hom_dim(matrix.trivial + matrix.standard, matrix.standard + matrix.trivial, x),
    }
    # under Stab(x) = O(2) both sides are 2 trivial + the O(2) vector: 2 x 2 + 1 = 5 maps
    assert set(ranks.values()) == {5}, ranks


MINKOWSKI = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64))
# Stab(x) for generic x, from the structure of each group rather than from its membership test:
# SO(n) -> SO(n-1) and SO+(1,3) -> SO(3) (x time-like) or SO+(1,2) (x space-like) are connected;
# O(n) -> O(n-1) has a second component (a reflection in x^perp); O(1,3) -> O(3) (x time-like)
# has two, reached by a reflection in a space-like vector of x^perp, and O(1,2) (x space-like)
# four, reached by reflections in a space-like and a time-like vector of x^perp.
STABILISERS = {
    "SO(3)-mat": ((0.3, -1.1, 0.7), ()),
    "O(3)-mat": ((0.3, -1.1, 0.7), (+1,)),
    "SO(4)-mat": ((0.3, -1.1, 0.7, 0.4), ()),
    "O(4)-mat": ((0.3, -1.1, 0.7, 0.4), (+1,)),
    "SO+(1,3)-mat": ((2.0, 0.3, -0.5, 0.4), ()),
    "SO+(1,3)-mat space-like": ((0.3, 1.2, -0.7, 0.5), ()),
    "O(1,3)-mat": ((2.0, 0.3, -0.5, 0.4), (-1,)),
    "O(1,3)-mat space-like": ((0.3, 1.2, -0.7, 0.5), (-1, +1)),
}


def independent_stabiliser(x: torch.Tensor, metric: torch.Tensor, reflection_signs: tuple[int, ...]):
    """Generators of the stabiliser of ``x`` built from scratch: the rotations ``u v^T M - v u^T M`` of
    an M-orthonormal basis of ``x^perp`` (the whole Lie algebra of ``Stab(x)``) and one reflection in
    a basis vector ``u`` of ``x^perp`` per sign of ``u^T M u`` in ``reflection_signs`` (for
    (+,-,-,-), space-like vectors have ``u^T M u < 0``)."""
    n = len(x)
    basis = []
    for k in range(n):  # M-Gram-Schmidt of e_k projected onto x^perp
        v = torch.eye(n, dtype=torch.float64)[k]
        v = v - (v @ metric @ x) / (x @ metric @ x) * x
        for u in basis:
            v = v - (v @ metric @ u) / (u @ metric @ u) * u
        if float(v.norm()) > 1e-8:
            basis.append(v / abs(float(v @ metric @ v)) ** 0.5)
    assert len(basis) == n - 1
    lie = torch.stack([torch.outer(u, metric @ v) - torch.outer(v, metric @ u)
                       for i, u in enumerate(basis) for v in basis[i + 1 :]])
    discrete = []
    for sign in reflection_signs:
        u = next(u for u in basis if sign * float(u @ metric @ u) > 0)
        discrete.append(torch.eye(n, dtype=torch.float64) - 2 * torch.outer(u, metric @ u) / (u @ metric @ u))
    return lie, torch.stack(discrete) if discrete else torch.zeros(0, n, n, dtype=torch.float64)


@pytest.mark.parametrize("case", STABILISERS)
def test_kernel_rank_meets_an_independent_stabiliser(case):
    """The kernel's rank at x against dim Hom_Stab(x) solved from stabiliser generators built in this
    test, not by the group's stabiliser code, which the network's degree choice relies on."""
    G = get_group(case.split()[0])
    point, signs = STABILISERS[case]
    x = torch.tensor(point, dtype=torch.float64)
    metric = MINKOWSKI if G.n == 4 and "1,3" in G.name else torch.eye(G.n, dtype=torch.float64)
    lie, discrete = independent_stabiliser(x, metric, signs)
    assert torch.allclose(lie @ x, torch.zeros(len(lie), G.n, dtype=torch.float64), atol=1e-12)
    assert bool(G.contains(discrete).all()) and bool(G.contains(torch.linalg.matrix_exp(lie)).all())
    rep_in, rep_out = matrix_reps(G)
    expected = len(equivariant_maps(rep_in, rep_out, lie, discrete))
    assert implicit_rank(ImplicitKernel(rep_in, rep_out), x) == expected
    assert stabiliser_hom_dim(rep_in, rep_out, x) == expected


@pytest.mark.parametrize("name", ["O(3)-mat", "SO+(1,3)-mat"])
def test_linear_head_form_is_the_kernel(name, generator):
    """The matrix kernel network as a linear head over features: ``head() @ features(x, a)`` is
    its kernel, and ``head_map`` (block by block) is the dense head applied to neighbour sums,
    with attributes in the kernel."""
    G = get_group(name)
    rep_in, rep_out = matrix_reps(G)
    network = ImplicitKernel(rep_in, rep_out, attr=G.standard).network.double()
    x = torch.randn(6, G.n, generator=generator, dtype=torch.float64)
    a = torch.randn(6, G.standard.size, generator=generator, dtype=torch.float64)
    dense = (network.features(x, a) @ network.head().T).unflatten(-1, (rep_out.size, rep_in.size))
    assert (dense - network(x, a)).abs().max() <= 1e-12 * network(x, a).abs().max()
    phi = torch.randn(4, 5, network.feature_size, generator=generator, dtype=torch.float64)
    v = torch.randn(4, 5, rep_in.size, generator=generator, dtype=torch.float64)
    head = network.head().reshape(rep_out.size, rep_in.size, -1)
    expected = torch.einsum("nfi,oif->no", phi.transpose(1, 2) @ v, head)
    assert (network.head_map(phi)(phi, v) - expected).abs().max() <= 1e-12 * expected.abs().max()
