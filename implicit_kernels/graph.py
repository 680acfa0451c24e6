"""Neighbourhood graphs in plain torch (no torch_cluster needed).

:func:`radius_graph` and :func:`knn_graph` return ``edge_index`` ``(2, E)`` with row 0 the source
``j`` and row 1 the target ``i`` (the message-passing convention of
:class:`~implicit_kernels.PointConv`), edges sorted by target and then source. ``batch``
(``(N,)``, graph id per node, in any order) keeps graphs apart.

Both search a cell list: nodes are binned into cubic cells of side ``s >= r`` on (at most) their
first three coordinates, and a target is compared only with the nodes of its own and the adjacent
cells of its own graph. A pair within distance ``r`` is within ``r`` on those coordinates too, so
no pair is missed whatever the dimension. Each pair of adjacent cells is searched once, for both
directions, so the work grows with the edges (about three candidate pairs per edge of a uniform
cloud in R^3), not with ``N^2``.
:func:`knn_graph` searches within a radius that starts at that of a ball holding about ``2k``
nodes (were the graphs spread evenly over their bounding box) and doubles for the targets that
still have fewer than ``k`` neighbours within it. :func:`complete_graph` connects every pair
of nodes (the equivariance checks use it).
"""

from __future__ import annotations

import itertools
import math

import torch

_CELL_AXES = 3
_KEY_LIMIT = 2**62


def _check(pos: torch.Tensor, batch: torch.Tensor | None) -> None:
    """``pos`` must be a finite floating ``(N, n)`` tensor and ``batch`` ``None`` or an integer
    ``(N,)`` tensor (``TypeError`` for a wrong type or dtype, ``ValueError`` for a wrong shape)."""
    if not torch.is_tensor(pos) or pos.dim() != 2 or not pos.is_floating_point():
        raise ValueError(f"pos must be a floating (N, n) tensor, got {getattr(pos, 'shape', type(pos))}")
    if not bool(torch.isfinite(pos).all()):
        raise ValueError("pos contains NaN or inf")
    if batch is None:
        return
    if not torch.is_tensor(batch) or batch.is_floating_point() or batch.is_complex() or batch.dtype == torch.bool:
        received = batch.dtype if torch.is_tensor(batch) else type(batch).__name__
        raise TypeError(f"batch must be an integer tensor (graph id per node), got {received}")
    if batch.dim() != 1 or batch.shape[0] != pos.shape[0]:
        raise ValueError(f"batch must be (N,) with N = {pos.shape[0]}, got {tuple(batch.shape)}")


def _graph_ids(pos: torch.Tensor, batch: torch.Tensor | None) -> torch.Tensor:
    """``(N,)`` graph of every node as ``0 .. B - 1`` (``batch`` may hold any integers)."""
    if batch is None:
        return torch.zeros(len(pos), dtype=torch.long, device=pos.device)
    return torch.unique(batch, return_inverse=True)[1]


class _CellList:
    """The nodes of ``pos`` ``(N, n)`` sorted by graph (``graph``: ids ``0 .. B - 1``) and by cubic
    cell of side ``>= r`` on their first ``min(n, 3)`` coordinates; a node's place in that order is
    its *slot*."""

    def __init__(self, pos: torch.Tensor, graph: torch.Tensor, r: float):
        n = len(pos)
        coords = pos[:, :_CELL_AXES].double()
        axes = coords.shape[1]
        low = coords.min(0).values if n else coords.new_zeros(axes)
        spread = float((coords.max(0).values - low).max()) if n else 0.0
        graphs = int(graph.max()) + 1 if n else 1
        # cells at least r wide, and wide enough that the (graph, cell) keys fit in an int64
        per_axis = max(1.0, (_KEY_LIMIT / graphs) ** (1 / max(axes, 1)) - 3)
        side = max(r, spread / per_axis, torch.finfo(torch.float64).tiny)
        cell = torch.floor((coords - low) / side).long() + 1  # >= 1: the cell at offset -1 stays >= 0
        extent = [int(e) + 2 for e in cell.max(0).values] if n else [3] * axes
        self.strides = [math.prod(extent[a + 1:]) for a in range(axes)]
        key = graph * math.prod(extent) + (cell * torch.tensor(self.strides, device=pos.device)).sum(1)
        key, self.node = torch.sort(key)
        self.pos = pos[self.node]
        self.cells, self.cell_count = torch.unique_consecutive(key, return_counts=True)
        self.cell_start = torch.cumsum(self.cell_count, 0) - self.cell_count
        cells = torch.arange(len(self.cells), device=pos.device)
        self.cell_of_slot = cells.repeat_interleave(self.cell_count, output_size=n)

    def pairs(self, r: float, loop: bool, targets: torch.Tensor | None = None):
        """``(source, target, squared distance)`` of the node pairs within ``r`` in the same graph
        whose target is any node, or one of the nodes ``targets``; a node is its own source only
        with ``loop``. A target meets the nodes of the ``3^d`` cells around its own; for all
        targets only half of those offsets are searched, each giving both directions."""
        slots = torch.arange(len(self.pos), device=self.pos.device)
        offsets = list(itertools.product((-1, 0, 1), repeat=len(self.strides)))
        if targets is None:
            offsets = offsets[len(offsets) // 2:]  # zero, and those whose first non-zero entry is +1
        else:
            wanted = torch.zeros(len(self.pos), dtype=torch.bool, device=self.pos.device)
            wanted[targets] = True
            slots = slots[wanted[self.node]]
        cell = self.cell_of_slot[slots]
        sources, receivers, distances = [], [], []
        for offset in offsets:
            shifted = self.cells + sum(o * s for o, s in zip(offset, self.strides))
            neighbour = torch.searchsorted(self.cells, shifted).clamp_(max=max(len(self.cells) - 1, 0))
            found = self.cells[neighbour] == shifted
            count = torch.where(found, self.cell_count[neighbour], 0)[cell]
            start = self.cell_start[neighbour][cell]
            total = int(count.sum())
            source = (start - torch.cumsum(count, 0) + count).repeat_interleave(count, output_size=total)
            source += torch.arange(total, device=slots.device)
            target = slots.repeat_interleave(count, output_size=total)
            difference = self.pos[source] - self.pos[target]
            squared = (difference * difference).sum(1)
            keep = squared <= r * r
            if not (loop or any(offset)):
                keep &= source != target
            source, target, squared = source[keep], target[keep], squared[keep]
            sources.append(source)
            receivers.append(target)
            distances.append(squared)
            if targets is None and any(offset):
                sources.append(target)
                receivers.append(source)
                distances.append(squared)
        source, target = self.node[torch.cat(sources)], self.node[torch.cat(receivers)]
        return source, target, torch.cat(distances)


def _nearest(source: torch.Tensor, target: torch.Tensor, distance: torch.Tensor, k: int):
    """The ``k`` nearest sources of every target among the pairs ``(source, target)``, whose
    ``distance`` (any non-negative measure of it) is sorted through its bits: the IEEE patterns of
    non-negative floats order as integers do, and integer sorts are the faster ones."""
    bits = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
            torch.bfloat16: torch.int16}[distance.dtype]
    order = torch.argsort(distance.view(bits), stable=True)
    order = order[torch.argsort(target[order], stable=True)]
    grouped = target[order]
    count = torch.bincount(grouped)
    rank = torch.arange(len(grouped), device=target.device) - (torch.cumsum(count, 0) - count)[grouped]
    keep = order[rank < k]
    return source[keep], target[keep]


def radius_graph(
    pos: torch.Tensor,
    r: float,
    batch: torch.Tensor | None = None,
    loop: bool = False,
    max_num_neighbors: int | None = None,
) -> torch.Tensor:
    """Edges ``j -> i`` for all pairs with ``|pos_j - pos_i| <= r`` (in the same graph).

    With ``max_num_neighbors`` only the nearest that many sources per target are kept. ``r`` must
    be a non-negative number and ``max_num_neighbors`` ``None`` or positive (``ValueError``
    otherwise); ``batch`` must hold integers.
    """
    _check(pos, batch)
    if not r >= 0:  # also refuses NaN
        raise ValueError(f"radius r must be a non-negative number, got {r!r}")
    if max_num_neighbors is not None and max_num_neighbors < 1:
        raise ValueError(f"max_num_neighbors must be None or positive, got {max_num_neighbors}")
    source, target, distance = _CellList(pos, _graph_ids(pos, batch), float(r)).pairs(float(r), loop)
    if max_num_neighbors is not None:
        source, target = _nearest(source, target, distance, max_num_neighbors)
    return _sorted_by_target(source, target, len(pos))


def knn_graph(pos: torch.Tensor, k: int, batch: torch.Tensor | None = None, loop: bool = False) -> torch.Tensor:
    """Edges from the ``k`` nearest sources to every target (fewer if its graph is smaller);
    ``k`` must be positive and ``batch`` must hold integers."""
    _check(pos, batch)
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    n = len(pos)
    graph = _graph_ids(pos, batch)
    graphs = int(graph.max()) + 1 if n else 1
    box = pos.max(0).values - pos.min(0).values if n else pos.new_zeros(pos.shape[1])
    spread, diameter, d = float(box.max()) if n else 0.0, float(box.norm()), pos.shape[1]
    # first radius: a ball holding about 2k nodes if the graphs filled their box evenly
    ball = math.pi ** (d / 2) / math.gamma(d / 2 + 1)
    r = spread * min(1.0, 2 * k * graphs / (max(n, 1) * ball)) ** (1 / d)
    remaining = torch.arange(n, device=pos.device)
    sources, receivers = [], []
    while len(remaining):
        everyone = len(remaining) == n
        source, target, distance = _CellList(pos, graph, r).pairs(r, loop, None if everyone else remaining)
        # a target is done once k candidates lie within r, or when r covers its whole graph
        found = torch.bincount(target, minlength=n)[remaining]
        done = found >= k if r <= diameter else torch.ones_like(found, dtype=torch.bool)
        finished = torch.zeros(n, dtype=torch.bool, device=pos.device)
        finished[remaining[done]] = True
        keep = finished[target]
        source, target = _nearest(source[keep], target[keep], distance[keep], k)
        sources.append(source)
        receivers.append(target)
        remaining = remaining[~done]
        r = 2 * r if r > 0 else 1.0
    if not sources:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    return _sorted_by_target(torch.cat(sources), torch.cat(receivers), n)


def _sorted_by_target(source: torch.Tensor, target: torch.Tensor, nodes: int) -> torch.Tensor:
    """``edge_index`` ``(2, E)`` of the pairs, sorted by target and then source."""
    order = torch.argsort(target * nodes + source)
    return torch.stack([source[order], target[order]])


def complete_graph(nodes: int) -> torch.Tensor:
    """``edge_index`` of the complete directed graph on ``nodes`` nodes, without loops."""
    edges = torch.combinations(torch.arange(nodes), r=2).T
    return torch.cat([edges, edges.flip(0)], dim=1)
