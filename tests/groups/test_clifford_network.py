"""The Clifford kernel network: exact equivariance including boosts, finiteness on the light cone
and at the origin, completeness of the default head and the measured gap of the single-product
head, and the equivariance of its layers."""

import pytest
import torch
from conftest import LOOSER_TOLERANCE

from groups import get_group
from groups.clifford.layers import GeometricProductLayer, MultivectorGate, MultivectorLinear, MultivectorNorm
from implicit_kernels import ImplicitKernel
from implicit_kernels.analytic import implicit_rank, stabiliser_hom_dim
from implicit_kernels.coverage_table import SIGNATURES, generic_point
from implicit_kernels.equivariance import TOLERANCE, assert_equivariant, kernel_equivariance_error, relative_error

KERNEL_SIGNATURES = [(2, 0), (3, 0), (1, 1), (1, 2), (2, 1), (1, 3), (2, 2)]


def name(signature):
    return "O({},{})".format(*signature)


def mixed_reps(G):
    return G.multivector + G.grade(1), G.grades(0, 2) + G.grade(1) + G.multivector


@pytest.mark.parametrize("signature", KERNEL_SIGNATURES, ids=name)
@pytest.mark.parametrize("head", ["complete", "single"])
@pytest.mark.parametrize("dtype, rapidity", [(torch.float64, 2.0), (torch.float32, 1.0)])
def test_kernel_constraint_with_boosts(signature, head, dtype, rapidity, generator):
    G = get_group(name(signature))
    kernel = ImplicitKernel(*mixed_reps(G), attr=G.grade(1), head=head)
    elements = G.sample(64, generator=generator, max_rapidity=rapidity)
    assert_equivariant(kernel, LOOSER_TOLERANCE["boosts"], dtypes=(dtype,), elements=elements)


def test_a_wrong_representation_is_detected(generator):
    G = get_group("O(1,2)")
    kernel = ImplicitKernel(G.multivector, G.multivector).double()
    g = G.sample(16, generator=generator, max_rapidity=1.0)
    x = torch.randn(16, 3, generator=generator, dtype=torch.float64)
    wrong = G.sample(16, generator=generator, max_rapidity=1.0)  # rho(g') instead of rho(g)
    lhs = kernel(torch.einsum("kij,kj->ki", g, x))
    rhs = G.multivector(wrong) @ kernel(x) @ torch.linalg.inv(G.multivector(wrong))
    assert relative_error(lhs, rhs) > 1e-2


@pytest.mark.parametrize("signature", [(1, 2), (1, 3), (2, 2)], ids=name)
def test_null_vectors_and_the_origin_give_finite_kernels_and_gradients(signature):
    G = get_group(name(signature))
    kernel = ImplicitKernel(G.multivector, G.multivector).double()
    null = torch.zeros(3, G.n, dtype=torch.float64)
    null[0, 0], null[0, -1] = 1.0, 1.0  # on the light cone
    null[1, 0], null[1, -1] = 3.0, -3.0
    x = null.clone().requires_grad_(True)  # row 2 is the origin
    values = kernel(x)
    values.square().sum().backward()
    assert bool(torch.isfinite(values).all()) and bool(torch.isfinite(x.grad).all())
    assert all(bool(torch.isfinite(p.grad).all()) for p in kernel.parameters() if p.grad is not None)
    # at the origin the stabiliser is all of O(p, q): only grade-wise scalings survive
    g = G.sample(8, generator=torch.Generator().manual_seed(0), max_rapidity=1.0)
    assert kernel_equivariance_error(kernel, g, torch.zeros(8, G.n, dtype=torch.float64)) <= TOLERANCE[torch.float64]


@pytest.mark.parametrize("signature", SIGNATURES, ids=name)
def test_default_head_is_complete_and_single_product_head_is_not(signature):
    G = get_group(name(signature))
    generator = torch.Generator().manual_seed(7)
    rep = G.multivector
    for sign in (1, -1):
        if (G.p if sign > 0 else G.q) == 0:
            continue
        x = generic_point(G, sign, generator)
        hom_dim = stabiliser_hom_dim(rep, rep, x)
        assert hom_dim == 4 * G.n  # each Lambda^j(x^perp), j < n, occurs twice in Cl
        assert implicit_rank(ImplicitKernel(rep, rep), x) == hom_dim
        assert implicit_rank(ImplicitKernel(rep, rep, head="single"), x) == 3 * G.n + 1


def test_default_head_is_complete_between_grade_fields():
    G = get_group("O(1,2)")
    rep_in, rep_out = G.grade(1), G.grades(0, 2) + G.grade(1)
    x = torch.tensor([1.2, 0.3, -0.4], dtype=torch.float64)
    hom_dim = stabiliser_hom_dim(rep_in, rep_out, x)
    # H = O(x^perp) = O(2): V = 1 + std; out = (1 + (std + det)) + (1 + std): 2 maps 1 -> 1, 2 std -> std
    assert implicit_rank(ImplicitKernel(rep_in, rep_out), x) == hom_dim == 4


def test_bad_reps_and_options_are_rejected():
    G = get_group("O(2,1)")
    with pytest.raises(TypeError, match="reps built from grades"):
        ImplicitKernel(G.standard.tensor(G.standard), G.multivector)
    with pytest.raises(ValueError, match="head must be one of"):
        ImplicitKernel(G.multivector, G.multivector, head="double")


# ---------------------------------------------------------------------------------------------
# layers


@pytest.mark.parametrize(
    "layer",
    [
        lambda a: MultivectorLinear(a, 3, 4),
        lambda a: GeometricProductLayer(a, 3, 4),
        lambda a: MultivectorNorm(a, 3),
        lambda a: MultivectorGate(),
    ],
    ids=["linear", "product", "norm", "gate"],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_layers_commute_with_the_action(layer, dtype, generator):
    G = get_group("O(1,3)")
    module = layer(G.algebra).to(dtype)
    x = torch.randn(5, 3, 16, generator=generator, dtype=torch.float64).to(dtype)
    rho = G.multivector(G.sample(5, generator=generator, max_rapidity=1.5))[:, None].to(dtype)
    lhs = module((rho @ x[..., None])[..., 0])
    rhs = (rho @ module(x)[..., None])[..., 0]
    assert relative_error(lhs, rhs) <= LOOSER_TOLERANCE["boosts"][dtype]


def test_norm_is_finite_on_null_and_negative_multivectors():
    G = get_group("O(1,1)")
    norm = MultivectorNorm(G.algebra, 2).double()
    x = torch.tensor([[[0.0, 1.0, 1.0, 0.0], [0.0, 0.5, 2.0, 3.0]]], dtype=torch.float64)  # null, negative q
    y = norm(x)
    assert bool(torch.isfinite(y).all())
    assert torch.allclose(y[0, 0, 1:3], x[0, 0, 1:3] / (1 + 0.5 * (1e-3 - 1)))  # sqrt(eps) = 1e-3, s = 1/2


def test_state_dict_round_trip_and_dtype_moves(generator):
    G = get_group("O(1,3)")
    kernel = ImplicitKernel(G.multivector, G.grade(2) + G.grade(1), head="complete")
    copy = ImplicitKernel(G.multivector, G.grade(2) + G.grade(1), head="complete")
    copy.network.reset_parameters(torch.Generator().manual_seed(5))
    x = torch.randn(10, 4, generator=generator)
    assert not torch.allclose(copy(x), kernel(x))
    copy.load_state_dict(kernel.state_dict())
    assert torch.equal(copy(x), kernel(x))
    assert torch.allclose(kernel.double()(x.double()), copy(x).double(), rtol=1e-5, atol=1e-6)
    elements = G.sample(10, generator=generator, max_rapidity=2.0)
    assert kernel_equivariance_error(kernel, elements, x.double()) <= LOOSER_TOLERANCE["boosts"][torch.float64]


@pytest.mark.parametrize("signature", [(1, 3), (3, 1), (2, 2), (1, 2), (3, 0)], ids=name)
def test_kernel_decays_off_the_light_cone(signature):
    """The shell ``exp(-|q(x)| / 2 sigma^2)`` decays along time-like and space-like rays alike (for
    ``q(x) = <x, x>`` of either sign) and is flat along null rays, where ``|q|`` vanishes."""
    G = get_group(name(signature))
    kernel = ImplicitKernel(G.multivector, G.multivector, radius=1.0).double()
    sigma2 = float(kernel.sigma) ** 2
    scales = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)[:, None]
    e = torch.eye(G.n, dtype=torch.float64)
    rays = {"positive": e[0] + 0.3 * e[1]}
    if G.q:
        rays["negative"] = 0.3 * e[0] + e[G.p]
        rays["null"] = e[0] + e[G.p]
    with torch.no_grad():
        for kind, u in rays.items():
            x = scales * u
            q = (x * x * G.algebra.metric).sum(-1)
            assert torch.allclose(G.invariant_norm2(x), q.abs(), rtol=1e-12, atol=1e-12)
            envelope = kernel.envelope(x)
            assert torch.allclose(envelope, kernel.gain * torch.exp(-q.abs() / (2 * sigma2)), rtol=1e-12), kind
            values = kernel(x).abs().amax(dim=(-1, -2))
            if kind == "null":
                assert torch.allclose(envelope, kernel.gain.expand(4).double())
            else:
                assert bool((envelope[1:] < envelope[:-1]).all()) and float(values[-1]) < 1e-6 * float(values[0]), kind
