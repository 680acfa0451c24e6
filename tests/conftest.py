"""Shared fixtures: the compact and matrix groups under test and mixed (non-uniform) field types for each."""

import atexit
import os
import re
import shutil
import tempfile

import pytest
import torch

from groups import get_group
from implicit_kernels.equivariance import TOLERANCE

# the solver's persistent store (groups.solver_cache) starts empty in every pytest run, whatever
# this machine solved before; tests of the store point it elsewhere themselves
os.environ["IMPLICIT_KERNELS_CACHE"] = tempfile.mkdtemp(prefix="implicit-kernels-solver-")
atexit.register(shutil.rmtree, os.environ["IMPLICIT_KERNELS_CACHE"], ignore_errors=True)

# under pytest-xdist (`make test` runs one worker per core) each worker keeps its share of the
# cores, so that the workers' torch threads do not oversubscribe them
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

COMPACT_GROUPS = ["SO(2)", "O(2)", "C8", "D4", "SO(3)", "O(3)", "SO(2)z", "O(2)z", "Octa", "Ico"]


def mixed_reps(G):
    """Non-uniform field types: scalars + vector in, scalar + vector + rank-2 tensor out."""
    return 2 * G.trivial + G.standard, G.trivial + G.standard + G.standard.tensor(G.standard)


@pytest.fixture(params=COMPACT_GROUPS)
def group(request):
    return get_group(request.param)


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1234)


MATRIX_GROUPS = [
    "SO(2)-mat", "O(2)-mat", "SO(3)-mat", "O(3)-mat", "SO(4)-mat", "O(4)-mat", "SO(5)-mat", "O(5)-mat",
    "SO+(1,3)-mat", "O(1,3)-mat", "C4-mat", "D4-mat", "C3z-mat", "D4z-mat", "S4-mat", "C4h-mat",
]


def matrix_reps(G):
    """Tensor reps for the matrix family: scalar + vector in, vector + rank-2 tensor out (scalar +
    vector for the permutation groups, whose complete kernels need high polynomial degrees)."""
    rep_in = G.trivial + G.standard
    if re.fullmatch(r"S[0-9]-mat", G.name):
        return rep_in, G.trivial + G.standard
    return rep_in, G.standard + G.T(2, 0)


@pytest.fixture(params=MATRIX_GROUPS)
def matrix_group(request):
    return get_group(request.param)


LOOSER_TOLERANCE: dict[str, dict[torch.dtype, float]] = {
    # escnn's R2Conv/R3Conv sample their kernel bases in float32 whatever the module's dtype: chains
    # with them measured 5e-9 (SO(3)) to 2.3e-7 (D4) in float64, 3e-7 to 5e-7 in float32
    "escnn_conv": {torch.float64: 1e-5, torch.float32: 1e-5},
    # escnn's analytic 3D bases (basis="analytic", analytic_basis) carry float32-level constants:
    # measured 1e-8 to 5.3e-8 in float64 (2D bases: 2e-15, within TOLERANCE)
    "escnn_basis_3d": {torch.float64: 1e-6, torch.float32: 1e-5},
    # boosts make rho(g) ill-conditioned (entries ~ cosh(rapidity)^grade): float32 errors measured up
    # to 4.5e-6 (kernels, O(1,3)-mat), 2.6e-6 (Clifford kernels, rapidity 1), 8.7e-6 (PointConv,
    # O(1,3), rapidity 1); float64 ones stay below 2e-13 (rapidity 2)
    "boosts": {torch.float64: 1e-10, torch.float32: 1e-4},
    # GridConv under a rotation that does not map the grid to itself: sampling error, not round-off
    # (SO(2), 9x9 kernel, smooth field, 0.6 rad: measured 2.1e-3)
    "grid_sampling": {torch.float64: 0.1, torch.float32: 0.1},
}
"""Tolerances looser than :data:`implicit_kernels.equivariance.TOLERANCE`, each for a named cause,
set to 10-100x the largest error measured."""


def tolerance_for(G) -> dict[torch.dtype, float]:
    """``LOOSER_TOLERANCE["boosts"]`` for groups with boosts (elements that are not orthogonal
    matrices), else ``TOLERANCE``; escnn's 3D analytic bases get theirs explicitly."""
    g = G.sample(8, generator=torch.Generator().manual_seed(0))
    orthogonal = torch.allclose(g @ g.transpose(1, 2), torch.eye(G.n, dtype=g.dtype).expand_as(g), atol=1e-9)
    return TOLERANCE if orthogonal else LOOSER_TOLERANCE["boosts"]


@pytest.fixture(autouse=True)
def seeded_torch():
    """Every test starts from the same global torch RNG state (layers draw their initial weights
    from it), whatever ran before: the suite runs in random order (pytest-randomly reseeds
    ``random`` and numpy, not torch)."""
    torch.manual_seed(0)


def pytest_terminal_summary(terminalreporter, config) -> None:
    """pytest-randomly's seed in the summary at the end, also under ``-q`` (which hides its header
    line): ``--randomly-seed=N`` replays an order. Nothing without the plugin (``-p no:randomly``)."""
    seed = config.getoption("randomly_seed", default=None)
    if seed is not None:
        terminalreporter.write_line(f"tests ran in random order: --randomly-seed={seed}")
