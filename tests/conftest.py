"""Shared fixtures: the compact groups under test and mixed (non-uniform) field types for each."""

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
