"""Cl(p, q) and O(p, q): algebra identities, the exterior-power action, sampling, membership,
generators, reps and the escnn counterpart of the Euclidean signatures."""

import itertools

import pytest
import torch

from groups import get_group, list_groups
from groups.clifford import CliffordAlgebra
from implicit_kernels.equivariance import TOLERANCE, relative_error

SIGNATURES = [(2, 0), (0, 2), (1, 1), (3, 0), (1, 2), (2, 1), (1, 3), (3, 1), (2, 2), (4, 2), (3, 3)]


@pytest.fixture(params=SIGNATURES, ids=lambda s: f"Cl{s}")
def algebra(request):
    return CliffordAlgebra(*request.param)


def random_multivectors(algebra, count, generator):
    return torch.randn(count, algebra.dim, generator=generator, dtype=torch.float64)


def test_short_lex_blade_order():
    algebra = CliffordAlgebra(3, 0)
    names = [algebra.blade_name(i) for i in range(algebra.dim)]
    assert names == ["1", "e1", "e2", "e3", "e12", "e13", "e23", "e123"]
    assert algebra.grades.tolist() == [0, 1, 1, 1, 2, 2, 2, 3]


def test_product_is_associative(algebra, generator):
    x, y, z = random_multivectors(algebra, 3, generator)
    gp = algebra.geometric_product
    assert torch.allclose(gp(gp(x, y), z), gp(x, gp(y, z)), atol=1e-12)


def test_basis_vectors_square_to_the_metric_and_anticommute(algebra):
    e = torch.eye(algebra.dim, dtype=torch.float64)[1 : 1 + algebra.n]
    gp = algebra.geometric_product
    for i, j in itertools.product(range(algebra.n), repeat=2):
        if i == j:
            expected = torch.zeros(algebra.dim, dtype=torch.float64)
            expected[0] = algebra.metric[i]
            assert torch.equal(gp(e[i], e[i]), expected)
        else:
            assert torch.equal(gp(e[i], e[j]), -gp(e[j], e[i]))


def test_reversion_reverses_products_and_grades_partition(algebra, generator):
    x, y = random_multivectors(algebra, 2, generator)
    gp, rev = algebra.geometric_product, algebra.reverse
    assert torch.allclose(rev(gp(x, y)), gp(rev(y), rev(x)), atol=1e-12)
    parts = sum(algebra.grade_projection(x, k) for k in range(algebra.n + 1))
    assert torch.equal(parts, x)


def test_reversion_reverses_the_factors_of_every_blade(algebra):
    """``~(e_i1 e_i2 ... e_ik) = e_ik ... e_i2 e_i1``, built from products of basis vectors; this
    fixes vectors, which tells reversion apart from Clifford conjugation (also an anti-automorphism)."""
    basis = torch.eye(algebra.dim, dtype=torch.float64)
    vectors = basis[1 : 1 + algebra.n]
    for index, blade in enumerate(algebra.blades):
        factors = [vectors[j] for j in range(algebra.n) if blade >> j & 1]
        reversed_product = basis[0]
        for factor in factors:  # prepend each factor: e_ik ... e_i1
            reversed_product = algebra.geometric_product(factor, reversed_product)
        assert torch.equal(algebra.reverse(basis[index]), reversed_product), algebra.blade_name(index)


def test_left_multiplication_matrix_is_the_product(algebra, generator):
    x, y = random_multivectors(algebra, 2, generator)
    assert torch.allclose(algebra.left_multiplication(x) @ y, algebra.geometric_product(x, y), atol=1e-12)


def group_of(algebra):
    return get_group(f"O({algebra.p},{algebra.q})")


def test_action_is_a_homomorphism_and_an_algebra_automorphism(algebra, generator):
    G = group_of(algebra)
    g, h = G.sample(2, generator=generator, max_rapidity=1.5)
    x, y = random_multivectors(algebra, 2, generator)
    rho = algebra.action
    assert torch.allclose(rho(g @ h), rho(g) @ rho(h), atol=1e-10)
    moved_product = algebra.geometric_product(rho(g) @ x, rho(g) @ y)
    assert relative_error(rho(g) @ algebra.geometric_product(x, y), moved_product) <= TOLERANCE[torch.float64]
    assert torch.allclose(algebra.exterior_power(g, 1), g)


def test_quadratic_form_is_invariant_per_grade(algebra, generator):
    G = group_of(algebra)
    g = G.sample(1, generator=generator, max_rapidity=1.5)[0]
    x = random_multivectors(algebra, 1, generator)[0]
    q = algebra.quadratic_form(x)
    assert torch.allclose(algebra.quadratic_form(algebra.action(g) @ x), q, rtol=1e-9, atol=1e-9)
    v = x[1 : 1 + algebra.n]
    assert torch.allclose(q[1], (v * v * algebra.metric).sum())
    product = algebra.geometric_product(algebra.reverse(algebra.grade_projection(x, 2)), algebra.grade_projection(x, 2))
    assert torch.allclose(q[2], product[0])


def test_derivation_exponentiates_to_the_action(algebra, generator):
    G = group_of(algebra)
    lie = G.lie_algebra()
    A = torch.einsum("k,kij->ij", torch.randn(len(lie), generator=generator, dtype=torch.float64), lie)
    expected = algebra.action(torch.linalg.matrix_exp(A))
    assert torch.allclose(torch.linalg.matrix_exp(algebra.derivation(A)), expected, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# the groups


def test_every_signature_up_to_six_is_registered():
    assert "O(p,q)" in list_groups()
    for p in range(7):
        for q in range(7 - p):
            if p + q >= 2:
                G = get_group(f"O({p},{q})")
                assert (G.p, G.q, G.n, G.name) == (p, q, p + q, f"O({p},{q})")
    for name in ("O(4,3)", "O(1,0)"):
        with pytest.raises(KeyError, match="2 <= p \\+ q <= 6"):
            get_group(name)


@pytest.mark.parametrize("signature", [(3, 0), (1, 3), (2, 2), (2, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_samples_lie_in_the_group_and_reach_every_component(signature, dtype, generator):
    G = get_group("O({},{})".format(*signature))
    g = G.sample(400, generator=generator, dtype=dtype, max_rapidity=2.0)
    assert g.dtype == dtype and bool(G.contains(g).all())
    eta = G.eta.to(dtype)
    assert torch.allclose(g.transpose(1, 2) @ eta @ g, eta.expand_as(g), atol=1e-4 if dtype == torch.float32 else 1e-10)
    # components of O(p, q): signs of det of the positive and of the negative block
    p = G.p
    components = {(float(torch.det(m[:p, :p]).sign()), float(torch.det(m[p:, p:]).sign()) if G.q else 1.0)
                  for m in g.double()}
    assert len(components) == (4 if G.p and G.q else 2)


def test_rapidity_is_bounded(generator):
    G = get_group("O(1,1)")
    g = G.sample(500, generator=generator, max_rapidity=0.5)
    rapidity = torch.arccosh(g[:, 0, 0].abs())
    assert float(rapidity.max()) <= 0.5 + 1e-12 and float(rapidity.max()) > 0.4


def test_membership_rejects_euclidean_rotations_mixing_time_and_space():
    G = get_group("O(1,1)")
    c, s = 0.6, 0.8
    rotation = torch.tensor([[[c, -s], [s, c]]], dtype=torch.float64)
    assert not bool(G.contains(rotation).any())
    with pytest.raises(ValueError, match="not an element of O\\(1,1\\)"):
        G.standard(rotation)


def test_generators_lie_in_the_group_and_grid_elements_preserve_the_metric():
    G = get_group("O(1,2)")
    lie, discrete = G.generators()
    eta = G.eta
    assert torch.allclose(lie.transpose(1, 2) @ eta + eta @ lie, torch.zeros_like(lie))
    assert bool(G.contains(discrete).all()) and bool(G.contains(torch.linalg.matrix_exp(lie)).all())
    grid = G.grid_elements()
    assert len(grid) == 2 * 8  # time reversal x the signed permutations of the two space axes
    assert bool((grid[:, 0, 0].abs() == 1).all())


def test_stabiliser_generators_fix_the_point(generator):
    G = get_group("O(1,3)")
    x = torch.tensor([0.3, 1.1, -0.4, 0.2], dtype=torch.float64)  # spacelike
    lie, discrete = G.stabiliser_generators(x)
    assert lie.shape[0] == 3  # so(1, 2) has dimension 3
    assert torch.allclose(lie @ x, torch.zeros(3, 4, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(discrete @ x, x.expand(len(discrete), -1), atol=1e-12)
    assert bool(G.contains(discrete).all())
    with pytest.raises(ValueError, match="non-null"):
        G.stabiliser_generators(torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64))


def test_time_axes_follow_the_minority_sign():
    assert get_group("O(1,3)").time_axes == (0,)
    assert get_group("O(3,1)").time_axes == (3,)
    assert get_group("O(2,2)").time_axes == (0, 1)
    assert get_group("O(3,0)").time_axes == ()


# ---------------------------------------------------------------------------------------------
# reps


def test_rep_sizes_and_standard(generator):
    G = get_group("O(1,3)")
    g = G.sample(3, generator=generator)
    assert G.multivector.size == 16 and G.grade(2).size == 6 and G.trivial.size == 1
    assert torch.allclose(G.standard(g), g)
    rep = 2 * G.multivector + G.grade(1)
    assert rep.size == 36 and rep.fields == ((0, 1, 2, 3, 4),) * 2 + ((1,),)
    assert torch.allclose(rep(g)[:, 32:, 32:], g)
    assert repr(G.grades(0, 2) + G.grade(1)) == "grades(0, 2) + grade(1)"


def test_invariants_of_multivectors_and_of_generic_reps():
    G = get_group("O(2,1)")
    assert torch.equal(G.multivector.invariant_basis(), torch.eye(8, dtype=torch.float64)[:, :1])
    # V (x) V has one invariant, the inverse metric, found numerically from the generators
    invariant = G.standard.tensor(G.standard).invariant_basis()
    assert invariant.shape == (9, 1)
    eta = G.eta.flatten()
    assert torch.allclose(invariant[:, 0].abs(), eta.abs() / eta.norm())
    assert G.standard.dual().invariant_basis().shape == (3, 0)


def test_generic_reps_transform_correctly(generator):
    G = get_group("O(1,2)")
    g = G.sample(2, generator=generator)
    pair = G.standard.tensor(G.grade(2).dual())
    expected = torch.stack([torch.kron(m, torch.linalg.inv(b).T) for m, b in zip(g, G.grade(2)(g))])
    assert torch.allclose(pair(g), expected, atol=1e-12)
    mixed = G.standard + G.standard.dual()
    assert torch.allclose(mixed(g)[:, 3:, 3:], torch.linalg.inv(g).transpose(1, 2), atol=1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_euclidean_signatures_match_escnn_irreps(n, generator):
    G = get_group(f"O({n},0)")
    rep = G.multivector + G.grade(1)
    escnn_rep, Q = G.escnn_equivalent(rep)
    assert torch.allclose(Q @ Q.T, torch.eye(rep.size, dtype=torch.float64), atol=1e-12)
    g = G.sample(5, generator=generator)
    assert torch.allclose(rep(g), Q @ escnn_rep(g) @ Q.T, atol=1e-12)
    with pytest.raises(ValueError, match="escnn covers"):
        get_group("O(1,2)").escnn_equivalent(get_group("O(1,2)").multivector)

