"""radius_graph and knn_graph against brute force."""

import pytest
import torch

from implicit_kernels import knn_graph, radius_graph


def edge_set(edge_index):
    return set(map(tuple, edge_index.T.tolist()))


def test_radius_graph_matches_brute_force():
    pos = torch.rand(300, 3, generator=torch.Generator().manual_seed(0))
    edges = radius_graph(pos, 0.2)
    dist = torch.cdist(pos, pos)
    expected = {(j, i) for i in range(300) for j in range(300) if i != j and dist[i, j] <= 0.2}
    assert edge_set(edges) == expected
    assert torch.all(edges[1][1:] >= edges[1][:-1])  # sorted by target
    with_loops = radius_graph(pos, 0.2, loop=True)
    assert with_loops.shape[1] == edges.shape[1] + 300


def test_radius_graph_neighbour_cap_keeps_nearest():
    pos = torch.rand(200, 2, generator=torch.Generator().manual_seed(1))
    capped = radius_graph(pos, 0.3, max_num_neighbors=5)
    assert torch.bincount(capped[1], minlength=200).max() <= 5
    dist = torch.cdist(pos, pos)
    for j, i in capped.T.tolist()[:50]:
        others = dist[i].clone()
        others[i] = float("inf")
        assert dist[i, j] <= others.sort().values[4] + 1e-7


def test_knn_graph_matches_brute_force_and_respects_batches():
    pos = torch.rand(120, 3, generator=torch.Generator().manual_seed(2))
    batch = torch.arange(3).repeat_interleave(40)
    edges = knn_graph(pos, 6, batch=batch)
    assert torch.equal(torch.bincount(edges[1], minlength=120), torch.full((120,), 6))
    assert torch.equal(batch[edges[0]], batch[edges[1]])
    dist = torch.cdist(pos, pos)
    dist[batch[:, None] != batch[None, :]] = float("inf")
    dist.fill_diagonal_(float("inf"))
    expected = {(int(j), i) for i in range(120) for j in dist[i].topk(6, largest=False).indices}
    assert edge_set(edges) == expected


def brute_force(pos, batch, loop, radius=None, k=None):
    """Edges ``(j, i)`` from all pairwise distances: within ``radius``, or the ``k`` nearest."""
    dist = (pos[:, None] - pos[None, :]).norm(dim=-1)
    dist[batch[:, None] != batch[None, :]] = float("inf")
    if not loop:
        dist.fill_diagonal_(float("inf"))
    if radius is not None:
        return {(j, i) for i, j in (dist <= radius).nonzero().tolist()}
    return {(int(j), i) for i in range(len(pos)) for j, d in zip(*dist[i].topk(min(k, len(pos)), largest=False)[::-1])
            if d < float("inf")}


def clouds():
    """Clouds that stress the cell list: several graphs stored in any order, more than three
    coordinates (cells on the first three), a flat cloud, duplicate points, an outlier far enough
    that cells of side r would overflow an int64 key."""
    generator = torch.Generator().manual_seed(3)
    sizes = torch.randint(5, 31, (9,), generator=generator)
    batch = torch.arange(9).repeat_interleave(sizes)
    shuffled = batch[torch.randperm(len(batch), generator=generator)]
    pos = torch.rand(len(batch), 3, generator=generator, dtype=torch.float64)
    flat = pos.clone()
    flat[:, 2] = 0.5
    duplicates = torch.cat([pos[:40], pos[:40]])
    outlier = torch.cat([pos[:60], torch.tensor([[1e15, -1e15, 1e15]], dtype=torch.float64)])
    single = torch.zeros(len(pos), dtype=torch.long)
    return {
        "sorted batch": (pos, batch),
        "shuffled batch": (pos, shuffled - 4),  # negative graph ids too
        "five coordinates": (torch.rand(len(batch), 5, generator=generator, dtype=torch.float64), shuffled),
        "flat": (flat, single),
        "duplicates": (duplicates, single[:80]),
        "outlier": (outlier, single[:61]),
    }


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("name", list(clouds()))
def test_graphs_match_brute_force(name, loop):
    pos, batch = clouds()[name]
    for radius in (0.0, 0.15, 0.4, 3.0):
        edges = radius_graph(pos, radius, batch=batch, loop=loop)
        assert edge_set(edges) == brute_force(pos, batch, loop, radius=radius)
    if name not in ("duplicates", "outlier"):  # tied among the k nearest: the order is arbitrary
        for k in (1, 4, 25):
            assert edge_set(knn_graph(pos, k, batch=batch, loop=loop)) == brute_force(pos, batch, loop, k=k)


def test_knn_graph_keeps_all_of_a_graph_smaller_than_k():
    pos = torch.rand(7, 3, generator=torch.Generator().manual_seed(4))
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    edges = knn_graph(pos, 10, batch=batch)
    assert torch.equal(torch.bincount(edges[1], minlength=7), torch.tensor([2, 2, 2, 3, 3, 3, 3]))


def test_graphs_of_no_nodes_have_no_edges():
    for edges in (radius_graph(torch.zeros(0, 3), 1.0), knn_graph(torch.zeros(0, 3), 3)):
        assert edges.shape == (2, 0) and edges.dtype == torch.long


def test_graph_input_errors():
    with pytest.raises(ValueError, match="NaN"):
        radius_graph(torch.tensor([[0.0, float("nan")]]), 1.0)
    with pytest.raises(ValueError, match="k must be positive"):
        knn_graph(torch.rand(5, 2), 0)
    with pytest.raises(ValueError, match="max_num_neighbors must be None or positive, got 0"):
        radius_graph(torch.rand(5, 2), 1.0, max_num_neighbors=0)
    with pytest.raises(ValueError, match="batch must be"):
        knn_graph(torch.rand(5, 2), 2, batch=torch.zeros(4, dtype=torch.long))


@pytest.mark.parametrize("r", [-0.5, -1e-12, float("nan")])
def test_radius_graph_refuses_a_negative_or_nan_radius(r):
    with pytest.raises(ValueError, match=f"radius r must be a non-negative number, got {r!r}"):
        radius_graph(torch.rand(5, 2), r)


@pytest.mark.parametrize("build", [lambda pos, batch: radius_graph(pos, 0.5, batch=batch),
                                   lambda pos, batch: knn_graph(pos, 2, batch=batch)],
                         ids=["radius_graph", "knn_graph"])
def test_graphs_refuse_a_non_integer_batch(build):
    pos = torch.rand(6, 2)
    for batch in (torch.zeros(6), torch.zeros(6, dtype=torch.bool)):
        with pytest.raises(TypeError, match=f"batch must be an integer tensor .*got {batch.dtype}"):
            build(pos, batch)
    assert build(pos, torch.zeros(6, dtype=torch.int32)).shape[0] == 2
