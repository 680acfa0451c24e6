"""The incoming edges of every node, laid out once per graph for the edge layers' sums.

:class:`NeighbourTables` holds what :class:`~implicit_kernels.PointConv` otherwise derives from
``edge_index`` on every call: the padded edges (id ``E`` stands for "no edge"), the in-degree of
every node, and the neighbour lists grouped by in-degree (:func:`group_by_degree`). Build it once
per graph and pass it instead of ``edge_index`` to every layer of a network: the layers then do no
data-dependent work, so a network compiles with ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

import torch

from implicit_kernels.validation import check_edge_index

DEFAULT_SLOTS = 4096


def group_by_degree(dst: torch.Tensor, n_nodes: int, max_slots: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Padded neighbour lists, grouped by in-degree.

    Targets with incoming edges are sorted by in-degree and cut into groups of at most
    ``max_slots`` padded slots (a group holding one node of larger degree is allowed). Each group
    is ``(nodes, edges)``: ``nodes`` ``(m,)`` and ``edges`` ``(m, w)``, the incoming edge ids of
    each node padded with ``dst.numel()`` to the group's largest degree ``w``. Sorting by degree
    keeps the padding small on graphs with uneven degrees.
    """
    n_edges = dst.numel()
    order = torch.argsort(dst, stable=True)
    degree = torch.bincount(dst, minlength=n_nodes)
    start = torch.cumsum(degree, 0) - degree
    nodes = torch.argsort(degree, stable=True)
    nodes = nodes[degree[nodes] > 0]
    sorted_degree = degree[nodes]
    count = torch.arange(1, len(nodes) + 1, device=dst.device)
    groups, first = [], 0
    while first < len(nodes):
        # slots of the group [first, first + k) for every k: non-decreasing, since degrees are sorted
        slots_needed = count[: len(nodes) - first] * sorted_degree[first:]
        last = first + max(1, int(torch.searchsorted(slots_needed, max_slots, right=True)))
        group = nodes[first:last]
        slots = torch.arange(int(sorted_degree[last - 1]), device=dst.device)
        position = start[group, None] + slots
        valid = slots < degree[group, None]
        edges = torch.where(valid, order[position.clamp_max(n_edges - 1)], n_edges)
        groups.append((group, edges))
        first = last
    return groups


class NeighbourTables:
    """The edges ``j -> i`` of one graph on ``num_nodes`` nodes, laid out for the edge layers.

    Args:
        edge_index: ``(2, E)`` integer tensor, row 0 the source ``j``, row 1 the target ``i``
            (checked once here: ``TypeError``/``ValueError`` as for the layers).
        num_nodes: the number of nodes ``N``.
        max_slots: padded neighbour slots per group of :attr:`groups`; it bounds the memory of a
            linear-head layer's per-group features, as a layer's ``chunk_size`` does when it builds
            the tables itself. ``torch.compile`` traces every group and generates code for its
            shapes, so fewer, larger groups compile faster.

    Attributes:
        edge_index: the edges as given.
        source, target: ``(E + 1,)`` the rows of ``edge_index`` with the padding edge ``E`` appended,
            whose source and target is the extra node ``N`` (layers append a zero row to their
            features and positions for it).
        degree: ``(N,)`` in-degree of every node.
        groups: ``[(nodes (m,), edges (m, w))]`` from :func:`group_by_degree`.
    """

    def __init__(self, edge_index: torch.Tensor, num_nodes: int, max_slots: int = DEFAULT_SLOTS):
        check_edge_index(edge_index, num_nodes)
        if max_slots < 1:
            raise ValueError(f"max_slots must be positive, got {max_slots}")
        self.edge_index, self.num_nodes, self.max_slots = edge_index, num_nodes, max_slots
        pad = edge_index.new_full((1,), num_nodes)
        self.source, self.target = (torch.cat([index, pad]) for index in edge_index)
        self.degree = torch.bincount(edge_index[1], minlength=num_nodes)
        self.groups = group_by_degree(edge_index[1], num_nodes, max_slots)

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    def to(self, device: torch.device | str) -> NeighbourTables:
        """The same tables on ``device``."""
        moved = object.__new__(NeighbourTables)
        moved.num_nodes, moved.max_slots = self.num_nodes, self.max_slots
        moved.edge_index, moved.source, moved.target, moved.degree = (
            t.to(device) for t in (self.edge_index, self.source, self.target, self.degree))
        moved.groups = [(nodes.to(device), edges.to(device)) for nodes, edges in self.groups]
        return moved

    def __repr__(self) -> str:
        return (f"NeighbourTables(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
                f"groups={len(self.groups)}, max_slots={self.max_slots})")
