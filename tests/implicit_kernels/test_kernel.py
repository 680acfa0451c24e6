"""The shared builder: the steerability constraint, zero-length offsets, dtype/device moves,
state_dict round trips and gradients."""

import torch
from conftest import mixed_reps

from groups import get_group
from groups.compact.hom import _irrep_tensor
from implicit_kernels import ImplicitKernel
from implicit_kernels.equivariance import TOLERANCE, assert_equivariant, kernel_equivariance_error


def test_kernel_constraint_with_random_elements(group):
    assert_equivariant(ImplicitKernel(*mixed_reps(group)), n_samples=64)


def test_kernel_with_attributes_is_equivariant_in_both(generator):
    G = get_group("O(3)")
    attr = 2 * G.trivial + G.standard
    kernel = ImplicitKernel(G.standard, G.trivial + G.standard, attr=attr).double()
    assert_equivariant(kernel, n_samples=32)
    # the vector attribute really enters the kernel
    x = torch.randn(32, 3, generator=generator, dtype=torch.float64)
    a = torch.randn(32, attr.size, generator=generator, dtype=torch.float64)
    a2 = a.clone()
    a2[:, 2:] += 1.0
    assert (kernel(x, a) - kernel(x, a2)).abs().max() > 1e-3


def test_zero_length_offsets_give_finite_invariant_kernels(group, generator):
    rep_in, rep_out = mixed_reps(group)
    kernel = ImplicitKernel(rep_in, rep_out).double()
    zero = torch.zeros(1, group.n, dtype=torch.float64, requires_grad=True)
    value = kernel(zero)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(zero.grad).all()
    g = group.sample(8, generator=generator)
    assert kernel_equivariance_error(kernel, g, zero.detach().expand(8, -1)) <= TOLERANCE[torch.float64]
    # the invariant part is not forced to vanish: the kernel at 0 is as large as elsewhere
    x = torch.randn(64, group.n, generator=generator, dtype=torch.float64)
    assert value.abs().max() > 1e-2 * kernel(x).abs().max()


def test_dtype_moves_keep_constants_exact(generator):
    G = get_group("SO(3)")
    kernel = ImplicitKernel(*mixed_reps(G))
    kernel.float().double()  # a float32 round trip must not round the Clebsch-Gordan coefficients
    x = torch.randn(32, 3, generator=generator, dtype=torch.float64)
    assert kernel_equivariance_error(kernel, G.sample(32, generator=generator), x) <= TOLERANCE[torch.float64]
    assert kernel(x).dtype == torch.float64
    assert kernel.to(torch.float32)(x.float()).dtype == torch.float32


def test_state_dict_round_trip(generator):
    G = get_group("O(2)")
    rep_in, rep_out = mixed_reps(G)
    source = ImplicitKernel(rep_in, rep_out)
    target = ImplicitKernel(rep_in, rep_out)
    x = torch.randn(10, 2, generator=generator)
    assert not torch.allclose(source(x), target(x))
    target.load_state_dict(source.state_dict())
    assert torch.equal(source(x), target(x))
    assert "gain" in source.state_dict() and "log_sigma" in source.state_dict()


def test_gradients_reach_every_parameter(group, generator):
    kernel = ImplicitKernel(*mixed_reps(group))
    x = torch.randn(16, group.n, generator=generator)
    kernel(x).pow(2).sum().backward()
    for name, p in kernel.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().max() > 0, name


def test_construction_decomposes_irrep_pairs_only_once():
    """What keeps construction fast: the Hom rep is assembled from cached decompositions of irrep
    pairs, so more copies of known irreps decompose nothing new."""
    G = get_group("O(3)")
    fields = G.trivial + G.standard + G.irrep(0, 2)
    ImplicitKernel(fields, fields)
    misses = _irrep_tensor.cache_info().misses
    ImplicitKernel(2 * fields, 2 * fields)
    assert _irrep_tensor.cache_info().misses == misses


def test_shell_decays_and_sigma_is_learnable():
    G = get_group("SO(3)")
    kernel = ImplicitKernel(G.trivial, G.trivial, radius=2.0)
    assert torch.isclose(kernel.sigma, torch.tensor(1.0))
    far = kernel.shell(torch.tensor([[10.0, 0.0, 0.0]]))
    near = kernel.shell(torch.tensor([[0.1, 0.0, 0.0]]))
    assert far < 1e-20 < near
    assert ImplicitKernel(G.trivial, G.trivial, learn_sigma=False).log_sigma.requires_grad is False
