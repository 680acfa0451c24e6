"""``torch.jit.trace`` of PointConv: how edges are grouped depends on ``edge_index``, so a trace taken
on one graph must never return silently wrong results on another: the layer refuses to be traced."""

import warnings

import pytest
import torch

from groups import get_group
from implicit_kernels import PointConv, radius_graph


def graph_inputs(G, rep_in, nodes, radius, generator):
    pos = torch.randn(nodes, G.n, generator=generator, dtype=torch.float64)
    f = torch.randn(nodes, rep_in.size, generator=generator, dtype=torch.float64)
    return f, pos, radius_graph(pos, radius)


# SO(2): linear-head kernel (edges grouped by in-degree); O(2,0): one kernel per edge (edge chunks)
@pytest.mark.parametrize("name", ["SO(2)", "O(2,0)"])
def test_a_trace_never_replays_the_traced_graph_on_another(name):
    G = get_group(name)
    rep_in = G.trivial + G.standard
    conv = PointConv(rep_in, G.standard, radius=1.5, chunk_size=64).double()
    generator = torch.Generator().manual_seed(0)
    traced_on = graph_inputs(G, rep_in, 30, 1.0, generator)
    other = graph_inputs(G, rep_in, 40, 1.3, generator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            traced = torch.jit.trace(conv, traced_on, check_trace=False)
        except RuntimeError as error:
            message = str(error)
            assert "cannot be traced with torch.jit.trace" in message
            assert "eagerly or through torch.compile" in message and "torch.jit.script is not supported" in message
            return
    assert torch.allclose(traced(*other), conv(*other), atol=1e-12)
