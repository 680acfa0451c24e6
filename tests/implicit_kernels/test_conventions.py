"""The layers' conventions against direct computations: a PointConv message along ``j -> i`` is
``K(pos_j - pos_i) f_j``, and a GridConv pads by its padding mode and then cross-correlates with
the kernel sampled at its offsets, ``y(p) = sum_x K(x) f(p + x)``: the same sum as a PointConv on
the grid graph. The kernels used are not even (``K(-x) != K(x)``), so that the sign of the offset,
and convolution versus cross-correlation, give different results."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from groups import get_group
from implicit_kernels import GridConv, PointConv
from implicit_kernels.equivariance import relative_error


@pytest.mark.parametrize("name", ["C3", "SO(3)", "SO(3)-mat", "O(1,3)"])
def test_point_messages_are_kernels_at_source_minus_target(name):
    """Compact groups take the linear-head path of PointConv, the others the per-edge kernel path."""
    G = get_group(name)
    torch.manual_seed(0)
    conv = PointConv(G.standard, G.trivial + G.standard, radius=1.0, avg_degree=3.0, bias=False).double()
    generator = torch.Generator().manual_seed(1)
    pos = torch.randn(7, G.n, generator=generator, dtype=torch.float64)
    f = torch.randn(7, G.n, generator=generator, dtype=torch.float64)
    pairs = torch.tensor([(j, i) for j in range(7) for i in range(7) if j != i])
    edges = pairs[torch.rand(len(pairs), generator=generator) < 0.5].T
    expected = torch.zeros(7, 1 + G.n, dtype=torch.float64)
    with torch.no_grad():
        for j, i in edges.T.tolist():
            expected[i] += conv.kernel(pos[j] - pos[i]) @ f[j]
        assert torch.allclose(conv(f, pos, edges), expected / math.sqrt(3.0), rtol=1e-12, atol=1e-12)
        offsets = pos[edges[0]] - pos[edges[1]]
        assert relative_error(conv.kernel(-offsets), conv.kernel(offsets)) > 0.1  # the sign matters


def planar_layer(**options) -> GridConv:
    """C4, scalar + vector -> vector + scalar: the mixed blocks of the kernel are odd."""
    G = get_group("C4")
    torch.manual_seed(0)
    return GridConv(G.trivial + G.standard, G.standard + G.trivial, kernel_size=3, bias=False, **options).double()


def test_grid_weight_is_the_kernel_at_the_offsets():
    """Array index ``(a, b)`` of the weight is the offset ``(h_0 (a - 1), h_1 (b - 1))``."""
    conv = planar_layer(spacing=(0.5, 0.75))  # exact in float32, the dtype the offsets are built in
    with torch.no_grad():
        weight = conv.weight()
        for a, b in itertools.product(range(3), repeat=2):
            x = torch.tensor([[0.5 * (a - 1), 0.75 * (b - 1)]], dtype=torch.float64)
            assert torch.allclose(weight[:, :, a, b], conv.kernel(x)[0], rtol=1e-12, atol=1e-15)
        assert relative_error(weight.flip(2, 3), weight) > 0.1  # convolution would differ


@pytest.mark.parametrize("padding_mode", ["zeros", "circular", "reflect", "replicate"])
def test_grid_conv_pads_then_cross_correlates(padding_mode):
    conv = planar_layer(spacing=0.5, padding_mode=padding_mode)
    f = torch.randn(2, 3, 6, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    padded = F.pad(f, (1, 1, 1, 1), mode="constant" if padding_mode == "zeros" else padding_mode)
    with torch.no_grad():
        weight = conv.weight()
        expected = sum(torch.einsum("oc,bcij->boij", weight[:, :, a, b], padded[:, :, a : a + 6, b : b + 7])
                       for a, b in itertools.product(range(3), repeat=2))
        assert torch.allclose(conv(f), expected, rtol=1e-12, atol=1e-12)


def test_grid_conv_is_a_point_conv_on_the_grid_graph():
    """Zero padding: nodes at ``h (i_0, i_1)``, an edge from every node within the kernel window
    (itself included), and the same kernel parameters."""
    grid = planar_layer(spacing=0.5)
    G = grid.group
    point = PointConv(grid.rep_in, grid.rep_out, radius=grid.kernel.radius, avg_degree=1.0, bias=False).double()
    point.kernel.load_state_dict(grid.kernel.state_dict())
    shape = (5, 6)
    index = torch.tensor(list(itertools.product(range(shape[0]), range(shape[1]))))
    pos = 0.5 * index.to(torch.float64)
    window = (index[:, None] - index[None]).abs().amax(-1) <= 1  # [j, i]
    edges = window.nonzero().T
    f = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        on_points = point(f.reshape(3, -1).T, pos, edges)
        assert torch.allclose(grid(f), on_points.T.reshape(1, G.n + 1, *shape), rtol=1e-12, atol=1e-12)
