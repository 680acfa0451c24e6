"""Samplers of the groups with several components reach all of them: both signs of the determinant,
and for the Lorentz groups both time orientations (the sign of ``g_00``), in every family."""

import pytest
import torch

from groups import get_group

# name -> (number of components, smallest probability the sampler gives one of them):
# compact O(n) flips with probability 1/2; the Clifford sampler K_1 B K_2 draws K_i Haar in
# O(p) x O(q), which makes the 4 components of O(1,3) equally likely; the matrix sampler multiplies
# exp(Lie algebra) by three picks from {1, generators}: parity 1/2 for O(3)-mat, and for O(1,3)-mat
# (generators: time reversal, a space reflection) the least likely component has (1 - 3/27) / 4 = 2/9
COMPONENTS = {
    "O(2)": (2, 1 / 2),
    "O(3)": (2, 1 / 2),
    "O(3,0)": (2, 1 / 2),
    "O(1,3)": (4, 1 / 4),
    "O(3)-mat": (2, 1 / 2),
    "O(1,3)-mat": (4, 2 / 9),
}
SAMPLES = 128


@pytest.mark.parametrize("name", COMPONENTS)
def test_samples_reach_every_component(name):
    count, least = COMPONENTS[name]
    assert count * (1 - least) ** SAMPLES < 1e-9  # chance that a correct sampler misses a component
    G = get_group(name)
    g = G.sample(SAMPLES, generator=torch.Generator().manual_seed(0))
    assert bool(G.contains(g).all())
    determinant = torch.linalg.det(g).round()
    assert set(determinant.tolist()) == {-1.0, 1.0}
    if count == 4:  # Lorentz groups, time axis 0
        components = set(zip(determinant.tolist(), g[:, 0, 0].sign().tolist()))
        assert components == {(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)}
