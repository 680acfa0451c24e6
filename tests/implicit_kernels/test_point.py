"""PointConv: equivariance under continuous elements and translations, aggregation, batching,
variance at initialisation, state_dict and bad input."""

import pytest
import torch
from conftest import LOOSER_TOLERANCE, matrix_reps, mixed_reps, tolerance_for

from groups import get_group
from implicit_kernels import PointConv, radius_graph
from implicit_kernels.equivariance import TOLERANCE, assert_equivariant, point_conv_equivariance_error
from implicit_kernels.neighbours import NeighbourTables, group_by_degree


def random_cloud(n_points, dim, generator, dtype=torch.float64):
    pos = torch.randn(n_points, dim, generator=generator, dtype=torch.float64)
    return pos.to(dtype), radius_graph(pos, 1.5)


def test_equivariant_to_random_elements_and_translations(group):
    assert_equivariant(PointConv(*mixed_reps(group), radius=1.5), n_samples=4)


def test_edge_attributes_are_equivariant():
    G = get_group("SO(3)")
    attr = G.trivial + G.standard
    assert_equivariant(PointConv(G.trivial + G.standard, G.standard, attr=attr, radius=1.5), n_samples=4)


def test_messages_follow_source_to_target_convention():
    """One edge 0 -> 1: only node 1 receives, and it receives K(pos_0 - pos_1) f_0."""
    G = get_group("SO(2)")
    conv = PointConv(G.standard, G.standard, bias=False).double()
    pos = torch.tensor([[0.3, 0.1], [-0.2, 0.4]], dtype=torch.float64)
    f = torch.tensor([[1.0, 2.0], [5.0, -1.0]], dtype=torch.float64)
    out = conv(f, pos, torch.tensor([[0], [1]]))
    expected = conv.kernel(pos[0:1] - pos[1:2])[0] @ f[0]
    assert torch.allclose(out[1], expected) and torch.count_nonzero(out[0]) == 0


def test_mean_aggregation_and_chunking_agree_with_definition(generator):
    G = get_group("O(2)")
    pos, edges = random_cloud(25, 2, generator)
    f = torch.randn(25, 3, generator=generator, dtype=torch.float64)
    conv = PointConv(G.trivial + G.standard, G.standard, aggregation="mean", bias=False, chunk_size=7).double()
    kernel = conv.kernel(pos[edges[0]] - pos[edges[1]])
    messages = torch.einsum("eoi,ei->eo", kernel, f[edges[0]])
    summed = torch.zeros(25, 2, dtype=torch.float64).index_add(0, edges[1], messages)
    degree = torch.bincount(edges[1], minlength=25).clamp_min(1)
    assert torch.allclose(conv(f, pos, edges), summed / degree[:, None])


def test_batched_graphs_do_not_interact(generator):
    G = get_group("O(3)")
    conv = PointConv(G.trivial, G.standard, radius=2.0).double()
    pos = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    batch = torch.arange(2).repeat_interleave(10)
    edges = radius_graph(pos, 10.0, batch=batch)
    f = torch.randn(20, 1, generator=generator, dtype=torch.float64)
    together = conv(f, pos, edges)
    first_only = conv(f[:10], pos[:10], radius_graph(pos[:10], 10.0))
    assert torch.allclose(together[:10], first_only)


def test_unit_variance_at_initialisation():
    G = get_group("SO(3)")
    rep_in, rep_out = mixed_reps(G)
    generator = torch.Generator().manual_seed(0)
    pos = 6 * torch.rand(3000, 3, generator=generator)
    edges = radius_graph(pos, 1.0)
    interior = ((pos > 1) & (pos < 5)).all(dim=1)
    degree = torch.bincount(edges[1], minlength=3000)[interior].float().mean()
    conv = PointConv(rep_in, rep_out, radius=1.0, avg_degree=float(degree))
    with torch.no_grad():
        y = conv(torch.randn(3000, rep_in.size, generator=generator), pos, edges)[interior]
    variance = y.var(dim=0).mean()
    assert 0.6 < variance < 1.6, variance


def test_zero_length_edges_are_finite(generator):
    G = get_group("O(3)")
    conv = PointConv(G.standard, G.trivial + G.standard).double()
    pos = torch.zeros(3, 3, dtype=torch.float64)
    edges = torch.tensor([[0, 1, 2, 0], [0, 0, 1, 2]])
    f = torch.randn(3, 3, generator=generator, dtype=torch.float64)
    out = conv(f, pos, edges)
    assert torch.isfinite(out).all()
    g = G.sample(1, generator=generator)[0]
    error = point_conv_equivariance_error(conv, g, torch.zeros(3, dtype=torch.float64), f, pos, edges)
    assert error <= TOLERANCE[torch.float64]


def test_state_dict_round_trip_and_device_move(generator):
    G = get_group("C8")
    rep_in, rep_out = mixed_reps(G)
    a, b = PointConv(rep_in, rep_out), PointConv(rep_in, rep_out)
    pos, edges = random_cloud(12, 2, generator, torch.float32)
    f = torch.randn(12, rep_in.size, generator=generator)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(f, pos, edges), b(f, pos, edges))
    moved = a.to("cpu", torch.float64)
    assert moved(f.double(), pos.double(), edges).dtype == torch.float64


def test_bad_input_errors():
    G = get_group("O(3)")
    conv = PointConv(G.standard, G.trivial)
    f, pos, edges = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="3 channels"):
        conv(torch.randn(4, 2), pos, edges)
    with pytest.raises(ValueError, match="last dimension n = 3"):
        conv(f, torch.randn(4, 2), edges)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        conv(f, pos, torch.tensor([[0, 4], [1, 2]]))
    with pytest.raises(ValueError, match="NaN"):
        conv(f, torch.tensor([[0.0, float("nan"), 0.0]] * 4), edges)
    with pytest.raises(ValueError, match="shape \\(2, E\\)"):
        conv(f, pos, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="without an attr rep"):
        conv(f, pos, edges, torch.randn(2, 1))
    with pytest.raises(ValueError, match="different groups"):
        PointConv(G.standard, get_group("SO(3)").standard)
    with_attr = PointConv(G.standard, G.trivial, attr=G.trivial)
    with pytest.raises(ValueError, match="needs attributes"):
        with_attr(f, pos, edges)
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        with_attr(f, pos, edges, torch.randn(3, 1))


@pytest.mark.parametrize("name", ["O(3,0)", "O(1,3)", "O(2,2)", "O(1,2)"])
@pytest.mark.parametrize("dtype, rapidity", [(torch.float32, 1.0), (torch.float64, 2.0)])
def test_clifford_point_conv_under_boosts_and_translations(name, dtype, rapidity, generator):
    G = get_group(name)
    conv = PointConv(G.multivector + G.grade(1), G.multivector, attr=G.grade(0), radius=1.5)
    elements = G.sample(3, generator=generator, max_rapidity=rapidity)
    assert_equivariant(conv, LOOSER_TOLERANCE["boosts"], dtypes=(dtype,), elements=elements)


def test_clifford_point_conv_on_light_like_and_coincident_events(generator):
    G = get_group("O(1,3)")
    conv = PointConv(G.multivector, G.multivector).double()
    pos = torch.tensor([[0.0, 0, 0, 0], [1.0, 1.0, 0, 0], [1.0, 1.0, 0, 0], [2.0, 0.0, 0, 0]], dtype=torch.float64)
    edges = torch.tensor([[1, 2, 0, 3], [0, 1, 1, 0]])  # light-like, coincident, light-like, time-like
    out = conv(torch.randn(4, 16, generator=generator, dtype=torch.float64), pos, edges)
    assert bool(torch.isfinite(out).all())


def test_matrix_group_point_conv_under_continuous_elements(matrix_group):
    conv = PointConv(*matrix_reps(matrix_group), radius=1.5)
    assert_equivariant(conv, tolerance_for(matrix_group), n_samples=3)


def _clifford_reps(G, wide: bool):
    """Mixed grades; ``wide`` enough (many field pairs) for the factored Clifford network to sum
    over neighbours from its features' factors instead of the features."""
    if wide:
        return G.grade(0) + 3 * G.grade(1), 4 * G.multivector + G.grade(2)
    return G.grade(0) + G.grade(1), G.multivector + G.grade(2)


@pytest.mark.parametrize("name", ["O(3)", "O(3)-mat", "SO+(1,3)-mat", "O(1,2)", "O(1,2) wide"])
@pytest.mark.parametrize("graph", ["random", "star"])
@pytest.mark.parametrize("chunk_size", [8, 4096])
def test_head_factorised_sum_matches_per_edge_kernels(name, graph, chunk_size, generator):
    """Compact, matrix and Clifford kernels sum features through the linear head over padded
    neighbour lists (the matrix family block by block, the Clifford family from its features or,
    for wide layers, from their factors); the per-edge path must agree, in values and gradients
    for the input and every parameter, on uneven degrees (a star) and when small chunks cut the
    neighbour lists into many groups."""
    G = get_group(name.split()[0])
    rep_in, rep_out = _clifford_reps(G, name.endswith("wide")) if name.startswith("O(1,2)") else mixed_reps(G)
    conv = PointConv(rep_in, rep_out, radius=1.5, chunk_size=chunk_size).double()
    if graph == "random":
        pos, edges = random_cloud(30, G.n, generator)
    else:
        pos = torch.randn(30, G.n, generator=generator, dtype=torch.float64)
        edges = torch.stack([torch.arange(1, 30), torch.zeros(29, dtype=torch.long)])
    f = torch.randn(30, rep_in.size, generator=generator, dtype=torch.float64, requires_grad=True)
    wrt = [f, *conv.parameters()]
    ours = conv(f, pos, edges)
    grad_ours = torch.autograd.grad(ours.square().sum(), wrt)
    src, dst = edges
    per_edge = conv._aggregate_kernels(NeighbourTables(edges, 30), lambda ids: pos[src[ids]] - pos[dst[ids]],
                                       lambda ids: f[src[ids]], None)
    reference = per_edge / conv.avg_degree**0.5 + conv.bias().double()
    grad_reference = torch.autograd.grad(reference.square().sum(), wrt)
    assert torch.allclose(ours, reference, atol=1e-12)
    for ours_part, reference_part in zip(grad_ours, grad_reference, strict=True):
        assert torch.allclose(ours_part, reference_part, atol=1e-10)
    empty = conv(f, pos, torch.zeros(2, 0, dtype=torch.long))
    assert torch.allclose(empty, conv.bias().double().expand(30, -1))


@pytest.mark.parametrize("max_slots", [1, 7, 64])
def test_neighbour_tables_hold_every_edge_once(max_slots, generator):
    """Every edge sits in exactly one slot, in its target's row; the rest is padding; groups stay
    within ``max_slots`` unless a single node needs more; nodes without edges are left out."""
    n_nodes, n_edges = 40, 300
    dst = torch.randint(0, n_nodes - 5, (n_edges,), generator=generator)
    tables = group_by_degree(dst, n_nodes, max_slots)
    seen = torch.cat([edges[edges < n_edges] for _, edges in tables])
    assert torch.equal(seen.sort().values, torch.arange(n_edges))
    for nodes, edges in tables:
        assert edges.numel() <= max_slots or len(nodes) == 1
        rows = nodes[:, None].expand_as(edges)
        assert torch.equal(dst[edges[edges < n_edges]], rows[edges < n_edges])
    nodes = torch.cat([nodes for nodes, _ in tables])
    assert set(nodes.tolist()) == set(dst.tolist())


@pytest.mark.parametrize("name", ["O(3)", "O(1,2)", "SO(3)-mat"])
@pytest.mark.parametrize("aggregation", ["sum", "mean"])
def test_shared_neighbour_tables_give_the_outputs_of_edge_index(name, aggregation, generator):
    """Tables built once (with another slot count than the layers' chunk size) and passed to
    layers of a compact (linear-head), a Clifford and a matrix family give the outputs and
    gradients of the same layers called with ``edge_index``."""
    G = get_group(name)
    rep_in, rep_out = (G.multivector, G.grade(0) + G.grade(2)) if name == "O(1,2)" else mixed_reps(G)
    pos, edges = random_cloud(40, G.n, generator)
    tables = NeighbourTables(edges, 40, max_slots=13)
    conv = PointConv(rep_in, rep_out, radius=1.5, aggregation=aggregation, chunk_size=50).double()
    f = torch.randn(40, rep_in.size, generator=generator, dtype=torch.float64, requires_grad=True)
    from_edges, from_tables = conv(f, pos, edges), conv(f, pos, tables)
    (grad_edges,) = torch.autograd.grad(from_edges.square().sum(), f)
    (grad_tables,) = torch.autograd.grad(from_tables.square().sum(), f)
    assert (from_tables - from_edges).abs().max() <= 1e-12 * from_edges.abs().max()
    assert (grad_tables - grad_edges).abs().max() <= 1e-12 * grad_edges.abs().max()


def test_neighbour_tables_check_their_graph_once_and_their_nodes_on_every_call(generator):
    G = get_group("SO(2)")
    conv = PointConv(G.standard, G.standard).double()
    pos, edges = random_cloud(12, 2, generator)
    tables = NeighbourTables(edges, 12)
    assert repr(tables) == f"NeighbourTables(num_nodes=12, num_edges={edges.shape[1]}, groups=1, max_slots=4096)"
    with pytest.raises(ValueError, match="the neighbour tables are for 12 nodes, the features have 11"):
        conv(torch.zeros(11, 2, dtype=torch.float64), pos[:11], tables)
    with pytest.raises(ValueError, match=r"edge_index entries must lie in \[0, 5\)"):
        NeighbourTables(edges, 5)
    with pytest.raises(ValueError, match="max_slots must be positive, got 0"):
        NeighbourTables(edges, 12, max_slots=0)
    moved = tables.to("cpu")
    f = torch.randn(12, 2, generator=generator, dtype=torch.float64)
    assert torch.equal(conv(f, pos, moved), conv(f, pos, tables))


def test_a_network_on_shared_tables_is_captured_as_one_graph(generator):
    """With neighbour tables, a PointConv -> Gate -> PointConv network has no graph break:
    ``torch.compile(fullgraph=True)`` captures it (the eager backend: capture without code
    generation) and gives the eager outputs."""
    from implicit_kernels.nn import Gate, Sequential

    G = get_group("O(3)")
    hidden = 2 * G.trivial + G.standard + G.standard.tensor(G.standard)
    net = Sequential(PointConv(G.trivial + G.standard, hidden, radius=1.5), Gate(hidden),
                     PointConv(hidden, G.standard, radius=1.5))
    pos, edges = random_cloud(30, 3, generator, dtype=torch.float32)
    f = torch.randn(30, 4, generator=generator)
    tables = NeighbourTables(edges, 30)
    captured = torch.compile(net, fullgraph=True, backend="eager")
    assert torch.allclose(captured(f, pos, tables), net(f, pos, tables), atol=1e-6)
