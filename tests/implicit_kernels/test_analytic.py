"""Completeness: the implicit kernels span Hom_Stab(x)(rho_in, rho_out) at a generic point.

``dim Hom_Stab(x)`` is checked two ways: against escnn's analytic basis rank, and, independently,
as the average character of rho_out (x) rho_in^* over the stabiliser (exact quadrature)."""

import math

import pytest
import torch
from conftest import LOOSER_TOLERANCE

from groups import get_group
from implicit_kernels import ImplicitKernel
from implicit_kernels.analytic import analytic_basis, coverage, matrix_rank, span_residual, stabiliser_hom_dim
from implicit_kernels.equivariance import relative_error

POINT = torch.tensor([0.43, -0.71, 0.55], dtype=torch.float64)


def axis_rotation(axis: torch.Tensor, angle: float) -> torch.Tensor:
    axis = axis / axis.norm()
    cross = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]], dtype=torch.float64)
    return torch.linalg.matrix_exp(angle * cross)


def stabiliser_dimension(rep_in, rep_out, elements: torch.Tensor) -> int:
    """dim of the fixed space of rho_out (x) rho_in^* = mean of its character over the stabiliser."""
    dual_in = torch.linalg.inv(rep_in(elements)).transpose(1, 2)
    character = torch.einsum("kaa,kii->k", rep_out(elements), dual_in)  # trace of a Kronecker product
    return round(float(character.mean()))


def so2_about(axis, count=16):
    return torch.stack([axis_rotation(axis, 2 * math.pi * k / count) for k in range(count)])


def o2_about(axis, count=16):
    normal = torch.linalg.cross(axis, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    mirror = torch.eye(3, dtype=torch.float64) - 2 * torch.outer(normal, normal) / normal.dot(normal)
    rotations = so2_about(axis, count)
    return torch.cat([rotations, rotations @ mirror])


def test_o3_vector_to_scalar_plus_rank2_reaches_rank_3():
    G = get_group("O(3)")
    rep_in, rep_out = G.irrep(1, 1), G.irrep(0, 0) + G.irrep(0, 2)  # 1o -> 0e + 2e
    ours, escnn_rank = coverage(ImplicitKernel(rep_in, rep_out), POINT)
    assert ours == escnn_rank == 3 == stabiliser_dimension(rep_in, rep_out, o2_about(POINT))


def test_so3_all_degrees_up_to_2():
    G = get_group("SO(3)")
    fields = G.irrep(0) + G.irrep(1) + G.irrep(2)
    ours, escnn_rank = coverage(ImplicitKernel(fields, fields), POINT)
    assert ours == escnn_rank == 19 == stabiliser_dimension(fields, fields, so2_about(POINT))


def test_o2_with_reflection_stabiliser():
    G = get_group("O(2)")
    x = POINT[:2]
    rep_in, rep_out = G.trivial + G.irrep(1, 1) + G.irrep(1, 0), G.irrep(1, 2) + G.irrep(1, 3) + G.trivial
    mirror = 2 * torch.outer(x, x) / x.dot(x) - torch.eye(2, dtype=torch.float64)
    stabiliser = torch.stack([torch.eye(2, dtype=torch.float64), mirror])
    ours, escnn_rank = coverage(ImplicitKernel(rep_in, rep_out), x)
    assert ours == escnn_rank == stabiliser_dimension(rep_in, rep_out, stabiliser)
    assert ours < rep_in.size * rep_out.size  # the reflection really constrains


def test_c8_trivial_stabiliser_gives_the_full_space():
    G = get_group("C8")
    rep = G.regular
    ours, escnn_rank = coverage(ImplicitKernel(G.irrep(1) + G.irrep(3), rep), POINT[:2])
    assert ours == escnn_rank == 4 * 8


@pytest.mark.parametrize("name", ["SO(2)", "D4", "SO(2)z", "O(2)z", "Octa", "Ico"])
def test_other_groups_match_escnn_rank(name):
    G = get_group(name)
    rep_in, rep_out = 2 * G.trivial + G.standard, G.trivial + G.standard + G.standard.tensor(G.standard)
    x = POINT[: G.n]
    ours, escnn_rank = coverage(ImplicitKernel(rep_in, rep_out), x)
    assert ours == escnn_rank > 0


@pytest.mark.parametrize("name", ["SO(3)", "O(2)z"])
def test_coverage_holds_far_outside_the_radial_basis(name):
    G = get_group(name)
    kernel = ImplicitKernel(2 * G.trivial + G.standard, G.trivial + G.standard + G.standard.tensor(G.standard))
    ours, escnn_rank = coverage(kernel, 2.7 * POINT / POINT.norm())
    assert ours == escnn_rank > 0


def test_analytic_basis_satisfies_the_constraint():
    G = get_group("O(3)")
    rep_in, rep_out = G.standard, G.trivial + G.standard
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    g = G.sample(6, generator=generator)
    lhs = analytic_basis(rep_in, rep_out, torch.einsum("kij,kj->ki", g, x))
    rhs = rep_out(g)[:, None] @ analytic_basis(rep_in, rep_out, x) @ rep_in(g).transpose(1, 2)[:, None]
    assert relative_error(lhs, rhs) <= LOOSER_TOLERANCE["escnn_basis_3d"][torch.float64]


def test_rank_detects_a_missing_direction():
    values = torch.randn(10, 3, 3, dtype=torch.float64)
    values[:, 2, 2] = 0
    assert matrix_rank(values) == 8


@pytest.mark.parametrize("n", [2, 3])
def test_clifford_kernels_lie_in_the_span_of_escnn_basis(n):
    """O(2,0)/O(3,0) multivector kernels against escnn's O(2)/O(3) basis, transported by the change
    of basis from the grades to escnn's irreps (for O(3): 0e + 1o + 1e + 0o)."""
    G = get_group(f"O({n},0)")
    rep_in, rep_out = G.multivector + G.grade(1), G.grades(0, 2) + G.multivector
    kernel = ImplicitKernel(rep_in, rep_out).double()
    generator = torch.Generator().manual_seed(n)
    x = torch.randn(12, n, generator=generator, dtype=torch.float64)
    basis = analytic_basis(rep_in, rep_out, x)
    with torch.no_grad():
        assert span_residual(kernel(x), basis) <= 1e-6
    ours, escnn_rank = coverage(kernel, x[0])
    assert ours == escnn_rank == stabiliser_hom_dim(rep_in, rep_out, x[0])
    # the residual can fail: a random matrix is not in the span
    assert span_residual(torch.randn(12, rep_out.size, rep_in.size, dtype=torch.float64), basis) > 0.1


def test_span_residual_measures_the_distance_to_the_span():
    basis = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    basis[0, 0, 0, 0] = basis[0, 1, 1, 1] = 1.0
    values = torch.tensor([[[3.0, 0.0], [4.0, 0.0]]], dtype=torch.float64)
    assert span_residual(values, basis) == pytest.approx(0.8)
