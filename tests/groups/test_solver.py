"""The numerical intertwiner solver: known solution spaces and a rank that does not depend on the
tolerance."""

import math

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
