"""The analytic kernel network: escnn's basis with learned coefficients, in our builder and layers.

It must satisfy the constraint for random elements (to escnn's own precision in float64), span
``Hom_Stab(x)`` at a generic point (rank against the numerical solver), lie in the span of escnn's
dense basis, and work inside PointConv and GridConv like the implicit kernels."""

import pytest
import torch
from conftest import LOOSER_TOLERANCE

from groups import LinearHeadKernelNetwork, get_group
from implicit_kernels import GridConv, ImplicitKernel, PointConv
from implicit_kernels.analytic import analytic_basis, matrix_rank, span_residual, stabiliser_hom_dim
from implicit_kernels.equivariance import TOLERANCE, assert_equivariant, point_conv_equivariance_error, relative_error
from implicit_kernels.escnn_basis import default_band_limit, escnn_sampler

GROUPS = ["O(2)", "SO(2)", "D4", "C8", "O(3)", "SO(3)", "O(2)z", "O(3,0)", "O(2,0)", "O(3)-mat"]


def reps(G):
    return 2 * G.trivial + G.standard, G.trivial + 2 * G.standard


def tolerance(G) -> dict[torch.dtype, float]:
    """escnn's 3D harmonic bases carry float32-level constants (see ``LOOSER_TOLERANCE``); its 2D
    ones are exact."""
    return LOOSER_TOLERANCE["escnn_basis_3d"] if G.n == 3 else TOLERANCE


@pytest.mark.parametrize("name", GROUPS)
def test_kernel_constraint_with_invariant_attributes(name):
    G = get_group(name)
    rep_in, rep_out = reps(G)
    assert_equivariant(ImplicitKernel(rep_in, rep_out, 2 * G.trivial, basis="analytic"), tolerance(G), n_samples=64)


@pytest.mark.parametrize("name", GROUPS)
def test_complete_and_inside_escnns_dense_basis(name, generator):
    G = get_group(name)
    rep_in, rep_out = reps(G)
    kernel = ImplicitKernel(rep_in, rep_out, basis="analytic").double()
    x = 0.6 * torch.randn(1, G.n, generator=generator, dtype=torch.float64)
    values = []
    for _ in range(rep_in.size * rep_out.size + 4):
        kernel.network.reset_parameters(generator)
        values.append(kernel(x)[0])
    assert matrix_rank(torch.stack(values)) == stabiliser_hom_dim(rep_in, rep_out, x[0])
    points = 0.6 * torch.randn(8, G.n, generator=generator, dtype=torch.float64)
    dense = analytic_basis(rep_in, rep_out, points, r_max=2.0)
    assert span_residual(kernel(points).detach(), dense) < 1e-6


def test_point_and_grid_layers_are_equivariant():
    G = get_group("O(3)")
    rep_in, rep_out = reps(G)
    assert_equivariant(PointConv(rep_in, rep_out, G.trivial, radius=1.5, basis="analytic"), tolerance(G), n_samples=4)
    assert_equivariant(GridConv(rep_in, rep_out, kernel_size=3, basis="analytic"), tolerance(G), n_samples=48)


def test_state_dict_round_trip_and_dtype_moves(generator):
    G = get_group("SO(3)")
    rep_in, rep_out = reps(G)
    kernel = ImplicitKernel(rep_in, rep_out, G.trivial, basis="analytic")
    copy = ImplicitKernel(rep_in, rep_out, G.trivial, basis="analytic")
    copy.load_state_dict(kernel.state_dict())
    x, attr = torch.randn(5, 3, generator=generator), torch.randn(5, 1, generator=generator)
    assert torch.equal(kernel(x, attr), copy(x, attr))
    assert kernel.double()(x.double(), attr.double()).dtype == torch.float64


def test_bad_requests_are_refused():
    G = get_group("O(3)")
    with pytest.raises(ValueError, match="invariant attributes"):
        ImplicitKernel(G.trivial, G.standard, G.standard, basis="analytic")
    with pytest.raises(TypeError, match="escnn has no analytic basis"):
        L = get_group("O(1,2)")
        ImplicitKernel(L.trivial, L.standard, basis="analytic")
    with pytest.raises(ValueError, match="basis must be"):
        ImplicitKernel(G.trivial, G.standard, basis="fourier")


def test_constant_coefficients_take_the_linear_head_path(generator):
    G = get_group("SO(3)")
    rep_in, rep_out = reps(G)
    conv = PointConv(rep_in, rep_out, radius=1.5, avg_degree=4.0, basis="analytic").double()
    assert isinstance(conv.kernel.network, LinearHeadKernelNetwork)
    pos = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    f = torch.randn(20, rep_in.size, generator=generator, dtype=torch.float64)
    edges = torch.randint(0, 20, (2, 90), generator=generator)
    src, dst = edges
    messages = torch.einsum("eoi,ei->eo", conv.kernel(pos[src] - pos[dst]), f[src])
    expected = torch.zeros(20, rep_out.size, dtype=torch.float64).index_add(0, dst, messages) / 2.0 + conv.bias()
    assert torch.allclose(conv(f, pos, edges), expected, atol=1e-12)
    g = G.sample(1, generator=generator)[0]
    translation = torch.randn(3, generator=generator, dtype=torch.float64)
    assert point_conv_equivariance_error(conv, g, translation, f, pos, edges) <= tolerance(G)[torch.float64]


def _escnn_buffers(G, rep_in, rep_out, rings, ring_width):
    """The buffers of escnn's own cached basis module for the reps, as (module, name, tensor)."""
    basis = G.gspace.build_kernel_basis(rep_in.representation, rep_out.representation,
                                        sigma=[ring_width] * len(rings), rings=list(rings),
                                        maximum_frequency=default_band_limit(rep_in, rep_out))
    return [(module, name, tensor) for module in basis.modules() for name, tensor in module._buffers.items()]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_sampling_leaves_escnns_cached_basis_modules_untouched(dtype, generator):
    G = get_group("O(2)")
    rep_in, rep_out = reps(G)
    rings = (0.0, 0.5, 1.0)
    before = _escnn_buffers(G, rep_in, rep_out, rings, 0.5)
    escnn_sampler(rep_in, rep_out, rings, 0.5)(torch.randn(6, 2, generator=generator, dtype=dtype))
    after = _escnn_buffers(G, rep_in, rep_out, rings, 0.5)
    assert len(after) == len(before) > 0
    assert all(module._buffers[name] is tensor for module, name, tensor in before)


def test_escnn_builds_after_sampling_in_float64_and_float32(generator):
    """The README's analytic example followed by a cross-check basis with the same rings (in one
    process) used to fail inside escnn's cache lookup: ``Double did not match Float``."""
    G = get_group("O(3)")
    rep_in, rep_out = reps(G)
    rings = (0.0, 0.5, 1.0, 1.5)
    kernel = ImplicitKernel(rep_in, rep_out, 2 * G.trivial, basis="analytic", rings=rings, ring_width=0.5)
    for dtype in (torch.float32, torch.float64):
        kernel.to(dtype)(torch.randn(4, 3, generator=generator, dtype=dtype),
                         torch.randn(4, 2, generator=generator, dtype=dtype))
    C = get_group("O(3,0)")
    points = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    basis = escnn_sampler(C.grade(0) + C.grade(1), C.multivector, rings, 0.5)(points)
    assert basis.shape[0] == 5 and basis.shape[2:] == (C.multivector.size, 4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_basis_is_returned_in_the_points_dtype_and_agrees_with_float64(dtype, generator):
    G = get_group("SO(3)")
    rep_in, rep_out = reps(G)
    sampler = escnn_sampler(rep_in, rep_out, (0.0, 0.5, 1.0), 0.5)
    points = torch.randn(16, 3, generator=generator, dtype=torch.float64).to(dtype)
    values = sampler(points)
    exact = sampler(points.double())
    assert values.dtype == dtype
    tolerance = {torch.float16: 1e-2, torch.bfloat16: 1e-2, torch.float32: 1e-5}[dtype]
    assert relative_error(values.double(), exact) < tolerance
