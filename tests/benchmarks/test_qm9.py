"""QM9 benchmark: the data against physics (units, the gap, the principal axes), the readout's
units, the models' equivariance in float64 and float32 (invariants, the dipole vector, the
polarizability tensor) and smoke runs of the training script on a few hundred molecules."""

import json

import numpy as np
import pytest
import torch
from conftest import LOOSER_TOLERANCE

from benchmarks import o3
from benchmarks.qm9 import data, train
from benchmarks.qm9.models import CHARGE_UNIT, EGNN, MessagePassing, SteerableQM9, molecule_outputs
from groups import get_group
from implicit_kernels.equivariance import TOLERANCE, relative_error

TASKS = ("homo", "u0", "dipole", "polarizability")
# QM9 lists energies to 1e-4 Hartree (2.7 meV): HOMO, LUMO and gap agree to that rounding
ROUNDING_MEV = 1e-4 * data.HARTREE_MEV


@pytest.fixture(scope="module")
def qm9():
    return data.load_qm9()


def _g(seed: int, proper: bool = False) -> torch.Tensor:
    g = get_group("SO(3)").sample(1, generator=torch.Generator().manual_seed(seed))[0].double()
    return g if proper else -g


def test_all_molecules_and_cormorants_split_sizes(qm9):
    split = data.cormorant_split(len(qm9))
    assert len(qm9) == sum(data.SPLIT_SIZES) and [len(part) for part in split.values()] == list(data.SPLIT_SIZES)
    assert torch.equal(torch.cat(list(split.values())).sort().values, torch.arange(len(qm9)))
    assert bool((qm9.index.diff() > 0).all())
    np.random.seed(123)
    before = np.random.rand()
    np.random.seed(123)
    data.cormorant_split(len(qm9))  # leaves numpy's global generator alone
    assert np.random.rand() == before


def test_energies_in_mev_gap_is_lumo_minus_homo_and_atomization_energies(qm9):
    gap = qm9.target("lumo") - qm9.target("homo")
    assert float((gap - qm9.target("gap")).abs().max()) <= 1.01 * ROUNDING_MEV
    # methane, GDB-9 index 1: U0 = -40.47893 Ha, minus C and 4 H of the free-atom references
    methane = (-40.47893 - (-37.846772 + 4 * -0.500273)) * data.HARTREE_MEV
    assert abs(float(qm9.target("u0")[0]) - methane) <= 1e-6
    assert bool((qm9.target("u0") < 0).all())


def test_batches_and_subsets_keep_each_molecule_whole(qm9):
    molecules = torch.tensor([5, 0, 77])
    batch = qm9.batch(molecules)
    counts = (qm9.offsets[molecules + 1] - qm9.offsets[molecules]).tolist()
    assert torch.equal(batch["batch"], torch.arange(3).repeat_interleave(torch.tensor(counts)))
    first = int(qm9.offsets[77])
    assert torch.equal(batch["positions"][-counts[2]:], qm9.positions[first:first + counts[2]])
    subset = qm9.subset(molecules)
    assert torch.equal(subset.batch(torch.arange(3))["positions"], batch["positions"])
    assert torch.equal(subset.targets, qm9.targets[molecules])


def test_principal_axes_are_orthonormal_ordered_and_rotate_with_the_molecule(qm9):
    molecules = qm9.batch(torch.arange(100, 140))
    axes = molecules["axes"]
    eye = torch.eye(3, dtype=torch.float64).expand_as(axes)
    assert relative_error(axes.transpose(-1, -2) @ axes, eye) <= TOLERANCE[torch.float64]
    g = _g(3)
    moved = data.principal_axes(molecules["positions"] @ g.T + 1.0, molecules["species"], molecules["batch"], 40)
    # each axis up to its sign: |<g a, a'>| = 1
    overlap = (g @ axes * moved).sum(-2).abs()
    assert float((overlap - 1).abs().max()) <= 1e-8


@pytest.mark.parametrize("group", ["O(3)", "SO(3)"])
def test_cartesian_changes_of_basis_intertwine(group):
    Q, M = o3.rank2_change_of_basis(group), o3.vector_change_of_basis(group)
    v, w = torch.randn(5, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    for seed in range(3):
        g = _g(seed, proper=group == "SO(3)")
        tensor = torch.einsum("k,kab->ab", v, Q)
        assert relative_error(torch.einsum("k,kab->ab", o3.degree_irrep(group, 2)(g) @ v, Q),
                              g @ tensor @ g.T) <= TOLERANCE[torch.float64]
        assert relative_error(M @ o3.degree_irrep(group, 1)(g) @ w, g @ M @ w) <= TOLERANCE[torch.float64]
    gram = torch.einsum("kab,lab->kl", Q, Q)
    assert relative_error(gram, torch.eye(5, dtype=torch.float64)) <= TOLERANCE[torch.float64]


def test_readout_dipole_of_point_charges_in_debye():
    # +0.1 e and -0.1 e one Angstrom apart along z (and a neutral third atom): 0.1 e Angstrom = 0.4803 D
    positions = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [3.0, 1.0, 2.0]], dtype=torch.float64)
    charge = torch.tensor([[1.0], [-1.0], [0.0]], dtype=torch.float64) * 0.1 / CHARGE_UNIT
    atom = {"scalars": torch.zeros(3, 0, dtype=torch.float64), "charge": charge,
            "vector": torch.zeros(3, 3, dtype=torch.float64)}
    out = molecule_outputs(("dipole",), atom, positions, torch.zeros(3, dtype=torch.int64), 1)
    assert torch.allclose(out["dipole"], torch.tensor([[0.0, 0.0, 0.1 * 4.803204]], dtype=torch.float64), atol=1e-12)


MODELS = {
    "implicit-o3-all-features": lambda: SteerableQM9(TASKS, scalars=4, per_degree=2, layers=2, edge_features=True,
                                                     atom_features=True, copies=2, mlp_width=8),
    "implicit-so3": lambda: SteerableQM9(TASKS, group="SO(3)", scalars=4, per_degree=2, layers=2, atom_features=True,
                                         copies=2, mlp_width=8),
    "analytic-o3": lambda: SteerableQM9(TASKS, scalars=4, per_degree=2, layers=2, basis="analytic", edge_features=True),
    "egnn": lambda: EGNN(("homo", "dipole"), hidden=16, layers=2),
}


def _moved_outputs(model, molecules, g):
    moved = dict(molecules, positions=molecules["positions"] @ g.T + torch.tensor([1.0, -2.0, 0.5], dtype=g.dtype))
    with torch.no_grad():
        expected, actual = model(molecules), model(moved)
    if "dipole" in expected:
        expected["dipole"] = expected["dipole"] @ g.T
    if "polarizability" in expected:
        expected["polarizability"] = g @ expected["polarizability"] @ g.T
    return torch.cat([v.flatten() for v in expected.values()]), torch.cat([actual[k].flatten() for k in expected])


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_models_are_equivariant(name, dtype, qm9):
    """Rotations (with a reflection for the O(3) models) and translations, on three molecules:
    invariant targets unchanged, the dipole rotated, the polarizability ``g P g^T``."""
    torch.manual_seed(0)
    model = MODELS[name]().to(dtype)
    molecules = qm9.batch(torch.tensor([30, 1000, 20000]))
    molecules["positions"] = molecules["positions"].to(dtype)
    g = _g(7, proper=name == "implicit-so3").to(dtype)
    expected, actual = _moved_outputs(model, molecules, g)
    tolerance = LOOSER_TOLERANCE["escnn_basis_3d"] if name.startswith("analytic") else TOLERANCE
    assert relative_error(actual, expected) <= tolerance[dtype]


def test_the_check_catches_the_non_equivariant_baseline(qm9):
    torch.manual_seed(0)
    model = MessagePassing(TASKS, hidden=16, layers=2).double()
    molecules = qm9.batch(torch.tensor([30, 1000, 20000]))
    expected, actual = _moved_outputs(model, molecules, _g(7))
    assert relative_error(actual, expected) > 1e-3


TINY = ["--sizes", "48", "16", "16", "--batch-size", "16", "--eval-every", "1"]


def test_training_records_every_task_and_resumes(tmp_path):
    out, checkpoint = tmp_path / "run.json", tmp_path / "run.pt"
    common = [*TINY, "--features", "atom", "--tasks", "homo", "u0", "alpha", "dipole", "polarizability",
              "--checkpoint", str(checkpoint), "--out", str(out)]
    first = train.main([*common, "--epochs", "1"])
    resumed = train.main([*common, "--epochs", "2", "--resume"])
    record = json.loads(out.read_text())
    assert record["tasks"] == ["homo", "u0", "alpha", "dipole", "polarizability"]
    assert [h["epoch"] for h in resumed["history"]] == [1, 2] and first["history"] == resumed["history"][:1]
    for key in ("test_homo", "test_u0", "test_alpha", "test_mu", "test_polarizability", "test_alpha_trace"):
        assert np.isfinite(record[key]) and record[key] > 0
    assert record["equivariance_error"] <= 10 * TOLERANCE[torch.float32]


@pytest.mark.parametrize("model", ["analytic", "egnn", "mpnn"])
def test_peers_train_on_the_same_data(model):
    record = train.main([*TINY, "--model", model, "--tasks", "homo", "dipole", "--epochs", "1"])
    assert np.isfinite(record["test_homo"]) and np.isfinite(record["test_mu"])
    if model == "mpnn":
        assert record["equivariance_error"] > 1e-3
    else:
        assert record["equivariance_error"] <= 10 * TOLERANCE[torch.float32]


def test_egnn_refuses_a_rank_2_output():
    with pytest.raises(ValueError, match="polarizability"):
        EGNN(("homo", "polarizability"))


def test_report_tables_and_plot_from_records(tmp_path):
    from benchmarks.qm9 import report

    runs = tmp_path / "runs"
    for model, seed in (("implicit", 0), ("implicit", 1), ("egnn", 0)):
        train.main([*TINY, "--model", model, "--epochs", "1", "--seed", str(seed),
                    "--out", str(runs / f"{model}_s{seed}.json")])
    train.main([*TINY, "--epochs", "1", "--tasks", "homo", "polarizability", "--out", str(runs / "all_s0.json")])
    markdown = tmp_path / "RESULTS.md"
    report.main(["--results", str(runs), str(tmp_path / "missing"), "--markdown", str(markdown)])
    text = markdown.read_text()
    assert text.count("<!-- qm9:begin -->") == 1
    assert "| O(3) implicit kernels, offset only | " in text and "| EGNN (ours) | " in text
    assert "| polarizability tensor (mean over its 9 components, principal axes) | bohr^3 |" in text
    assert (tmp_path / "results" / "learning_curves.png").stat().st_size > 0
