"""Shared fixtures: the compact and matrix groups under test and mixed (non-uniform) field types for each."""

import re

import pytest
import torch

from groups import get_group

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
}
"""Tolerances looser than :data:`implicit_kernels.equivariance.TOLERANCE`, each for a named cause
outside our modules, set to 10-100x the largest error measured."""
