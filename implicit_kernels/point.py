"""Steerable convolution on point clouds and graphs.

Features ``f`` ``(N, C_in)``, positions ``pos`` ``(N, n)``, ``edge_index`` ``(2, E)`` with row 0
the source ``j`` and row 1 the target ``i``, optional edge attributes ``a_ij`` ``(E, attr.size)``.
The message along ``j -> i`` is ``K(pos_j - pos_i, a_ij) f_j``; messages are summed (scaled by
``1 / sqrt(avg_degree)``) or averaged at the target. With no grid involved the layer is
equivariant to every group element and every translation:
``conv(rho_in(g) f, g pos + t, rho_attr(g) a) = rho_out(g) conv(f, pos, a)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from groups import Rep
from implicit_kernels.bias import InvariantBias
from implicit_kernels.kernel import ImplicitKernel
from implicit_kernels.validation import check_attr, check_edge_index, check_features, check_positions, check_reps

_CALIBRATION_SAMPLES = 2048


def ball_samples(m: int, n: int, radius: float, seed: int = 0) -> torch.Tensor:
    """``m`` points uniform in the ``n``-ball of ``radius`` (deterministic for a seed), float64."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(m, n, generator=generator, dtype=torch.float64)
    direction = direction / direction.norm(dim=1, keepdim=True)
    r = radius * torch.rand(m, 1, generator=generator, dtype=torch.float64) ** (1.0 / n)
    return direction * r


class PointConv(nn.Module):
    """Steerable point convolution ``(f, pos, edge_index, attr) -> (N, rep_out.size)``.

    Args:
        rep_in, rep_out: feature reps; ``attr``: rep of the edge attributes, or ``None``.
        radius: the kernel's length scale (typically the graph's cutoff radius).
        aggregation: ``"sum"`` or ``"mean"`` over incoming edges.
        avg_degree: expected number of incoming edges; summed messages are divided by its square
            root so that outputs keep unit variance at initialisation.
        bias: learnable bias on the invariant part of ``rep_out``.
        chunk_size: edges per kernel evaluation in the forward pass, to bound the memory of the
            ``(chunk, C_out, C_in)`` kernel tensor.
        **kernel_options: passed to :class:`ImplicitKernel`.
    """

    def __init__(
        self,
        rep_in: Rep,
        rep_out: Rep,
        attr: Rep | None = None,
        *,
        radius: float = 1.0,
        aggregation: str = "sum",
        avg_degree: float = 1.0,
        bias: bool = True,
        chunk_size: int = 65536,
        **kernel_options,
    ):
        super().__init__()
        self.group = check_reps(rep_in, rep_out, attr)
        if aggregation not in ("sum", "mean"):
            raise ValueError(f"aggregation must be 'sum' or 'mean', got {aggregation!r}")
        if not avg_degree > 0 or chunk_size < 1:
            raise ValueError("avg_degree and chunk_size must be positive")
        self.rep_in, self.rep_out, self.attr_rep = rep_in, rep_out, attr
        self.aggregation, self.avg_degree, self.chunk_size = aggregation, float(avg_degree), chunk_size
        self.kernel = ImplicitKernel(rep_in, rep_out, attr, radius=radius, **kernel_options)
        samples = ball_samples(_CALIBRATION_SAMPLES, self.group.n, radius).to(torch.get_default_dtype())
        sample_attr = None
        if attr is not None:
            generator = torch.Generator().manual_seed(1)
            sample_attr = torch.randn(_CALIBRATION_SAMPLES, attr.size, generator=generator)
        self.kernel.calibrate_(samples, sample_attr, fan=_CALIBRATION_SAMPLES)
        self.bias = InvariantBias(rep_out) if bias else None

    def forward(
        self,
        f: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        attr: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_features(f, self.rep_in, dim=1, what="PointConv features")
        if f.dim() != 2:
            raise ValueError(f"PointConv features must be (N, {self.rep_in.size}), got shape {tuple(f.shape)}")
        check_positions(pos, self.group)
        if pos.dim() != 2 or pos.shape[0] != f.shape[0]:
            raise ValueError(
                f"positions must be (N, {self.group.n}) with N = {f.shape[0]} as in the features, "
                f"got shape {tuple(pos.shape)}"
            )
        check_edge_index(edge_index, f.shape[0])
        check_attr(attr, self.attr_rep, edge_index.shape[1:])
        src, dst = edge_index[0], edge_index[1]
        out = f.new_zeros(f.shape[0], self.rep_out.size)
        for start in range(0, src.numel(), self.chunk_size):
            sl = slice(start, start + self.chunk_size)
            rel = pos[src[sl]] - pos[dst[sl]]
            kernel = self.kernel.evaluate(rel, attr[sl] if attr is not None else None)
            messages = torch.einsum("eoi,ei->eo", kernel, f[src[sl]])
            out = out.index_add(0, dst[sl], messages)
        if self.aggregation == "mean":
            degree = torch.bincount(dst, minlength=f.shape[0]).clamp_min(1).to(out.dtype)
            out = out / degree[:, None]
        else:
            out = out / math.sqrt(self.avg_degree)
        if self.bias is not None:
            out = out + self.bias().to(out.dtype)
        return out

    def extra_repr(self) -> str:
        return f"aggregation={self.aggregation!r}, avg_degree={self.avg_degree}, chunk_size={self.chunk_size}"
