"""GridConv: exact equivariance under grid-preserving elements, variance at initialisation,
padding/stride, eval-mode caching and bad input."""

import math

import pytest
import torch
from conftest import LOOSER_TOLERANCE, MATRIX_GROUPS, matrix_reps, mixed_reps

from groups import get_group
from implicit_kernels import GridConv
from implicit_kernels.equivariance import (
    TOLERANCE,
    assert_equivariant,
    grid_conv_equivariance_error,
    relative_error,
    transform_grid,
)


def test_exact_under_grid_preserving_elements(group):
    assert len(group.grid_elements()) >= 2
    assert_equivariant(GridConv(*mixed_reps(group), kernel_size=5), n_samples=48)


def test_a_wrong_transformation_is_detected():
    """The check can fail: transforming the input without its fibre action breaks equality."""
    G = get_group("SO(2)")
    conv = GridConv(G.standard, G.standard, kernel_size=3).double()
    f = torch.randn(1, 2, 9, 9, dtype=torch.float64)
    g = G.grid_elements()[1]
    moved_without_fibre = transform_grid(f, g, G.trivial + G.trivial)
    assert relative_error(conv(moved_without_fibre), transform_grid(conv(f), g, G.standard)) > 0.1


def test_continuous_rotation_is_approximately_equivariant():
    """Reported, not exact: sample a smooth scalar field and its rotated copy analytically and
    compare the vector output at the centre pixel, K * (g.f)(0) vs rho_out(g) (K * f)(0)."""
    G = get_group("SO(2)")
    conv = GridConv(G.trivial, G.standard, kernel_size=9, padding="valid", bias=False).double()
    axis = torch.arange(9, dtype=torch.float64) - 4
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1)

    def field(p):
        return torch.exp(-((p - torch.tensor([1.5, -0.5], dtype=p.dtype)) ** 2).sum(-1) / 6.0)

    theta = 0.6
    g = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=torch.float64)
    f = field(grid)[None, None]
    rotated = field(grid @ g)[None, None]  # f(g^-1 p), since p @ g == g^T p for each row p
    lhs, rhs = conv(rotated)[0, :, 0, 0], g @ conv(f)[0, :, 0, 0]
    error = relative_error(lhs, rhs)
    print(f"continuous rotation by {theta} rad: relative error {error:.2e}")
    assert error <= LOOSER_TOLERANCE["grid_sampling"][torch.float64]


def test_unit_variance_at_initialisation():
    G = get_group("O(3)")
    rep_in, rep_out = mixed_reps(G)
    conv = GridConv(rep_in, rep_out, kernel_size=5, padding="valid")
    with torch.no_grad():
        y = conv(torch.randn(4, rep_in.size, 14, 14, 14, generator=torch.Generator().manual_seed(0)))
    variance = y.var(dim=(0, 2, 3, 4)).mean()
    assert 0.6 < variance < 1.6, variance


def test_padding_stride_and_spacing_shapes():
    G = get_group("C8")
    rep = G.trivial + G.standard
    f = torch.randn(2, 3, 16, 12)
    assert GridConv(rep, rep, 5)(f).shape == (2, 3, 16, 12)
    assert GridConv(rep, rep, 5, padding="valid")(f).shape == (2, 3, 12, 8)
    assert GridConv(rep, rep, 3, stride=2)(f).shape == (2, 3, 8, 6)
    assert GridConv(rep, rep, 5, padding_mode="circular")(f).shape == (2, 3, 16, 12)
    conv = GridConv(rep, rep, 3, spacing=(0.5, 2.0))
    assert torch.allclose(conv.offsets.abs().amax(0), torch.tensor([0.5, 2.0]))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_circular_padding_is_equivariant_on_a_torus(dtype, generator):
    G = get_group("D4")
    conv = GridConv(G.standard, G.trivial + G.standard, 3, padding_mode="circular").to(dtype)
    f = torch.randn(1, 2, 8, 8, generator=generator, dtype=torch.float64).to(dtype)  # even size: symmetric about 3.5
    errors = [grid_conv_equivariance_error(conv, g, f) for g in G.grid_elements()]
    assert max(errors) <= TOLERANCE[dtype]


def test_eval_mode_caches_the_weight_and_notices_changes():
    G = get_group("SO(3)")
    conv = GridConv(G.trivial, G.standard, 3).eval()
    f = torch.randn(1, 1, 5, 5, 5)
    first = conv(f)
    cached = conv._cache[1]
    assert torch.equal(conv(f), first) and conv._cache[1] is cached
    with torch.no_grad():
        next(conv.kernel.parameters()).add_(0.5)
    assert not torch.equal(conv(f), first)
    assert conv._cache[1] is not cached
    conv.train()
    assert conv(f).requires_grad


def test_bias_lives_on_invariant_channels_only():
    G = get_group("O(2)")
    conv = GridConv(G.standard, G.trivial + G.standard, 3)
    assert conv.bias.theta.numel() == 1
    with torch.no_grad():
        conv.bias.theta.fill_(1.0)
    assert torch.allclose(conv.bias(), torch.tensor([1.0, 0.0, 0.0]))


def test_bad_input_errors():
    G = get_group("O(3)")
    conv = GridConv(G.standard, G.trivial, 3)
    with pytest.raises(ValueError, match="3 channels"):
        conv(torch.randn(1, 4, 5, 5, 5))
    with pytest.raises(ValueError, match="3 spatial axes"):
        conv(torch.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="different groups"):
        GridConv(G.standard, get_group("SO(3)").trivial)
    with pytest.raises(ValueError, match="odd kernel_size"):
        GridConv(G.standard, G.trivial, 4)


# ---------------------------------------------------------------------------------------------
# Clifford groups on (pseudo-)Euclidean grids


@pytest.mark.parametrize("name", ["O(2,0)", "O(1,1)", "O(3,0)", "O(1,2)", "O(2,1)"])
def test_clifford_grid_conv_is_exact_under_metric_preserving_signed_permutations(name):
    G = get_group(name)
    options = {"time_step": 0.5, "signal_speed": 2.0} if G.time_axes else {}  # c dt = dx: null offsets
    conv = GridConv(G.multivector + G.grade(1), 2 * G.multivector, kernel_size=5, **options)
    assert len(G.grid_elements()) >= 4
    assert_equivariant(conv, n_samples=48)
    assert bool(torch.isfinite(conv.weight()).all())


def test_spacetime_spacing_and_light_cone_on_the_grid():
    G = get_group("O(1,2)")
    conv = GridConv(G.multivector, G.multivector, kernel_size=3, spacing=0.1, time_step=0.05, signal_speed=2.0)
    assert conv.spacing == (0.1, 0.1, 0.1)
    q = G.algebra.quadratic_form(torch.nn.functional.pad(conv.offsets.double(), (1, 4)))[:, 1]
    assert int((q.abs() < 1e-12).sum()) == 1 + 8  # the origin and the 8 null diagonals (+-c dt, +-dx or +-dy)
    slower = GridConv(G.multivector, G.multivector, kernel_size=3, spacing=0.1, time_step=0.05, signal_speed=1.0)
    assert slower.spacing == (0.05, 0.1, 0.1)
    with pytest.raises(ValueError, match="no time axes"):
        GridConv(get_group("O(3,0)").multivector, get_group("O(3,0)").multivector, time_step=0.1)


def test_clifford_grid_conv_has_unit_variance_at_initialisation():
    G = get_group("O(1,2)")
    conv = GridConv(2 * G.multivector, 2 * G.multivector, kernel_size=5, padding="valid", time_step=1.0)
    with torch.no_grad():
        y = conv(torch.randn(4, 16, 12, 12, 12, generator=torch.Generator().manual_seed(0)))
    variance = y.var(dim=(0, 2, 3, 4)).mean()
    assert 0.6 < variance < 1.6, variance


GRID_MATRIX_GROUPS = [n for n in MATRIX_GROUPS if get_group(n).n <= 3 and len(get_group(n).grid_elements()) > 1]


@pytest.mark.parametrize("name", GRID_MATRIX_GROUPS)
def test_matrix_group_grid_conv_is_exact_under_grid_elements(name):
    G = get_group(name)
    assert_equivariant(GridConv(*matrix_reps(G), kernel_size=5), n_samples=48)
