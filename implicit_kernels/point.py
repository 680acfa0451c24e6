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

from groups import LinearHeadKernelNetwork, Rep
from implicit_kernels.bias import InvariantBias
from implicit_kernels.kernel import ImplicitKernel
from implicit_kernels.validation import check_attr, check_edge_index, check_features, check_positions, check_reps

_CALIBRATION_SAMPLES = 2048


def _neighbour_slots(dst: torch.Tensor, n_nodes: int) -> tuple[torch.Tensor, int]:
    """For each edge its position among the edges into the same target, and the largest in-degree."""
    if dst.numel() == 0:
        return dst, 0
    order = torch.argsort(dst, stable=True)
    degree = torch.bincount(dst, minlength=n_nodes)
    start = torch.cumsum(degree, 0) - degree
    slot = torch.empty_like(dst)
    slot[order] = torch.arange(dst.numel(), device=dst.device) - start[dst[order]]
    return slot, int(degree.max())


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
        out = None
        if isinstance(self.kernel.network, LinearHeadKernelNetwork):
            slot, width = _neighbour_slots(edge_index[1], f.shape[0])
            # the padded neighbour lists cost N * max in-degree; skewed graphs take the per-edge path
            if 0 < width * f.shape[0] <= 4 * edge_index.shape[1]:
                out = self._aggregate_features(f, pos, edge_index, attr, slot, width)
        if out is None:
            out = self._aggregate_kernels(f, pos, edge_index, attr)
        dst = edge_index[1]
        if self.aggregation == "mean":
            degree = torch.bincount(dst, minlength=f.shape[0]).clamp_min(1).to(out.dtype)
            out = out / degree[:, None]
        else:
            out = out / math.sqrt(self.avg_degree)
        if self.bias is not None:
            out = out + self.bias().to(out.dtype)
        return out

    def _aggregate_kernels(self, f, pos, edge_index, attr) -> torch.Tensor:
        """``sum_j K(pos_j - pos_i, a_ij) f_j``, one ``(C_out, C_in)`` kernel per edge, in chunks."""
        src, dst = edge_index
        out = f.new_zeros(f.shape[0], self.rep_out.size)
        for start in range(0, src.numel(), self.chunk_size):
            sl = slice(start, start + self.chunk_size)
            kernel = self.kernel.evaluate(pos[src[sl]] - pos[dst[sl]], attr[sl] if attr is not None else None)
            out = out.index_add(0, dst[sl], torch.einsum("eoi,ei->eo", kernel, f[src[sl]]))
        return out

    def _aggregate_features(self, f, pos, edge_index, attr, slot, width) -> torch.Tensor:
        """The same sum through the linear head ``H`` (``vec K = H phi``): per target ``i``,
        ``A_i = sum_j phi(x_ij) f_j^T`` (``(F, C_in)``) as one batched matmul over the padded
        neighbour lists, then ``out_i = H vec(A_i)``. No per-edge ``(C_out, C_in)`` kernel and no
        per-edge ``(F, C_in)`` outer product is formed; the features ``phi`` are computed in chunks
        of ``chunk_size`` edges."""
        src, dst = edge_index
        n_nodes = f.shape[0]
        phi = torch.cat([
            self.kernel.scaled_features(pos[src[sl]] - pos[dst[sl]], attr[sl] if attr is not None else None)
            for sl in (slice(s, s + self.chunk_size) for s in range(0, src.numel(), self.chunk_size))
        ])
        padded_phi = phi.new_zeros(n_nodes, width, phi.shape[1]).index_put((dst, slot), phi)
        padded_f = f.new_zeros(n_nodes, width, f.shape[1]).index_put((dst, slot), f[src])
        summed = padded_phi.transpose(1, 2) @ padded_f  # (N, F, C_in)
        head = self.kernel.network.head().reshape(self.rep_out.size, self.rep_in.size, -1).to(f.dtype)
        return torch.einsum("nfi,oif->no", summed, head)

    def extra_repr(self) -> str:
        return f"aggregation={self.aggregation!r}, avg_degree={self.avg_degree}, chunk_size={self.chunk_size}"
