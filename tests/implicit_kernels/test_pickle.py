"""Saving models: pickle, copy.deepcopy and torch.save / torch.load of layers of every family, groups
pickled by their registered name (or by definition), compared by definition, and escnn reps."""

import copy
import io
import pickle
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from escnn import group as escnn_group
from escnn import gspaces

from groups import MatrixGroup, get_group, register_group
from groups.clifford import PseudoOrthogonalGroup
from groups.compact import CompactGroup
from groups.matrix.builtins import reflection
from implicit_kernels import GridConv, PointConv
from implicit_kernels.equivariance import complete_graph

REGISTERED_USER = "SpinningDisc-pickle-test"
GROUPS = ["O(3)", "SO(2)", "C8", "O(1,3)", "O(3)-mat", "SO+(1,3)-mat", REGISTERED_USER, "unregistered"]


def spinning_disc(name: str) -> MatrixGroup:
    """The README's user group: rotations about z and the mirror z -> -z."""
    spin = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    return MatrixGroup(3, discrete_generators=torch.diag(torch.tensor([1.0, 1.0, -1.0])), lie_algebra=spin, name=name)


register_group(REGISTERED_USER, spinning_disc(REGISTERED_USER), overwrite=True)
UNREGISTERED = spinning_disc("unregistered")


def group_named(name: str):
    return UNREGISTERED if name == "unregistered" else get_group(name)


@cache
def layer(name: str, kind: str) -> torch.nn.Module:
    G = group_named(name)
    torch.manual_seed(0)
    rep_in, rep_out = G.trivial + G.standard, G.standard + G.trivial
    if kind == "point":
        return PointConv(rep_in, rep_out, radius=1.0, avg_degree=4).double()
    return GridConv(rep_in, rep_out, kernel_size=3).double()


def run(module: torch.nn.Module, kind: str) -> torch.Tensor:
    G = module.group
    generator = torch.Generator().manual_seed(1)
    if kind == "point":
        f = torch.randn(10, module.rep_in.size, generator=generator, dtype=torch.float64)
        pos = torch.randn(10, G.n, generator=generator, dtype=torch.float64)
        return module(f, pos, complete_graph(10))
    return module(torch.randn(1, module.rep_in.size, *([5] * G.n), generator=generator, dtype=torch.float64))


def torch_round_trip(module):
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


ROUND_TRIPS = {
    "pickle": lambda module: pickle.loads(pickle.dumps(module)),
    "deepcopy": copy.deepcopy,
    "torch.save": torch_round_trip,
}
CASES = [(name, kind) for name in GROUPS for kind in ("point", "grid") if kind == "point" or group_named(name).n <= 3]


@pytest.mark.parametrize("how", ROUND_TRIPS)
@pytest.mark.parametrize("name, kind", CASES)
def test_layer_round_trips_keep_outputs_and_mix_with_the_registry(name, kind, how):
    original = layer(name, kind)
    restored = ROUND_TRIPS[how](original)
    assert restored is not original
    assert torch.equal(run(restored, kind), run(original, kind))
    G = group_named(name)
    assert restored.group == G and restored.rep_in == original.rep_in
    mixed = restored.rep_in + (G if name == "unregistered" else get_group(name)).trivial
    assert mixed == original.rep_in + G.trivial
    if name != "unregistered":  # registered groups come back as the registered object itself
        assert restored.group is G


@pytest.mark.parametrize("name", GROUPS)
def test_groups_pickle_by_name_and_copy_to_themselves(name):
    G = group_named(name)
    assert copy.copy(G) is G and copy.deepcopy(G) is G
    restored = pickle.loads(pickle.dumps(G))
    assert restored == G and hash(restored) == hash(G)
    assert (restored is G) == (name != "unregistered")


def test_equality_is_by_definition():
    assert spinning_disc("unregistered") == UNREGISTERED
    assert spinning_disc("other-name") != UNREGISTERED
    tilted = MatrixGroup(3, discrete_generators=reflection(3, 0), lie_algebra=UNREGISTERED.lie, name="unregistered")
    assert tilted != UNREGISTERED
    assert PseudoOrthogonalGroup(1, 3) == get_group("O(1,3)")
    assert PseudoOrthogonalGroup(1, 3, max_rapidity=2.0) != get_group("O(1,3)")
    twin = CompactGroup("O(3)", gspaces.flipRot3dOnR3())
    assert twin == get_group("O(3)") and twin is not get_group("O(3)")
    assert pickle.loads(pickle.dumps(twin)) is get_group("O(3)")
    assert (twin.standard + get_group("O(3)").trivial).size == 4
    assert get_group("O(3)") != get_group("SO(3)") and get_group("O(3)") != get_group("O(3)-mat")


def test_escnn_reps_round_trip_with_their_change_of_basis():
    G = get_group("O(3)")
    q = np.random.default_rng(0).normal(size=(4, 4)) + 3 * np.eye(4)  # not orthogonal
    skewed = G.from_escnn(escnn_group.Representation(G.escnn_group, "skewed-pickle-test", [(0, 0), (1, 1)], q))
    g = G.sample(3, generator=torch.Generator().manual_seed(0))
    for rep in (skewed, G.standard, G.irrep(0, 2), 2 * G.trivial + skewed):
        restored = pickle.loads(pickle.dumps(rep))
        assert restored == rep and torch.equal(restored(g), rep(g))
        assert copy.deepcopy(rep) == rep
    regular = get_group("C8").regular
    restored = pickle.loads(pickle.dumps(regular))
    assert restored.representation is regular.representation  # escnn's registered "regular" itself
    assert restored.representation.supported_nonlinearities == regular.representation.supported_nonlinearities


def test_an_unpicklable_membership_is_named():
    G = MatrixGroup(3, discrete_generators=reflection(3, 2), lie_algebra=UNREGISTERED.lie, name="with-lambda",
                    membership=lambda g: g[:, 2, 2].abs() > 0.5)
    with pytest.raises(pickle.PicklingError, match=r"membership=.*cannot be pickled.*register_group"):
        pickle.dumps(G)
    register_group("with-lambda", G, overwrite=True)
    assert pickle.loads(pickle.dumps(G)) is G


def test_a_saved_model_loads_in_a_fresh_process(tmp_path):
    path = tmp_path / "model.pt"
    model = layer("O(3)", "point")
    inputs = (torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 3, dtype=torch.float64), complete_graph(10))
    torch.save({"model": model, "inputs": inputs, "output": model(*inputs)}, path)
    script = (
        "import sys, torch\n"
        "from groups import get_group\n"
        "saved = torch.load(sys.argv[1], weights_only=False)\n"
        "model = saved['model']\n"
        "assert torch.equal(model(*saved['inputs']), saved['output'])\n"
        "assert model.group is get_group('O(3)')\n"
        "print((model.rep_in + get_group('O(3)').trivial).size)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"
