"""Neighbourhood graphs in plain torch (no torch_cluster needed).

:func:`radius_graph` and :func:`knn_graph` return ``edge_index`` ``(2, E)`` with row 0 the source
``j`` and row 1 the target ``i`` (the message-passing convention of
:class:`~implicit_kernels.PointConv`), edges sorted by target. ``batch`` (``(N,)``, graph id per
node) keeps graphs apart. Distances are computed in blocks of rows, so memory is
``O(block * N)`` rather than ``O(N^2)``; when ``batch`` is sorted (graphs stored one after the
other, as batching usually leaves them) a block is only compared with the nodes of its own graphs,
so the cost grows linearly with the number of graphs. :func:`complete_graph` connects every pair
of nodes (the equivariance checks use it).
"""

from __future__ import annotations

import torch

_BLOCK = 2048


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


def _blocked_distances(pos: torch.Tensor, batch: torch.Tensor | None, loop: bool):
    """Yield ``(targets, first, distances)``: the distances from the block of nodes ``targets`` to
    the sources ``first, first + 1, ...``, ``inf`` across graphs and (without ``loop``) from a node to
    itself. With a sorted ``batch`` the sources are the nodes of the block's graphs only."""
    n = pos.shape[0]
    contiguous = batch is not None and bool((batch[1:] >= batch[:-1]).all())
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        targets = torch.arange(start, stop, device=pos.device)
        first, last = 0, n
        if contiguous:
            first = int(torch.searchsorted(batch, batch[start]))
            last = int(torch.searchsorted(batch, batch[stop - 1], right=True))
        dist = torch.cdist(pos[targets], pos[first:last])
        if batch is not None:
            dist = dist.masked_fill(batch[targets][:, None] != batch[None, first:last], float("inf"))
        if not loop:
            dist[torch.arange(len(targets)), targets - first] = float("inf")
        yield targets, first, dist


def radius_graph(
    pos: torch.Tensor,
    r: float,
    batch: torch.Tensor | None = None,
    loop: bool = False,
    max_num_neighbors: int | None = None,
) -> torch.Tensor:
    """Edges ``j -> i`` for all pairs with ``|pos_j - pos_i| <= r`` (in the same graph).

    With ``max_num_neighbors`` only the nearest that many sources per target are kept. ``r`` must
    be a non-negative number (``ValueError`` otherwise); ``batch`` must hold integers.
    """
    _check(pos, batch)
    if not r >= 0:  # also refuses NaN
        raise ValueError(f"radius r must be a non-negative number, got {r!r}")
    edges = []
    for targets, first, dist in _blocked_distances(pos, batch, loop):
        if max_num_neighbors is not None:
            k = min(max_num_neighbors, dist.shape[1])
            values, index = dist.topk(k, dim=1, largest=False)
            keep = values <= r
            rows = torch.arange(len(targets), device=pos.device)[:, None].expand_as(index)
            src, row = index[keep], rows[keep]
        else:
            row, src = (dist <= r).nonzero(as_tuple=True)
        edges.append(torch.stack([first + src, targets[row]]))
    return _sorted_by_target(edges, pos)


def knn_graph(pos: torch.Tensor, k: int, batch: torch.Tensor | None = None, loop: bool = False) -> torch.Tensor:
    """Edges from the ``k`` nearest sources to every target (fewer if its graph is smaller);
    ``k`` must be positive and ``batch`` must hold integers."""
    _check(pos, batch)
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    edges = []
    for targets, first, dist in _blocked_distances(pos, batch, loop):
        values, index = dist.topk(min(k, dist.shape[1]), dim=1, largest=False)
        keep = torch.isfinite(values)
        rows = torch.arange(len(targets), device=pos.device)[:, None].expand_as(index)
        edges.append(torch.stack([first + index[keep], targets[rows[keep]]]))
    return _sorted_by_target(edges, pos)


def _sorted_by_target(blocks: list[torch.Tensor], pos: torch.Tensor) -> torch.Tensor:
    """Concatenate edge blocks, sorted by target and then source."""
    if not blocks:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    edge_index = torch.cat(blocks, dim=1)
    return edge_index[:, torch.argsort(edge_index[1] * pos.shape[0] + edge_index[0])]


def complete_graph(nodes: int) -> torch.Tensor:
    """``edge_index`` of the complete directed graph on ``nodes`` nodes, without loops."""
    edges = torch.combinations(torch.arange(nodes), r=2).T
    return torch.cat([edges, edges.flip(0)], dim=1)
