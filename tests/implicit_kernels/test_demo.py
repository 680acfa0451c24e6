"""The demo's family survey: every family's layer and network are equivariant."""

import pytest
import torch

from groups import get_group
from implicit_kernels import demo
from implicit_kernels.equivariance import TOLERANCE

LORENTZ_FLOAT32_TOLERANCE = 1e-3
"""float32 under boosts of rapidity ``demo.LORENTZ_RAPIDITY``: rho(g) has entries up to
cosh(2)^2 ~ 14 on bivectors and the network divides by invariant sizes that vanish on the light
cone, so rounding errors grow (the demo measured 5e-5 to 1.4e-4, depending on the weights)."""


@pytest.fixture
def small_cloud(monkeypatch):
    """A 64-point benchmark cloud and one timing run keep the survey fast."""
    monkeypatch.setattr(demo, "CLOUD_POINTS", 64)
    monkeypatch.setattr(demo, "CLOUD_DEGREE", 8)
    monkeypatch.setattr(demo, "TIMING_RUNS", 1)


@pytest.mark.parametrize("name", [*demo.FAMILY_GROUPS, demo.OWN_GROUP])
def test_family_rows_are_equivariant(name, small_cloud):
    G = demo.own_group() if name == demo.OWN_GROUP else get_group(name)
    rows = demo.family_rows(name, G)
    assert [r.model for r in rows] == ["PointConv", "network"]
    float32 = LORENTZ_FLOAT32_TOLERANCE if name == demo.LORENTZ_GROUP else TOLERANCE[torch.float32]
    for row in rows:
        assert row.error32 <= float32 and row.error64 <= TOLERANCE[torch.float64], row
        assert row.parameters > 0 and row.forward_ms > 0
    assert rows[1].parameters > rows[0].parameters


def test_family_table_has_a_line_per_row():
    rows = [demo.FamilyRow("O(1,3)", "network", 5e-5, 2e-13, 5112, 12.5)]
    lines = demo.format_family_table(rows).splitlines()
    assert len(lines) == 3 and lines[2].split() == ["O(1,3)", "network", "5.0e-05", "2.0e-13", "5112", "12.50"]


def test_own_group_is_built_from_generators():
    G = demo.own_group()
    g = G.sample(4)
    assert torch.allclose(g[:, 2, 2].abs(), torch.ones(4, dtype=g.dtype))
    assert torch.allclose(g @ g.transpose(1, 2), torch.eye(3, dtype=g.dtype).expand(4, 3, 3), atol=1e-12)
