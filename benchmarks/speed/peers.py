"""The layers we measure, ours and the peers', built for the same fields.

Fields are O(3) fields ``2 x (0e + 1o + 2e)`` (18 channels) in and out, in every library's own
basis: e3nn ``2x0e+2x1o+2x2e``, escnn ``[irrep(0,0), irrep(1,1), irrep(0,2)] x 2`` on
``flipRot3dOnR3``. Our kernels and e3nn's with spherical harmonics up to degree 4 are complete
for these fields (every ``l_in (x) l -> l_out`` path is present); e3nn with degree 2 is the
common, cheaper setting and is incomplete (it has no ``2 (x) 3 -> 1`` or ``2 (x) 4 -> 2`` paths).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from e3nn import o3
from e3nn.math import soft_one_hot_linspace
from e3nn.nn import FullyConnectedNet
from e3nn.nn.models.v2103.voxel_convolution import Convolution as E3nnVoxelConv
from escnn import gspaces
from escnn import nn as enn
from torch import nn

from groups import Rep, get_group
from implicit_kernels import GridConv, PointConv
from implicit_kernels.rep_strings import parse_rep

E3NN_FIELDS = "2x0e+2x1o+2x2e"
OUR_FIELDS = "2*irrep(0,0)+2*irrep(1,1)+2*irrep(0,2)"
# the wide O(3) case: 64 channels, fields up to l = 4
WIDE_FIELDS = "10*irrep(0,0)+4*irrep(1,1)+2*irrep(0,2)+2*irrep(1,3)+2*irrep(0,4)"


def our_fields(group: str = "O(3)", fields: str = OUR_FIELDS) -> Rep:
    return parse_rep(get_group(group), fields)


def escnn_fields() -> enn.FieldType:
    gspace = gspaces.flipRot3dOnR3()
    G = gspace.fibergroup
    return enn.FieldType(gspace, [G.irrep(0, 0), G.irrep(1, 1), G.irrep(0, 2)] * 2)


class E3nnPointConv(nn.Module):
    """e3nn's tensor-product point convolution, as in its ``points_convolution`` models: per edge
    ``j -> i``, spherical harmonics ``Y(x_ij)`` up to ``lmax``, a radial MLP of a smooth basis of
    ``|x_ij|`` giving the weights of ``FullyConnectedTensorProduct(f_j, Y) -> message``; messages
    summed at the target and divided by ``sqrt(avg_degree)``. ``(N, 18), (N, 3), (2, E) -> (N, 18)``.
    """

    def __init__(self, lmax: int, radius: float, avg_degree: float, n_radial: int = 8, hidden: int = 32):
        super().__init__()
        irreps = o3.Irreps(E3NN_FIELDS)
        self.sh_irreps = o3.Irreps.spherical_harmonics(lmax)
        self.radius, self.n_radial, self.norm = radius, n_radial, math.sqrt(avg_degree)
        self.tp = o3.FullyConnectedTensorProduct(irreps, self.sh_irreps, irreps, shared_weights=False)
        self.radial = FullyConnectedNet([n_radial, hidden, hidden, self.tp.weight_numel], F.silu)

    def forward(self, f: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index
        x = pos[src] - pos[dst]
        sh = o3.spherical_harmonics(self.sh_irreps, x, normalize=True, normalization="component")
        radial = soft_one_hot_linspace(x.norm(dim=1), 0.0, self.radius, self.n_radial, "smooth_finite", cutoff=True)
        messages = self.tp(f[src], sh, self.radial(radial * self.n_radial**0.5))
        return f.new_zeros(f.shape[0], messages.shape[1]).index_add(0, dst, messages) / self.norm


class EscnnPointConv(nn.Module):
    """escnn's ``R3PointConv`` with its analytic basis: 5 rings up to ``radius``, angular
    frequencies up to 4 (complete for these fields), on plain tensors
    ``(N, 18), (N, 3), (2, E) -> (N, 18)``."""

    def __init__(self, radius: float):
        super().__init__()
        self.fields = escnn_fields()
        self.conv = enn.R3PointConv(self.fields, self.fields, width=radius, n_rings=5, frequencies_cutoff=4.0)

    def forward(self, f: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv(enn.GeometricTensor(f, self.fields, coords=pos), edge_index).tensor


class EscnnGridConv(nn.Module):
    """escnn's ``R3Conv`` (``(B, 18, *grid) -> (B, 18, *grid)``, same padding) on plain tensors."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.fields = escnn_fields()
        self.conv = enn.R3Conv(self.fields, self.fields, kernel_size=kernel_size, padding=kernel_size // 2)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.conv(enn.GeometricTensor(f, self.fields)).tensor


class PlainConv(nn.Module):
    """``F.conv{n}d`` with a free weight of the given shape: the floor every grid layer pays."""

    def __init__(self, channels_in: int, channels_out: int, kernel_size: int, dim: int):
        super().__init__()
        shape = (channels_out, channels_in) + (kernel_size,) * dim
        self.weight = nn.Parameter(torch.randn(shape) / math.sqrt(channels_in * kernel_size**dim))
        self.conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dim]

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.conv(f, self.weight, padding=self.weight.shape[-1] // 2)


def grid_layers(kernel_size: int) -> dict[str, Callable[[], nn.Module]]:
    """Builders of the grid-case layers, by row name."""
    rep = our_fields()
    return {
        "F.conv3d (same weight shape)": lambda: PlainConv(rep.size, rep.size, kernel_size, 3),
        "ours GridConv": lambda: GridConv(rep, rep, kernel_size),
        "escnn R3Conv": lambda: EscnnGridConv(kernel_size),
        "e3nn voxel Convolution (lmax 4)": lambda: E3nnVoxelConv(
            E3NN_FIELDS, E3NN_FIELDS, o3.Irreps.spherical_harmonics(4), size=kernel_size
        ),
    }


def point_layers(radius: float, avg_degree: float) -> dict[str, Callable[[], nn.Module]]:
    """Builders of the point-case layers, by row name."""
    rep = our_fields()
    return {
        "ours PointConv": lambda: PointConv(rep, rep, radius=radius, avg_degree=avg_degree),
        "e3nn TP conv (lmax 4, complete)": lambda: E3nnPointConv(4, radius, avg_degree),
        "e3nn TP conv (lmax 2)": lambda: E3nnPointConv(2, radius, avg_degree),
        "escnn R3PointConv": lambda: EscnnPointConv(radius),
    }
