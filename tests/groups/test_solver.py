"""The numerical intertwiner solver: known solution spaces and a rank that does not depend on the
tolerance."""

import math

import pytest
import torch

from groups import get_group
from groups.matrix import SymmetricPowerRep
from groups.solver import eigenspaces, equivariant_maps, intertwiner_basis, null_space, screen
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


def kronecker_null_space(pairs, size_in, size_out):
    """The oracle: an orthonormal basis of the ``vec W`` (row-major) with ``M_out W = W M_in`` for
    every pair, from one SVD of the stacked ``(out * in)``-sized constraint matrices
    ``M_out (x) I - I (x) M_in^T``; no eigenspaces, no screen."""
    stacked = torch.cat([torch.kron(m_out, torch.eye(size_in, dtype=torch.float64))
                         - torch.kron(torch.eye(size_out, dtype=torch.float64), m_in.T.contiguous())
                         for m_in, m_out in pairs])
    _, s, vh = torch.linalg.svd(stacked)
    return vh[int((s > 1e-9 * s[0]).sum()):].T


def solver_problem(name, source, target):
    G = get_group(name)
    source, target = source(G), target(G)
    lie, discrete = G.generators()
    pairs = [(source.differential(A), target.differential(A)) for A in lie]
    pairs += list(zip(source.matrices(discrete), target.matrices(discrete)))
    return source, target, lie, discrete, pairs


# non-orthogonal reps (Lorentz duals and mixed tensors), groups without -I (SO(3), SO(5), C4, C3z),
# finite groups and one with a discrete generator beside its Lie algebra
SOLVER_PROBLEMS = {
    "Lorentz T(1,0) -> T(2,1)": ("SO+(1,3)-mat", lambda G: G.T(1, 0), lambda G: G.T(2, 1)),
    "Lorentz Sym^2 -> T(1,1)": ("SO+(1,3)-mat", lambda G: SymmetricPowerRep(G, 2), lambda G: G.T(1, 1)),
    "Lorentz Sym^2 -> T(0,2)": ("SO+(1,3)-mat", lambda G: SymmetricPowerRep(G, 2), lambda G: G.T(0, 2)),
    "O(3) Sym^4 -> T(2,0)": ("O(3)-mat", lambda G: SymmetricPowerRep(G, 4), lambda G: G.T(2, 0)),
    "SO(3) T(1,0) -> T(2,0)": ("SO(3)-mat", lambda G: G.T(1, 0), lambda G: G.T(2, 0)),
    "SO(5) Sym^2 -> T(2,0)": ("SO(5)-mat", lambda G: SymmetricPowerRep(G, 2), lambda G: G.T(2, 0)),
    "O(2) Sym^2 -> T(1,1)": ("O(2)-mat", lambda G: SymmetricPowerRep(G, 2), lambda G: G.T(1, 1)),
    "C4 Sym^2 -> T(1,1)": ("C4-mat", lambda G: SymmetricPowerRep(G, 2), lambda G: G.T(1, 1)),
    "C3z T(1,0) -> T(2,0)": ("C3z-mat", lambda G: G.T(1, 0), lambda G: G.T(2, 0)),
    "C3z T(2,0) -> T(2,1)": ("C3z-mat", lambda G: G.T(2, 0), lambda G: G.T(2, 1)),
    "C4 Sym^4 -> T(2,2)": ("C4-mat", lambda G: SymmetricPowerRep(G, 4), lambda G: G.T(2, 2)),
}


@pytest.mark.parametrize("problem", SOLVER_PROBLEMS)
def test_equivariant_maps_span_the_null_space_of_the_stacked_constraints(problem):
    source, target, lie, discrete, pairs = solver_problem(*SOLVER_PROBLEMS[problem])
    expected = kronecker_null_space(pairs, source.size, target.size)
    found = equivariant_maps(source, target, lie, discrete).reshape(-1, target.size * source.size).T
    assert found.shape == expected.shape and expected.shape[1] > 0
    # same subspace: the projectors agree
    assert float((found @ found.T - expected @ expected.T).abs().max()) <= TOLERANCE[torch.float64]


@pytest.mark.parametrize("problem", SOLVER_PROBLEMS)
def test_the_eigen_filter_path_spans_the_null_space_of_the_stacked_constraints(problem):
    """``intertwiner_basis`` without candidates (eigen filter of a random combination of all pairs,
    screen, refinement), which ``equivariant_maps`` skips for problems of few unknowns."""
    source, target, _, _, pairs = solver_problem(*SOLVER_PROBLEMS[problem])
    expected = kronecker_null_space(pairs, source.size, target.size)
    found = intertwiner_basis(pairs, source.size, target.size)
    assert found.shape == expected.shape and expected.shape[1] > 0
    assert float((found @ found.T - expected @ expected.T).abs().max()) <= TOLERANCE[torch.float64]


@pytest.mark.parametrize("problem", SOLVER_PROBLEMS)
def test_the_screen_keeps_every_solution_and_little_else(problem):
    """The screen narrows the eigenvalue-matched candidates (often thousands of directions) to a
    subspace that still holds every solution of the oracle, and at most twice as many directions."""
    source, target, lie, discrete, pairs = solver_problem(*SOLVER_PROBLEMS[problem])
    weights = torch.randn(len(lie), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    X = (weights[:, None, None] * lie).sum(0)
    tol = 1e-6 * max(1.0, float(source.differential(X).norm()), float(target.differential(X).norm()))
    screened = screen(target.lie_eigenspaces(X, tol), eigenspaces(source.differential(X).T, tol), pairs, tol)
    expected = kronecker_null_space(pairs, source.size, target.size)
    assert screened is not None and screened.shape[1] <= max(2 * expected.shape[1], 1)
    assert torch.allclose(screened.T @ screened, torch.eye(screened.shape[1], dtype=torch.float64), atol=1e-12)
    # every solution lies in the screened subspace
    assert torch.allclose(screened @ (screened.T @ expected), expected, rtol=0, atol=TOLERANCE[torch.float64])
