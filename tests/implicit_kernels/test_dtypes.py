"""One dtype rule for the layers: inputs in the dtype of the layer's parameters, else a TypeError that
names both dtypes; nothing is cast silently, and ``.to(dtype)`` converts a layer."""

import pytest
import torch

from groups import get_group
from implicit_kernels import GridConv, PointConv, radius_graph

OTHER_DTYPES = [torch.float16, torch.bfloat16, torch.float64]


def point_inputs(G, rep_in, nodes=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    pos = torch.randn(nodes, G.n, generator=generator)
    return torch.randn(nodes, rep_in.size, generator=generator), pos, radius_graph(pos, 1.5)


def refusal(call) -> str:
    with pytest.raises(TypeError) as refused:
        call()
    return str(refused.value)


@pytest.mark.parametrize("dtype", OTHER_DTYPES)
def test_point_conv_refuses_features_in_another_dtype_than_its_parameters(dtype):
    G = get_group("SO(2)")
    rep_in = G.trivial + G.standard
    conv = PointConv(rep_in, G.standard, radius=1.5)
    f, pos, edges = point_inputs(G, rep_in)
    message = refusal(lambda: conv(f.to(dtype), pos.to(dtype), edges))
    assert f"PointConv features ({dtype})" in message and "parameters (torch.float32)" in message
    assert f"layer.to({dtype})" in message


@pytest.mark.parametrize("dtype", OTHER_DTYPES)
def test_grid_conv_refuses_input_in_another_dtype_than_its_parameters(dtype):
    G = get_group("C4")
    conv = GridConv(G.trivial + G.standard, G.standard, kernel_size=3)
    f = torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    message = refusal(lambda: conv(f.to(dtype)))
    assert f"GridConv input ({dtype})" in message and "parameters (torch.float32)" in message
    assert f"layer.to({dtype})" in message


@pytest.mark.parametrize("dtype", OTHER_DTYPES)
def test_point_conv_refuses_positions_and_attributes_in_another_dtype_than_the_features(dtype):
    G = get_group("SO(3)")
    rep_in = G.trivial + G.standard
    conv = PointConv(rep_in, G.standard, G.trivial, radius=1.5)
    f, pos, edges = point_inputs(G, rep_in)
    attr = torch.ones(edges.shape[1], 1)
    message = refusal(lambda: conv(f, pos.to(dtype), edges, attr))
    assert f"positions ({dtype})" in message and "features (torch.float32)" in message
    message = refusal(lambda: conv(f, pos, edges, attr.to(dtype)))
    assert f"attributes ({dtype})" in message and "features (torch.float32)" in message


def test_converted_layers_take_inputs_in_their_new_dtype():
    G = get_group("SO(2)")
    rep_in = G.trivial + G.standard
    point = PointConv(rep_in, G.standard, radius=1.5).to(torch.float64)
    f, pos, edges = point_inputs(G, rep_in)
    assert point(f.double(), pos.double(), edges).dtype == torch.float64
    grid = GridConv(rep_in, G.standard, kernel_size=3).to(torch.float64).eval()
    assert grid(torch.randn(1, 3, 5, 5, dtype=torch.float64)).dtype == torch.float64
