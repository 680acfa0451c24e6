"""Electron-density benchmark: pyscf's coefficients against physics (electron count, rotation by
our irreps), the models' equivariance in float64 for every output degree, and smoke runs of the
training script at a minimal orbital basis."""

import json

import numpy as np
import pytest
import torch

from benchmarks.density import clusters, quantum, train
from benchmarks.density.models import DensityNet, E3nnGatePoints, e3nn_change_of_basis
from benchmarks.o3 import irrep
from groups import get_group
from implicit_kernels.equivariance import TOLERANCE, relative_error

LAYOUT = quantum.shell_layout(["H", "O"])
# the Coulomb fit of the density preserves its charge only approximately: the monomer's fitted
# density integrates to 10.0019 electrons (pyscf grid level 3)
ELECTRON_TOLERANCE = 5e-3
# rotated molecules converge to slightly different self-consistent densities (pyscf's default
# convergence): the coefficients agree to about 1e-8 of their largest entry
SCF_TOLERANCE = 1e-6


def _monomer_coefficients(positions: torch.Tensor):
    mol = quantum.molecule(positions, clusters.elements(1), "sto-3g")
    auxmol, coefficients = quantum.fitted_density(mol, quantum.LEVEL["xc"], quantum.LEVEL["auxbasis"])
    return mol, auxmol, coefficients


def _improper(seed: int) -> torch.Tensor:
    g = get_group("O(3)").sample(1, generator=torch.Generator().manual_seed(seed))[0]
    return -g * torch.det(g)


def test_fitted_monomer_density_integrates_to_its_electrons():
    mol, auxmol, coefficients = _monomer_coefficients(clusters.monomer())
    points, weights = quantum.integration_grid(mol, level=3)
    electrons = weights @ (auxmol.eval_gto("GTOval_sph", points) @ coefficients)
    assert abs(electrons - 10) <= ELECTRON_TOLERANCE * 10


def test_coefficients_of_a_moved_monomer_transform_by_our_irreps():
    x = clusters.monomer()
    _, auxmol, c = _monomer_coefficients(x)
    g = _improper(3)
    _, moved_auxmol, moved_c = _monomer_coefficients(x @ g.T + torch.tensor([0.3, -1.0, 0.2], dtype=torch.float64))
    ours, moved = quantum.to_irreps(auxmol, c, LAYOUT), quantum.to_irreps(moved_auxmol, moved_c, LAYOUT)
    assert relative_error(moved, ours @ LAYOUT.rep()(g).T) <= SCF_TOLERANCE
    # the map to our irreps is invertible on each element's shells
    assert np.abs(quantum.from_irreps(auxmol, ours, LAYOUT) - c).max() <= 1e-12


@pytest.fixture
def float64_default():
    """e3nn builds its matrices in the default dtype."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(default)


@pytest.mark.parametrize("l", range(5))
def test_harmonic_and_e3nn_changes_of_basis_are_orthogonal_intertwiners(l, float64_default):
    from e3nn import o3

    m = quantum.harmonic_change_of_basis(l)
    assert np.abs(m @ m.T - np.eye(2 * l + 1)).max() <= 1e-12
    rotations = get_group("O(3)").sample(3, generator=torch.Generator().manual_seed(10 + l))
    e3nn_m = e3nn_change_of_basis(l)
    for g in rotations:
        theirs = o3.Irrep(l, (-1) ** l).D_from_matrix(g)
        assert relative_error(e3nn_m @ irrep(l)(g) @ e3nn_m.T, theirs) <= TOLERANCE[torch.float64]


def test_clusters_keep_molecules_rigid_and_apart():
    generator = torch.Generator().manual_seed(0)
    for molecules in (1, 2, 4):
        x = clusters.water_cluster(molecules, generator)
        reference = torch.cdist(clusters.monomer(), clusters.monomer())
        for k in range(molecules):
            own = x[3 * k : 3 * k + 3]
            assert torch.allclose(torch.cdist(own, own), reference, atol=1e-12)
            others = torch.cat([x[: 3 * k], x[3 * k + 3 :]])
            if len(others):
                assert torch.cdist(own, others).min() >= min(clusters.MIN_DISTANCE.values())


def _atoms(dtype):
    """Six clusters of 1 to 4 molecules, 39 atoms: enough for torch.cdist's matmul path."""
    generator = torch.Generator().manual_seed(0)
    molecules = torch.tensor([1, 2, 3, 4, 1, 2])
    positions = torch.cat([clusters.water_cluster(int(k), generator) for k in molecules]).to(dtype)
    return {"positions": positions, "species": torch.tensor([1, 0, 0] * int(molecules.sum())),
            "batch": torch.arange(len(molecules)).repeat_interleave(3 * molecules)}


@pytest.mark.parametrize("model_class", [DensityNet, E3nnGatePoints])
@pytest.mark.parametrize(("hidden_lmax", "output_lmax"), [(0, 4), (2, 1), (1, 4)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_models_are_o3_equivariant(model_class, hidden_lmax, output_lmax, dtype):
    """Rotations with a reflection and translations, on a batch of two clusters (in float32 the
    graph must not change under the move: e3nn's own cdist graph did)."""
    torch.manual_seed(0)
    options = {"copies": 2, "mlp_width": 8} if model_class is DensityNet else {}
    model = model_class(LAYOUT, output_lmax, hidden_lmax, scalars=4, per_degree=2, layers=2, **options).to(dtype)
    atoms = _atoms(dtype)
    g = _improper(5)
    moved = dict(atoms, positions=atoms["positions"] @ g.to(dtype).T + torch.tensor([1.0, -2.0, 0.5], dtype=dtype))
    with torch.no_grad():
        expected = model(atoms) @ model.rep_out(g).to(dtype).T
        # e3nn builds its Clebsch-Gordan constants in the default dtype (float32 here) before
        # .double(): errors up to 3.5e-9 measured
        tolerance = TOLERANCE[dtype] if model_class is DensityNet or dtype == torch.float32 else 1e-7
        assert relative_error(model(moved), expected) <= tolerance


TINY = ["--sizes", "2", "1", "1", "--basis", "sto-3g", "--batch-size", "2", "--eval-every", "1",
        "--grid-level", "0"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("density_cache"))


def test_training_records_errors_feature_sizes_and_resumes(tmp_path, cache):
    out, checkpoint = tmp_path / "run.json", tmp_path / "run.pt"
    common = [*TINY, "--cache", cache, "--hidden-lmax", "1", "--output-lmax", "1",
              "--checkpoint", str(checkpoint), "--out", str(out)]
    first = train.main([*common, "--epochs", "1"])
    resumed = train.main([*common, "--epochs", "2", "--resume"])
    record = json.loads(out.read_text())
    assert record == json.loads(json.dumps(resumed))
    assert [h["epoch"] for h in resumed["history"]] == [1, 2] and first["history"] == resumed["history"][:1]
    for key in ("test_eps", "test_eps_l0", "test_eps_l1", "test_mse_at_best_val"):
        assert np.isfinite(record[key]) and record[key] > 0
    # degrees above the output's: the target's part counts as error, nothing is predicted
    assert record["test_eps_l2"] > 0 and record["equivariance_error"] <= TOLERANCE[torch.float32] * 10
    labels = {row["label"] for row in record["feature_sizes"]}
    assert labels == {"l=0", "l=1"}
    # the resumed process validated once, after epoch 2; the first run's rows carry its epoch 1
    assert {row["step"] for row in record["feature_sizes"]} == {2}
    assert {row["step"] for row in first["feature_sizes"]} == {1}


def test_e3nn_peer_trains_on_the_same_data(cache):
    record = train.main([*TINY, "--cache", cache, "--model", "e3nn", "--hidden-lmax", "1",
                         "--output-lmax", "4", "--epochs", "1"])
    assert np.isfinite(record["test_eps"]) and record["feature_sizes"] is None
    assert record["equivariance_error"] <= TOLERANCE[torch.float32] * 10
