"""The shared builder: the steerability constraint, zero-length offsets, dtype/device moves,
state_dict round trips and gradients."""

import pytest
import torch
from conftest import mixed_reps

from groups import get_group
from implicit_kernels import ImplicitKernel
from implicit_kernels.equivariance import kernel_equivariance_error


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_kernel_constraint_with_random_elements(group, generator, dtype, tolerance):
    rep_in, rep_out = mixed_reps(group)
    kernel = ImplicitKernel(rep_in, rep_out).to(dtype)
    x = torch.randn(64, group.n, generator=generator, dtype=torch.float64).to(dtype)
    g = group.sample(64, generator=generator)
    assert kernel_equivariance_error(kernel, g, x) <= tolerance


def test_kernel_with_attributes_is_equivariant_in_both(generator):
    G = get_group("O(3)")
    attr = 2 * G.trivial + G.standard
    kernel = ImplicitKernel(G.standard, G.trivial + G.standard, attr=attr).double()
    x = torch.randn(32, 3, generator=generator, dtype=torch.float64)
    a = torch.randn(32, attr.size, generator=generator, dtype=torch.float64)
    g = G.sample(32, generator=generator)
    assert kernel_equivariance_error(kernel, g, x, a) <= 1e-10
    # the vector attribute really enters the kernel
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
    rhs = rep_out(g) @ value.detach() @ torch.linalg.inv(rep_in(g))
    assert torch.allclose(value.detach().expand_as(rhs), rhs, atol=1e-12)
    assert value.abs().max() > 0  # the invariant part is not forced to vanish


def test_dtype_moves_keep_constants_exact(generator):
    G = get_group("SO(3)")
    kernel = ImplicitKernel(*mixed_reps(G))
    kernel.float().double()  # a float32 round trip must not round the Clebsch-Gordan coefficients
    x = torch.randn(32, 3, generator=generator, dtype=torch.float64)
    assert kernel_equivariance_error(kernel, G.sample(32, generator=generator), x) <= 1e-12
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
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert kernel.log_sigma.grad.abs() > 0


def test_construction_is_fast_for_o3_up_to_l2():
    import time

    G = get_group("O(3)")
    fields = G.trivial + G.standard + G.irrep(0, 2)
    ImplicitKernel(fields, fields)  # warm escnn's caches
    start = time.perf_counter()
    ImplicitKernel(2 * fields, 2 * fields)
    assert time.perf_counter() - start < 1.0


def test_shell_decays_and_sigma_is_learnable():
    G = get_group("SO(3)")
    kernel = ImplicitKernel(G.trivial, G.trivial, radius=2.0)
    assert torch.isclose(kernel.sigma, torch.tensor(1.0))
    far = kernel.shell(torch.tensor([[10.0, 0.0, 0.0]]))
    near = kernel.shell(torch.tensor([[0.1, 0.0, 0.0]]))
    assert far < 1e-20 < near
    assert ImplicitKernel(G.trivial, G.trivial, learn_sigma=False).log_sigma.requires_grad is False
