"""The Clifford kernel network: exact equivariance including boosts, finiteness on the light cone
and at the origin, completeness of the default head and the measured gap of the single-product
head, the equivariance of its layers, and its factored (linear-head) evaluation against the dense
one."""

import pytest
import torch
from conftest import LOOSER_TOLERANCE

from groups import LinearHeadKernelNetwork, get_group
from groups.clifford import CliffordKernelNetwork, FactoredCliffordKernelNetwork
from groups.clifford.layers import GeometricProductLayer, MultivectorGate, MultivectorLinear, MultivectorNorm
from implicit_kernels import ImplicitKernel, PointConv, radius_graph
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
@pytest.mark.parametrize("attr", ["vector", "scalars"])
def test_kernel_constraint_with_boosts(signature, head, dtype, rapidity, attr, generator):
    """With a vector attribute the network is evaluated densely, with scalar ones factored."""
    G = get_group(name(signature))
    kernel = ImplicitKernel(*mixed_reps(G), attr=G.grade(1) if attr == "vector" else 2 * G.trivial, head=head)
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

EVERY_LAYER = pytest.mark.parametrize(
    "layer",
    [
        lambda a: MultivectorLinear(a, 3, 4),
        lambda a: GeometricProductLayer(a, 3, 4),
        lambda a: MultivectorNorm(a, 3),
        lambda a: MultivectorGate(),
    ],
    ids=["linear", "product", "norm", "gate"],
)


@EVERY_LAYER
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


# ---------------------------------------------------------------------------------------------
# the factored evaluation


def span_multivector(G, h, x):
    """``alpha + beta x`` as full multivectors ``(..., C, 2^n)`` from coefficients ``h``
    ``(..., C, 2)`` and vectors ``x`` ``(..., n)``."""
    full = torch.zeros(*h.shape[:-1], G.algebra.dim, dtype=h.dtype)
    full[..., 0] = h[..., 0]
    full[..., 1 : 1 + G.n] = h[..., 1:] * x[..., None, :]
    return full


@pytest.mark.parametrize("signature", [(3, 0), (1, 3), (2, 1)], ids=name)
@EVERY_LAYER
def test_layers_on_the_span_of_one_vector_are_the_layers(signature, layer, generator):
    """``on_span`` on the coefficients of ``alpha + beta x`` is the layer on the multivector, and
    its output has no other grades."""
    G = get_group(name(signature))
    module = layer(G.algebra).double()
    for parameter in module.parameters():  # no zero path weights or logits by chance
        parameter.data.normal_(generator=generator)
    x = torch.randn(6, G.n, generator=generator, dtype=torch.float64)
    h = torch.randn(6, 3, 2, generator=generator, dtype=torch.float64)
    q = (x * x * G.algebra.metric).sum(-1, keepdim=True)
    expected = module(span_multivector(G, h, x))
    spanned = torch.stack(module.on_span(h.unbind(-1), q), dim=-1)
    assert (span_multivector(G, spanned, x) - expected).abs().max() <= 1e-12 * expected.abs().max()


def shared_networks(G, rep_in, rep_out, attr, head):
    dense = CliffordKernelNetwork(G, rep_in, rep_out, attr, head=head).double()
    factored = FactoredCliffordKernelNetwork(G, rep_in, rep_out, attr, head=head).double()
    factored.load_state_dict(dense.state_dict())
    return dense, factored


@pytest.mark.parametrize("signature", [(3, 0), (1, 3), (2, 1)], ids=name)
@pytest.mark.parametrize("head", ["complete", "single"])
def test_factored_network_is_the_dense_one(signature, head, generator):
    """Same parameters, same kernel: ``forward``, ``head() @ features`` and ``head_map`` on
    neighbour sums agree with the dense evaluation in float64, with scalar attributes."""
    G = get_group(name(signature))
    rep_in, rep_out = G.grade(1) + G.grades(0, 2) + G.multivector, G.multivector + G.grade(1) + G.grade(2)
    dense, factored = shared_networks(G, rep_in, rep_out, 2 * G.trivial, head)
    x = torch.randn(4, 5, G.n, generator=generator, dtype=torch.float64)
    a = torch.randn(4, 5, 2, generator=generator, dtype=torch.float64)
    expected = dense(x, a)
    scale = expected.abs().max()
    assert (factored(x, a) - expected).abs().max() <= 1e-12 * scale
    flat = factored.features(x, a) @ factored.head().T
    assert (flat.unflatten(-1, (rep_out.size, rep_in.size)) - expected).abs().max() <= 1e-12 * scale
    v = torch.randn(4, 5, rep_in.size, generator=generator, dtype=torch.float64)
    sums = torch.einsum("nwoi,nwi->no", expected, v)
    mapped = factored.head_map(x)(factored.features(x, a), v)
    assert (mapped - sums).abs().max() <= 1e-12 * sums.abs().max()


def test_point_layers_sum_features_for_scalar_attributes_only(generator):
    """The group builds the factored network without attributes or with scalar ones (a point
    layer then takes its linear-head path, with the dense layer's outputs), the dense one for
    vector attributes; the factored class refuses them."""
    G = get_group("O(1,3)")
    assert isinstance(G.kernel_network(G.multivector, G.grade(1)), FactoredCliffordKernelNetwork)
    assert isinstance(G.kernel_network(G.multivector, G.grade(1), 3 * G.trivial), LinearHeadKernelNetwork)
    assert not isinstance(G.kernel_network(G.multivector, G.grade(1), G.grade(1)), LinearHeadKernelNetwork)
    with pytest.raises(ValueError, match="scalar attributes only"):
        FactoredCliffordKernelNetwork(G, G.multivector, G.multivector, G.grades(0, 1))

    conv = PointConv(G.multivector, G.multivector + G.grade(1), 2 * G.trivial, radius=1.5, chunk_size=64).double()
    pos = 0.8 * torch.randn(60, 4, generator=generator, dtype=torch.float64)
    edges = radius_graph(pos, 1.5)
    f = torch.randn(60, G.multivector.size, generator=generator, dtype=torch.float64)
    a = torch.randn(edges.shape[1], 2, generator=generator, dtype=torch.float64)
    factored_out = conv(f, pos, edges, a)
    dense = CliffordKernelNetwork(G, conv.rep_in, conv.rep_out, conv.attr_rep).double()
    dense.load_state_dict(conv.kernel.network.state_dict())
    conv.kernel.network = dense
    dense_out = conv(f, pos, edges, a)
    assert edges.shape[1] > 300  # several groups of 64 slots
    assert (factored_out - dense_out).abs().max() <= 1e-12 * dense_out.abs().max()
