"""The matrix-group kernel network: exact equivariance, completeness for every built-in group,
cross-checks with escnn's analytic bases and agreement of the three families on O(3)."""

import pytest
import torch
from conftest import MATRIX_GROUPS, matrix_reps

from groups import get_group
from implicit_kernels import ImplicitKernel
from implicit_kernels.analytic import analytic_basis, implicit_rank, matrix_rank, span_residual, stabiliser_hom_dim
from implicit_kernels.equivariance import kernel_equivariance_error


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-9)])
def test_kernel_constraint(matrix_group, dtype, tolerance, generator):
    G = matrix_group
    kernel = ImplicitKernel(*matrix_reps(G)).to(dtype)
    g = G.sample(32, generator=generator)
    x = torch.randn(32, G.n, generator=generator, dtype=torch.float64)
    assert kernel_equivariance_error(kernel, g, x.to(dtype)) <= tolerance


@pytest.mark.parametrize("name", MATRIX_GROUPS)
def test_default_kernel_is_complete(name):
    G = get_group(name)
    rep_in, rep_out = matrix_reps(G)
    x = torch.randn(G.n, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    kernel = ImplicitKernel(rep_in, rep_out)
    assert implicit_rank(kernel, x) == stabiliser_hom_dim(rep_in, rep_out, x) > 0


def test_attributes_enter_equivariantly(generator):
    G = get_group("SO+(1,3)-mat")
    kernel = ImplicitKernel(G.standard, G.trivial + G.standard, attr=G.trivial + G.standard).double()
    g = G.sample(16, generator=generator)
    x, a = torch.randn(2, 16, 4, generator=generator, dtype=torch.float64)
    a = torch.cat([a[:, :1], a], dim=1)
    assert kernel_equivariance_error(kernel, g, x, a) <= 1e-9


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
