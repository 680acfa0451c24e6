"""radius_graph and knn_graph against brute force."""

import pytest
import torch

from implicit_kernels import graph, knn_graph, radius_graph


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
    dist = torch.cdist(pos, pos)
    dist[batch[:, None] != batch[None, :]] = float("inf")
    if not loop:
        dist.fill_diagonal_(float("inf"))
    if radius is not None:
        return {(j, i) for i, j in (dist <= radius).nonzero().tolist()}
    return {(int(j), i) for i in range(len(pos)) for j in dist[i].topk(k, largest=False).indices}


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("loop", [False, True])
def test_blocks_spanning_several_graphs_match_brute_force(shuffled, loop, monkeypatch):
    # blocks of 16 rows over graphs of 5 to 30 nodes: blocks start and end inside graphs; a sorted
    # batch takes the per-graph path, a shuffled one compares every block with all nodes
    monkeypatch.setattr(graph, "_BLOCK", 16)
    generator = torch.Generator().manual_seed(3)
    sizes = torch.randint(5, 31, (9,), generator=generator)
    batch = torch.arange(9).repeat_interleave(sizes)
    if shuffled:
        batch = batch[torch.randperm(len(batch), generator=generator)]
    pos = torch.rand(len(batch), 3, generator=generator)
    assert edge_set(radius_graph(pos, 0.4, batch=batch, loop=loop)) == brute_force(pos, batch, loop, radius=0.4)
    assert edge_set(knn_graph(pos, 4, batch=batch, loop=loop)) == brute_force(pos, batch, loop, k=4)


def test_graph_input_errors():
    with pytest.raises(ValueError, match="NaN"):
        radius_graph(torch.tensor([[0.0, float("nan")]]), 1.0)
    with pytest.raises(ValueError, match="k must be positive"):
        knn_graph(torch.rand(5, 2), 0)
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
