"""The solver's persistent store: a problem solved once is read back in place of a new solve, a
damaged or wrong file is solved again, and the store can be turned off."""

import pytest
import torch

from groups import get_group, solver, solver_cache
from implicit_kernels.rep_strings import parse_rep


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv(solver_cache.ENVIRONMENT, str(tmp_path))
    return tmp_path


def _problem():
    G = get_group("SO+(1,3)-mat")
    return parse_rep(G, "T(1,0)+T(0,0)"), parse_rep(G, "T(2,0)"), G.generators()


def _solve():
    source, target, (lie, discrete) = _problem()
    return solver.equivariant_maps(source, target, lie, discrete)


def _refuse(*args, **kwargs):
    raise AssertionError("solved again")


def test_a_solved_problem_is_read_back_without_solving(store, monkeypatch):
    first = _solve()
    assert len(list(store.glob("*.pt"))) == 1 and len(first) > 0
    monkeypatch.setattr(solver, "intertwiner_basis", _refuse)
    assert torch.equal(_solve(), first)


@pytest.mark.parametrize("damage", ["perturbed map", "dropped orthonormality", "not a tensor"])
def test_a_damaged_file_is_solved_again(store, damage):
    first = _solve()
    (path,) = store.glob("*.pt")
    if damage == "perturbed map":
        wrong = first.clone()
        wrong[0] += 1e-3 * torch.randn(wrong[0].shape, generator=torch.Generator().manual_seed(0), dtype=wrong.dtype)
        torch.save(wrong, path)
    elif damage == "dropped orthonormality":
        torch.save(2 * first, path)
    else:
        path.write_bytes(b"not a tensor")
    assert torch.equal(_solve(), first)
    assert torch.equal(torch.load(path, weights_only=True), first)


def test_satisfies_catches_one_map_that_breaks_a_constraint():
    source, target, (lie, discrete) = _problem()
    basis = _solve()
    pairs = [(source.differential(A), target.differential(A)) for A in lie]
    assert solver_cache.satisfies(basis, pairs, 1e-9)
    # rotate the last map slightly out of the solution space, keeping the basis orthonormal
    outside = torch.randn(basis.shape[1:], generator=torch.Generator().manual_seed(1), dtype=basis.dtype)
    outside -= torch.einsum("kij,kab,ab->ij", basis, basis, outside)
    outside /= outside.norm()
    tilted = basis.clone()
    tilted[-1] = (basis[-1] + 1e-4 * outside) / (1 + 1e-8) ** 0.5
    assert not solver_cache.satisfies(tilted, pairs, 1e-9)


def test_off_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(solver_cache.ENVIRONMENT, "off")
    monkeypatch.chdir(tmp_path)
    assert solver_cache.directory() is None
    _solve()
    assert not any(tmp_path.iterdir())
