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
from collections.abc import Callable

import torch

from groups import LinearHeadKernelNetwork, Rep
from implicit_kernels.bias import InvariantBias
from implicit_kernels.kernel import ImplicitKernel
from implicit_kernels.module import EquivariantModule
from implicit_kernels.neighbours import NeighbourTables
from implicit_kernels.validation import (
    check_attr,
    check_dtypes,
    check_features,
    check_positions,
    check_reps,
)

_CALIBRATION_SAMPLES = 2048

EdgeValues = Callable[[torch.Tensor], torch.Tensor]
"""A function of a tensor of edge ids returning one value per id (offsets or inputs)."""


def ball_samples(m: int, n: int, radius: float, seed: int = 0) -> torch.Tensor:
    """``m`` points uniform in the ``n``-ball of ``radius`` (deterministic for a seed), float64."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(m, n, generator=generator, dtype=torch.float64)
    direction = direction / direction.norm(dim=1, keepdim=True)
    r = radius * torch.rand(m, 1, generator=generator, dtype=torch.float64) ** (1.0 / n)
    return direction * r


class EdgeConvolution(EquivariantModule):
    """What :class:`PointConv` and :class:`~implicit_kernels.mesh.MeshConv` share: the kernel, its
    calibration, the aggregation of messages ``K(x_e, a_e) v_e`` over the incoming edges ``e`` of
    every node, its normalisation and the invariant bias. A subclass says what an edge's offset
    ``x_e`` and input ``v_e`` are (:meth:`convolve`).

    Args:
        rep_in, rep_out: feature reps; ``attr``: rep of the edge attributes, or ``None``.
        radius: the kernel's length scale (typically the graph's cutoff radius).
        aggregation: ``"sum"`` or ``"mean"`` over incoming edges.
        avg_degree: expected number of incoming edges; summed messages are divided by its square
            root so that outputs keep unit variance at initialisation.
        bias: learnable bias on the invariant part of ``rep_out``.
        chunk_size: edges (padded neighbour slots for linear-head kernels) processed at once. It
            bounds the memory of the per-edge features or kernels; the default keeps every
            intermediate small enough for the allocator to reuse (large CPU tensors are mapped
            fresh from the OS on every call, and their page faults cost more than the arithmetic).
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
        chunk_size: int = 4096,
        **kernel_options,
    ):
        super().__init__()
        check_reps(rep_in, rep_out, attr)
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

    def convolve(self, tables: NeighbourTables, offsets: EdgeValues, inputs: EdgeValues,
                 attr: torch.Tensor | None) -> torch.Tensor:
        """``out_i = sum_e K(x_e, a_e) v_e`` over the edges ``e = (j -> i)`` of ``tables``,
        normalised and biased: ``(N, rep_out.size)``. ``offsets(ids)`` and ``inputs(ids)`` return
        ``x_e`` and ``v_e`` for a tensor of edge ids of any shape (``(*ids.shape, n)`` and
        ``(*ids.shape, rep_in.size)``); the id ``E`` (one past the last edge) pads neighbour lists
        and must give zeros."""
        if isinstance(self.kernel.network, LinearHeadKernelNetwork):
            out = self._aggregate_features(tables, offsets, inputs, attr)
        else:
            out = self._aggregate_kernels(tables, offsets, inputs, attr)
        if self.aggregation == "mean":
            out = out / tables.degree.clamp_min(1).to(out.dtype)[:, None]
        else:
            out = out / math.sqrt(self.avg_degree)
        if self.bias is not None:
            out = out + self.bias().to(out.dtype)
        return out

    def _aggregate_kernels(self, tables: NeighbourTables, offsets, inputs, attr) -> torch.Tensor:
        """``sum_e K(x_e, a_e) v_e``, one ``(C_out, C_in)`` kernel per edge, in chunks."""
        dst = tables.edge_index[1]
        out = self._empty(tables, offsets)
        for start in range(0, dst.numel(), self.chunk_size):
            ids = torch.arange(start, min(start + self.chunk_size, dst.numel()), device=dst.device)
            kernel = self.kernel.evaluate(offsets(ids), attr[ids] if attr is not None else None)
            out = out.index_add(0, dst[ids], torch.einsum("eoi,ei->eo", kernel, inputs(ids)))
        return out

    def _aggregate_features(self, tables: NeighbourTables, offsets, inputs, attr) -> torch.Tensor:
        """The same sum through the linear head ``H`` (``vec K = envelope * H phi``): per target
        ``i``, ``A_i = sum_e phi(x_e) (envelope(x_e) v_e)^T`` (``(F, C_in)``), one batched matmul
        per group of padded neighbour lists (``tables.groups``), then ``out_i = H vec(A_i)``.
        No per-edge ``(C_out, C_in)`` kernel and no per-edge ``(F, C_in)`` outer product is formed,
        and at most about ``chunk_size`` edge slots are live per group. Padded slots see a zero
        offset and zero input, so they add nothing."""
        network, kernel = self.kernel.network, self.kernel
        attr = _with_zero_row(attr) if attr is not None else None
        out = self._empty(tables, offsets)
        contract = network.neighbour_map(out)
        for nodes, edges in tables.groups:
            x = offsets(edges)
            v = inputs(edges) * kernel.envelope(x)[..., None]
            out = out.index_add(0, nodes, contract(x / kernel.radius, attr[edges] if attr is not None else None, v))
        return out

    def _empty(self, tables: NeighbourTables, offsets: EdgeValues) -> torch.Tensor:
        """Zeros ``(N, rep_out.size)`` in the dtype and device of the offsets."""
        return offsets(tables.edge_index.new_zeros(0)).new_zeros(tables.num_nodes, self.rep_out.size)

    def tables(self, edge_index: torch.Tensor | NeighbourTables, num_nodes: int) -> NeighbourTables:
        """``edge_index`` laid out for :meth:`convolve` (with ``chunk_size`` slots per group), or
        the given tables after checking that they are for ``num_nodes`` nodes."""
        if not isinstance(edge_index, NeighbourTables):
            return NeighbourTables(edge_index, num_nodes, self.chunk_size)
        if edge_index.num_nodes != num_nodes:
            raise ValueError(f"the neighbour tables are for {edge_index.num_nodes} nodes, the features "
                             f"have {num_nodes}")
        return edge_index

    def extra_repr(self) -> str:
        return f"aggregation={self.aggregation!r}, avg_degree={self.avg_degree}, chunk_size={self.chunk_size}"


class PointConv(EdgeConvolution):
    """Steerable point convolution ``(f, pos, edge_index, attr) -> (N, rep_out.size)``: the
    message along ``j -> i`` is ``K(pos_j - pos_i, a_ij) f_j``. Arguments as in
    :class:`EdgeConvolution`.

    Features, positions and attributes must have the dtype of the layer's parameters
    (``TypeError`` otherwise; nothing is cast): ``.to(dtype)`` converts the layer.

    The edges are given as ``edge_index`` or as :class:`~implicit_kernels.NeighbourTables`
    built once per graph and shared by every layer of a network. With tables the layer does no
    data-dependent work, so it compiles with ``torch.compile(fullgraph=True)`` (checks of values,
    such as NaN in the positions, run eagerly only); from ``edge_index`` every call builds the
    tables again (graph breaks under ``torch.compile``). How edges are grouped depends on the
    graph, so the layer refuses ``torch.jit.trace`` (a trace would replay the traced graph's
    grouping on every graph). ``torch.jit.script`` is not supported.
    """

    inputs = "graph"

    def forward(
        self,
        f: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor | NeighbourTables,
        attr: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(N, rep_in.size)`` features, ``(N, n)`` positions, ``(2, E)`` edges (or their
        :class:`~implicit_kernels.NeighbourTables`) and ``(E, attr.size)`` attributes
        -> ``(N, rep_out.size)``. ``RuntimeError`` under ``torch.jit.trace`` and ``TypeError`` for
        inputs in another dtype than the parameters (see the class docstring)."""
        refuse_tracing(type(self).__name__)
        check_features(f, self.rep_in, dim=1, what="PointConv features")
        if f.dim() != 2:
            raise ValueError(f"PointConv features must be (N, {self.rep_in.size}), got shape {tuple(f.shape)}")
        check_positions(pos, self.group)
        if pos.dim() != 2 or pos.shape[0] != f.shape[0]:
            raise ValueError(
                f"positions must be (N, {self.group.n}) with N = {f.shape[0]} as in the features, "
                f"got shape {tuple(pos.shape)}"
            )
        tables = self.tables(edge_index, f.shape[0])
        check_attr(attr, self.attr_rep, (tables.num_edges,))
        check_dtypes(self, f, "PointConv features", positions=pos, attributes=attr)
        src, dst = tables.source, tables.target
        padded_f, padded_pos = _with_zero_row(f), _with_zero_row(pos)
        return self.convolve(
            tables,
            offsets=lambda ids: padded_pos[src[ids]] - padded_pos[dst[ids]],
            inputs=lambda ids: padded_f[src[ids]],
            attr=attr,
        )


def refuse_tracing(layer: str) -> None:
    """``RuntimeError`` under ``torch.jit.trace``: edge layers group and chunk edges by the values of
    ``edge_index``, which a trace would freeze."""
    if torch.jit.is_tracing():
        raise RuntimeError(
            f"{layer} cannot be traced with torch.jit.trace: it groups and chunks edges by the values of "
            "edge_index, and a trace would replay the traced graph's grouping on every other graph (wrong "
            "results, no error). Call it eagerly or through torch.compile; torch.jit.script is not supported."
        )


def _with_zero_row(x: torch.Tensor) -> torch.Tensor:
    """``x`` with a row of zeros appended (the target of padded edge ids)."""
    return torch.cat([x, x.new_zeros(1, *x.shape[1:])])
