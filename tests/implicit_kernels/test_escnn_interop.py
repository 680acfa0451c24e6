"""GridConv on escnn's grid layout: the layout map against escnn's own ``GeometricTensor.transform``,
GridConv(layout="escnn") alone and chained with escnn's R2Conv/R3Conv, equivariant under escnn's
group elements that map the grid to itself."""

import numpy as np
import pytest
import torch
from conftest import LOOSER_TOLERANCE
from escnn import nn as enn

from groups import get_group
from implicit_kernels import GridConv
from implicit_kernels.equivariance import TOLERANCE, assert_equivariant, relative_error, transform_grid
from implicit_kernels.escnn_interop import from_escnn_layout, to_escnn_layout

ESCNN_GROUPS = ["O(2)", "D4", "SO(3)", "O(3)"]
DTYPES = [torch.float64, torch.float32]


def grid_preserving_elements(G):
    """escnn's ``testing_elements`` of ``G``'s gspace that permute the grid (signed permutations)."""
    elements = []
    for element in G.gspace.testing_elements:
        matrix = G.element_matrix(element)
        if np.allclose(np.abs(matrix).sum(0), 1) and np.allclose(np.abs(matrix), np.round(np.abs(matrix))):
            elements.append(element)
    return elements


def escnn_transform(f: torch.Tensor, field_type, element) -> torch.Tensor:
    return enn.GeometricTensor(f, field_type).transform(element).tensor


@pytest.mark.parametrize("name", ESCNN_GROUPS)
def test_layout_map_turns_our_grid_action_into_escnns(name, generator):
    """``to_escnn_layout(g . f) == g .escnn to_escnn_layout(f)``, and the maps are inverse."""
    G = get_group(name)
    rep = G.trivial + G.standard
    f = torch.randn(2, rep.size, *[5, 6, 7][: G.n], generator=generator, dtype=torch.float64)
    assert torch.equal(from_escnn_layout(to_escnn_layout(f)), f)
    elements = grid_preserving_elements(G)
    assert len(elements) >= 4
    for element in elements:
        g = torch.from_numpy(G.element_matrix(element)).round()
        lhs = to_escnn_layout(transform_grid(f[..., :5, :5, :5], g, rep))
        rhs = escnn_transform(to_escnn_layout(f[..., :5, :5, :5]), rep.field_type(), element)
        assert relative_error(lhs, rhs) <= TOLERANCE[torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ESCNN_GROUPS)
def test_grid_conv_on_escnn_layout_is_equivariant_under_escnn_transform(name, dtype, generator):
    G = get_group(name)
    rep_in, rep_out = G.trivial + G.standard, 2 * G.trivial + G.standard.tensor(G.standard)
    conv = GridConv(rep_in, rep_out, kernel_size=3, layout="escnn").to(dtype)
    f = torch.randn(2, rep_in.size, *([5] * G.n), generator=generator, dtype=torch.float64).to(dtype)
    errors = [
        relative_error(
            conv(escnn_transform(f, rep_in.field_type(), element)),
            escnn_transform(conv(f), rep_out.field_type(), element),
        )
        for element in grid_preserving_elements(G)
    ]
    assert max(errors) <= TOLERANCE[dtype]


@pytest.mark.parametrize("name", ["D4", "O(3)"])
def test_layouts_differ_by_the_layout_map(name, generator):
    """``escnn_conv(to_escnn_layout(f)) == to_escnn_layout(conv(f))`` for the same kernel; the
    offsets of the escnn layout put ``(b - c, -(a - c))`` at array index ``(a, b)`` in 2D."""
    G = get_group(name)
    rep_in, rep_out = G.standard, G.trivial + G.standard
    ours = GridConv(rep_in, rep_out, kernel_size=3, spacing=[0.5, 1.0, 2.0][: G.n]).double()
    theirs = GridConv(rep_in, rep_out, kernel_size=3, spacing=[0.5, 1.0, 2.0][: G.n], layout="escnn").double()
    theirs.load_state_dict(ours.state_dict())
    f = torch.randn(2, rep_in.size, *[5, 6, 7][: G.n], generator=generator, dtype=torch.float64)
    assert relative_error(theirs(to_escnn_layout(f)), to_escnn_layout(ours(f))) <= TOLERANCE[torch.float64]
    if G.n == 2:
        taps = theirs.offsets.double().reshape(3, 3, 2)
        assert taps[0, 2].tolist() == [0.5, 1.0] and taps[2, 0].tolist() == [-0.5, -1.0]


def _chain_error(name: str, layout: str, dtype: torch.dtype) -> float:
    """Largest error of ``escnn conv -> GridConv -> escnn conv`` (2D) or ``R3Conv -> GridConv``
    (3D) under escnn's grid-preserving testing elements."""
    G = get_group(name)
    rep_a, rep_b = G.trivial + G.standard, 2 * G.trivial + G.standard
    type_a, type_b = rep_a.field_type(), rep_b.field_type()
    escnn_conv = enn.R2Conv if G.n == 2 else enn.R3Conv
    torch.manual_seed(0)
    # recompute: a private sampled basis; escnn's cached one is shared by every equal convolution,
    # and .to(dtype) on it would break later convolutions of the other dtype
    first = escnn_conv(type_a, type_a, kernel_size=3, recompute=True).to(dtype).eval()
    middle = GridConv(rep_a, rep_b, kernel_size=3, layout=layout).to(dtype)
    last = escnn_conv(type_b, type_b, kernel_size=3, recompute=True).to(dtype).eval() if G.n == 2 else None

    def chain(x: enn.GeometricTensor) -> enn.GeometricTensor:
        y = enn.GeometricTensor(middle(first(x).tensor), type_b)
        return y if last is None else last(y)

    size = 7 if G.n == 2 else 5
    x = enn.GeometricTensor(torch.randn(2, rep_a.size, *([size] * G.n), dtype=torch.float64).to(dtype), type_a)
    y = chain(x)
    return max(
        relative_error(chain(x.transform(element)).tensor, y.transform(element).tensor)
        for element in grid_preserving_elements(G)
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ESCNN_GROUPS)
def test_chains_with_escnn_convolutions_are_equivariant(name, dtype):
    """escnn samples its kernel bases in float32, which bounds the chain's error in float64 too
    (``LOOSER_TOLERANCE["escnn_conv"]``); GridConv's own share is exact (test above)."""
    error = _chain_error(name, "escnn", dtype)
    print(f"{name} {dtype}: chain error {error:.2e}")
    assert error <= LOOSER_TOLERANCE["escnn_conv"][dtype]


@pytest.mark.parametrize("name", ESCNN_GROUPS)
def test_our_layout_in_an_escnn_chain_is_not_equivariant(name):
    """The check can fail: fed escnn arrays, the default layout breaks equivariance."""
    assert _chain_error(name, "ours", torch.float64) > 0.05


def test_unknown_layout_is_an_error():
    G = get_group("D4")
    with pytest.raises(ValueError, match="layout must be one of \\('ours', 'escnn'\\), got 'xy'"):
        GridConv(G.standard, G.standard, 3, layout="xy")
    with pytest.raises(ValueError, match="spatial axis, got shape \\(2, 3\\)"):
        to_escnn_layout(torch.zeros(2, 3))


@pytest.mark.parametrize("name", ["O(2)", "D4", "SO(3)"])
def test_check_equivariance_moves_signals_in_the_layers_layout(name):
    """An escnn-layout GridConv passes the generic grid check, which moves its signals in escnn's
    layout; for the planar groups, moved in ours (the check's old behaviour), it fails."""
    G = get_group(name)
    conv = GridConv(G.trivial + G.standard, G.standard, 3, layout="escnn")
    assert_equivariant(conv)
    if G.n == 2:
        f = torch.randn(1, 3, 5, 5, dtype=torch.float64)
        ours = max(relative_error(conv.double()(transform_grid(f, g, conv.rep_in)),
                                  transform_grid(conv(f), g, conv.rep_out)) for g in G.grid_elements())
        assert ours > 1e-3
