"""Gauge-equivariant mesh convolution: the extension of reps to all rotations, transport, exact
gauge equivariance for every planar structure group, invariance under rigid motions of a real
surface, completeness of the kernel, and the errors of bad inputs."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from groups import Group, Rep, get_group
from implicit_kernels import MeshConv, MeshGeometry, assert_equivariant, check_equivariance
from implicit_kernels.compare import coverage_ranks
from implicit_kernels.equivariance import TOLERANCE, mesh_conv_equivariance_error
from implicit_kernels.mesh import PlanarTransport
from implicit_kernels.mesh_geometry import disc_geometry, rotations
from implicit_kernels.nn import FieldNorm, Gate, Invariants, Linear, Sequential
from tests.implicit_kernels.nn_families import SKEWED, skewed

STRUCTURE_GROUPS = ["SO(2)", "O(2)", "C8", "D4", "C5", "SO(2)-mat", "O(2)-mat", "C4-mat", "D6-mat"]


def reps(name: str) -> tuple[Rep, Rep]:
    """An input and an output rep of each structure group: mixed frequencies, a non-orthogonal
    change of basis for the escnn-backed groups and (1,1)-tensors for the matrix family."""
    G = get_group(name)
    if name.endswith("-mat"):
        return G.trivial + G.standard + G.T(1, 1), G.standard + G.T(0, 1) + G.trivial
    if name in ("SO(2)", "C8", "C5"):
        rep_in = skewed(G, G.trivial + G.irrep(1) + G.irrep(2), seed=1)
        return rep_in, G.irrep(1) + G.trivial + G.irrep(2)
    rep_in = skewed(G, G.irrep(0, 0) + G.irrep(1, 1) + G.irrep(1, 0), seed=2)
    return rep_in, G.irrep(1, 1) + G.irrep(1, 0) + G.irrep(0, 0)


def o2_elements(k: int, generator: torch.Generator, reflections: bool) -> torch.Tensor:
    """``k`` random elements of ``O(2)`` (of ``SO(2)`` without ``reflections``)."""
    m = rotations(2 * math.pi * torch.rand(k, generator=generator, dtype=torch.float64))
    if reflections:
        flip = torch.rand(k, generator=generator) < 0.5
        m[flip] = m[flip] @ torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))
    return m


def holds_reflection(G: Group) -> bool:
    return bool((torch.linalg.det(G.sample(64)) < 0).any())


@pytest.mark.parametrize("name", STRUCTURE_GROUPS)
def test_rotation_generator_extends_the_rep(name):
    """``exp(t X) = rho(R(t))`` on every rotation of the group, and ``rho(F) X rho(F)^-1 = -X`` for
    its reflections, so ``R(t) F^s -> exp(t X) rho(F)^s`` is a homomorphism of O(2) extending rho."""
    rep = reps(name)[0]
    X = rep.rotation_generator()
    g = rep.group.sample(64, generator=torch.Generator().manual_seed(0))
    turns = g[torch.linalg.det(g) > 0]
    angles = torch.atan2(turns[:, 1, 0], turns[:, 0, 0])
    assert (torch.linalg.matrix_exp(angles[:, None, None] * X) - rep(turns)).abs().max() < 1e-12
    for flip in g[torch.linalg.det(g) < 0]:
        rho = rep(flip)
        assert (rho @ X @ torch.linalg.inv(rho) + X).abs().max() < 1e-12


def test_rotation_generator_refuses_irreps_that_do_not_extend():
    """The sign irrep of C8 (``-1`` under the rotation by ``2 pi / 8``) extends to no rep of SO(2)."""
    G = get_group("C8")
    with pytest.raises(ValueError, match=r"irrep \(4,\) of C8"):
        (G.irrep(1) + G.irrep(4)).rotation_generator()
    with pytest.raises(ValueError, match="acts on R\\^3"):
        get_group("O(3)").standard.rotation_generator()


@pytest.mark.parametrize("name", ["SO(2)", "O(2)", "D4", "O(2)-mat"])
def test_planar_transport_is_the_extension(name):
    """``PlanarTransport(v, m)`` equals ``exp(t X) rho(F)^s v`` for ``m = R(t) F^s`` (matrix
    exponential and the group's own ``rho(F)`` as the oracle) and respects products
    ``rho~(m1 m2) = rho~(m1) rho~(m2)``."""
    rep = reps(name)[0]
    G = rep.group
    generator = torch.Generator().manual_seed(3)
    reflections = holds_reflection(G)
    transport = PlanarTransport(rep)
    m1, m2 = o2_elements(32, generator, reflections), o2_elements(32, generator, reflections)
    v = torch.randn(32, rep.size, generator=generator, dtype=torch.float64)
    flipped = torch.linalg.det(m1) < 0
    turn, after = m1, torch.eye(rep.size, dtype=torch.float64)
    if reflections:
        F = next(f for f in (torch.diag(torch.tensor(d, dtype=torch.float64)) for d in ([1.0, -1.0], [-1.0, 1.0]))
                 if bool(G.contains(f[None])))
        turn = torch.where(flipped[:, None, None], m1 @ F, m1)
        after = torch.where(flipped[:, None, None], rep(F), after)
    angles = torch.atan2(turn[:, 1, 0], turn[:, 0, 0])
    oracle = torch.linalg.matrix_exp(angles[:, None, None] * rep.rotation_generator()) @ after
    assert (transport(v, m1) - torch.einsum("kab,kb->ka", oracle, v)).abs().max() < 1e-12
    assert (transport(v, m1 @ m2) - transport(transport(v, m2), m1)).abs().max() < 1e-12


@pytest.mark.parametrize("name", STRUCTURE_GROUPS)
def test_mesh_conv_is_gauge_equivariant(name):
    """A random change of gauge at every vertex (a random element of the structure group per
    vertex) changes the outputs by ``rho_out(g_i)^-1`` (float64 1e-10, float32 1e-5), for a layer
    and for a network of a mesh layer, a gate, a norm, a linear map and a second mesh layer. The
    network's float32 errors on the skewed reps of the escnn groups are held to ``SKEWED``: the
    non-orthogonal change of basis amplifies float32 rounding (measured up to 1.5e-5)."""
    rep_in, rep_out = reps(name)
    conv = MeshConv(rep_in, rep_out, radius=1.0, avg_degree=8)
    assert_equivariant(conv)
    net = Sequential(MeshConv(rep_in, rep_out, radius=1.0, avg_degree=8), Gate(rep_out), FieldNorm(rep_out),
                     Linear(rep_out, rep_out), MeshConv(rep_out, rep_in, radius=1.0, avg_degree=8))
    assert_equivariant(net, None if name.endswith("-mat") else SKEWED)


def test_gauge_check_catches_a_missing_transport():
    """The same check fails (error above 1e-2) when neighbours' features are not transported, or
    transported by the inverse element."""
    rep_in, rep_out = reps("SO(2)")
    conv = MeshConv(rep_in, rep_out, radius=1.0, avg_degree=8).double()
    generator = torch.Generator().manual_seed(0)
    geometry = disc_geometry(12, generator)
    f = torch.randn(12, rep_in.size, generator=generator, dtype=torch.float64)
    gauge = rep_in.group.sample(12, generator=generator)
    assert mesh_conv_equivariance_error(conv, gauge, f, geometry) < 1e-12
    honest = conv.transport.forward
    for planted in (lambda v, m: v, lambda v, m: honest(v, m.transpose(-1, -2))):
        conv.transport.forward = planted
        assert mesh_conv_equivariance_error(conv, gauge, f, geometry) > 1e-2
    conv.transport.forward = honest


@pytest.mark.parametrize("name", ["SO(2)", "O(2)", "C8", "D4"])
def test_mesh_kernel_is_complete(name):
    """The kernel on the tangent plane spans ``Hom_Stab(x)`` at generic points: its rank equals
    escnn's analytic basis's and the solver's ``dim Hom_Stab(x)`` (coverage 1)."""
    rep_in, rep_out = reps(name)
    conv = MeshConv(rep_in, rep_out, radius=1.0).double()
    x = torch.tensor([0.37, -0.61], dtype=torch.float64)
    implicit, analytic, hom = coverage_ranks(conv.kernel, x)
    assert implicit == analytic == hom > 0


def icosphere() -> tuple[torch.Tensor, torch.Tensor]:
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.creation.icosphere(subdivisions=2)
    return torch.as_tensor(mesh.vertices), torch.as_tensor(mesh.faces)


def test_scalar_network_on_a_surface_is_invariant_to_rigid_motions(tmp_path):
    """On potpourri3d's geometry of an icosphere (frames, log maps, transport), a network from
    scalars through vector and frequency-2 features to invariants gives the same outputs for the
    surface rotated and translated in space (the geometry is intrinsic), and the geometry cache
    returns what was computed."""
    pytest.importorskip("potpourri3d")
    vertices, faces = icosphere()
    G = get_group("SO(2)")
    hidden = 2 * G.trivial + 2 * G.irrep(1) + G.irrep(2)
    net = Sequential(MeshConv(G.trivial, hidden, radius=0.5, avg_degree=12), Gate(hidden),
                     MeshConv(hidden, hidden, radius=0.5, avg_degree=12), Invariants(hidden, norms=True)).double()
    geometry = MeshGeometry.from_mesh(vertices, faces, 0.5, cache=tmp_path, progress=False)
    assert geometry.num_edges > 5 * len(vertices)
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0),
                                           dtype=torch.float64))[0]
    moved = MeshGeometry.from_mesh(vertices @ rotation.T + 0.3, faces, 0.5, progress=False)
    assert torch.equal(moved.edge_index, geometry.edge_index)
    f = torch.randn(len(vertices), 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = net(f, geometry)
    assert (net(f, moved) - out).abs().max() / out.abs().max() < 1e-8
    cached = MeshGeometry.from_mesh(vertices, faces, 0.5, cache=tmp_path, progress=False)
    assert all(torch.equal(getattr(cached, k), getattr(geometry, k)) for k in ("log_map", "transport", "frames"))


def test_geometry_of_a_surface_has_rotations_as_transport_and_inverse_pairs():
    """potpourri3d's transports of right-handed frames are rotations, ``g_{i<-j} g_{j<-i} = 1`` on
    symmetric edge pairs (to the solver's accuracy), and log maps stay inside the radius."""
    pytest.importorskip("potpourri3d")
    vertices, faces = icosphere()
    geometry = MeshGeometry.from_mesh(vertices, faces, 0.4, progress=False)
    assert torch.allclose(torch.linalg.det(geometry.transport), torch.ones(geometry.num_edges, dtype=torch.float64))
    assert float(geometry.log_map.norm(dim=1).max()) < 0.4
    index = {(int(j), int(i)): e for e, (j, i) in enumerate(geometry.edge_index.T)}
    pairs = [(e, index[i, j]) for (j, i), e in index.items() if (i, j) in index]
    forward, backward = (torch.tensor(side) for side in zip(*pairs))
    product = geometry.transport[forward] @ geometry.transport[backward]
    assert (product - torch.eye(2, dtype=torch.float64)).abs().max() < 1e-3


def test_change_of_gauge_composes():
    """Changing gauge by ``g`` and then by ``h`` is changing it by ``g h`` (frames ``e g h``)."""
    generator = torch.Generator().manual_seed(5)
    geometry = disc_geometry(9, generator)
    g, h = o2_elements(9, generator, True), o2_elements(9, generator, True)
    twice, once = geometry.change_gauge(g).change_gauge(h), geometry.change_gauge(g @ h)
    assert torch.allclose(twice.log_map, once.log_map, atol=1e-14)
    assert torch.allclose(twice.transport, once.transport, atol=1e-14)


def test_mesh_conv_round_trips_and_moves():
    """state_dict, pickle and ``.double()`` keep the layer's outputs; constants stay float64."""
    rep_in, rep_out = reps("D4")
    conv = MeshConv(rep_in, rep_out, radius=1.0)
    geometry = disc_geometry(10, torch.Generator().manual_seed(0), torch.float32)
    f = torch.randn(10, rep_in.size)
    out = conv(f, geometry)
    clone = pickle.loads(pickle.dumps(conv))
    assert torch.equal(clone(f, geometry), out)
    fresh = MeshConv(rep_in, rep_out, radius=1.0)
    fresh.load_state_dict(conv.state_dict())
    assert torch.equal(fresh(f, geometry), out)
    double = conv.double()
    assert double.transport.cos_maps.dtype == torch.float64
    assert (double(f.double(), geometry.to(torch.float64)) - out.double()).abs().max() < 1e-5


def test_mesh_conv_errors_name_what_was_expected():
    G = get_group("C8")
    conv = MeshConv(G.irrep(1), G.irrep(1), radius=1.0).double()
    geometry = disc_geometry(6, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="acts on R\\^3"):
        MeshConv(get_group("O(3)").standard, get_group("O(3)").standard)
    with pytest.raises(TypeError, match="MeshGeometry"):
        conv(torch.randn(6, 2, dtype=torch.float64), geometry.edge_index)
    with pytest.raises(ValueError, match="2 channels"):
        conv(torch.randn(6, 3, dtype=torch.float64), geometry)
    with pytest.raises(TypeError, match="dtype"):
        conv(torch.randn(6, 2, dtype=torch.float64), geometry.to(torch.float32))
    gauge = torch.eye(2, dtype=torch.float64).repeat(6, 1, 1)
    gauge[0, 1, 1] = -1.0  # a reflected frame at one vertex: transports to and from it are reflections
    flipped = geometry.change_gauge(gauge)
    with pytest.raises(ValueError, match="reflection"):
        conv(torch.randn(6, 2, dtype=torch.float64), flipped)
    with pytest.raises(ValueError, match=r"transport must have shape \(30, 2, 2\)"):
        MeshGeometry(geometry.edge_index, geometry.log_map, geometry.transport[:, 0])


def test_check_equivariance_reports_both_dtypes_for_mesh_modules():
    rep_in, rep_out = reps("O(2)")
    errors = check_equivariance(MeshConv(rep_in, rep_out, radius=1.0))
    assert set(errors) == {torch.float32, torch.float64}
    assert all(errors[dtype] <= TOLERANCE[dtype] for dtype in errors)


def test_concatenated_geometries_convolve_each_surface_alone():
    """A batch of two geometries gives each surface's own outputs (no edge crosses between them),
    and self-loops add ``K(0) f_i`` while keeping the layer gauge equivariant."""
    rep_in, rep_out = reps("C8")
    conv = MeshConv(rep_in, rep_out, radius=1.0, avg_degree=8).double()
    generator = torch.Generator().manual_seed(4)
    first, second = disc_geometry(7, generator), disc_geometry(5, generator)
    f = torch.randn(12, rep_in.size, generator=generator, dtype=torch.float64)
    batch = MeshGeometry.concatenate([first, second], num_vertices=[7, 5])
    alone = torch.cat([conv(f[:7], first), conv(f[7:], second)])
    assert (conv(f, batch) - alone).abs().max() < 1e-12
    looped = batch.with_self_loops(12)
    assert looped.num_edges == batch.num_edges + 12
    own = conv.kernel(torch.zeros(1, 2, dtype=torch.float64))[0] @ f.T / conv.avg_degree**0.5
    assert (conv(f, looped) - conv(f, batch) - own.T).abs().max() < 1e-12
    gauge = rep_in.group.sample(12, generator=generator)
    assert mesh_conv_equivariance_error(conv, gauge, f, looped) < 1e-12
    with pytest.raises(ValueError, match="num_vertices"):
        first.with_self_loops()
