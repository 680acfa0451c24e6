"""The numerical intertwiner solver: known solution spaces and a rank that does not depend on the
tolerance."""

import math

import pytest
import torch

from groups import get_group
from groups.solver import intertwiner_basis, null_space
from implicit_kernels.equivariance import TOLERANCE, relative_error


def test_maps_commuting_with_a_rotation_are_rotation_scalings():
    c, s = math.cos(0.7), math.sin(0.7)
    rotation = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    basis = intertwiner_basis([(rotation, rotation)], 2, 2)
    assert basis.shape == (4, 2)
    for w in basis.T:
        W = w.reshape(2, 2)
        assert relative_error(W @ rotation, rotation @ W) <= TOLERANCE[torch.float64]
    reflection = torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))
    assert intertwiner_basis([(rotation, rotation), (reflection, reflection)], 2, 2).shape == (4, 1)


def test_null_space_is_orthonormal_and_exact():
    matrix = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], dtype=torch.float64)
    basis = null_space(matrix, atol=1e-10)
    assert basis.shape == (3, 2)
    assert torch.allclose(basis.T @ basis, torch.eye(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(matrix @ basis, torch.zeros(2, 2, dtype=torch.float64), atol=1e-12)


def test_solver_rank_is_stable_under_the_tolerance():
    G = get_group("O(1,3)")
    x = torch.tensor([1.3, 0.2, -0.5, 0.4], dtype=torch.float64)
    lie, discrete = G.stabiliser_generators(x)
    rep = G.multivector
    pairs = [(rep.differential(A), rep.differential(A)) for A in lie]
    pairs += list(zip(rep.matrices(discrete), rep.matrices(discrete)))
    dims = {intertwiner_basis(pairs, 16, 16, rtol).shape[1] for rtol in (1e-6, 1e-8, 1e-10, 1e-12)}
    assert dims == {16}


def eigen_residual(matrix, spaces):
    """Largest ``|M u - value u|`` over the eigenspaces' columns, relative to ``|M|``."""
    worst = max(float((matrix.to(torch.complex128) @ basis - value * basis).abs().max()) for value, basis in spaces)
    return worst / float(matrix.abs().max())


@pytest.mark.parametrize("name, build", [
    ("SO+(1,3)-mat", lambda G: G.T(2, 0)),
    ("SO+(1,3)-mat", lambda G: G.T(1, 1)),
    ("O(3)-mat", lambda G: G.T(0, 2)),
    ("SO(5)-mat", lambda G: G.T(1, 0) + G.T(0, 1)),
    ("SO+(1,3)-mat", lambda G: G.T(1, 0).tensor(G.T(0, 1) + G.T(0, 0))),
    ("SO+(1,3)-mat", lambda G: G.T(2, 0).dual()),
], ids=["T(2,0)", "T(1,1)", "T(0,2)", "sum", "product of a sum", "dual"])
def test_composed_lie_eigenspaces_are_complete_eigenspaces_of_the_differential(name, build, generator):
    """Reps built from others compose their eigenspaces from the parts' (Kronecker products for
    tensor products); checked against the matrix ``d rho(X)`` of a random Lie-algebra element:
    every column is an eigenvector of its value, the values are distinct, and the columns span the
    rep's space (d rho(X) is diagonalisable)."""
    G = get_group(name)
    lie, _ = G.generators()
    X = (torch.randn(len(lie), generator=generator, dtype=torch.float64)[:, None, None] * lie).sum(0)
    rep = build(G)
    spaces = rep.lie_eigenspaces(X, 1e-8)
    assert eigen_residual(rep.differential(X), spaces) < 1e-12
    assert sum(basis.shape[1] for _, basis in spaces) == rep.size
    assert torch.linalg.matrix_rank(torch.cat([basis for _, basis in spaces], dim=1)) == rep.size
    values = [value for value, _ in spaces]
    assert all(abs(a - b) > 1e-8 for i, a in enumerate(values) for b in values[:i])
