"""Mesh benchmark data: closed embedded surfaces, potpourri3d's frame and connection-Laplacian conventions, the vector
heat flow's gauge equivariance, rigid-motion invariance and contraction, the mean curvature, and the cached,
deterministic dataset."""

from __future__ import annotations

import numpy as np
import potpourri3d as pp3d
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch
import trimesh

from benchmarks.cache import digest
from benchmarks.mesh import data, surfaces

SIZES = (4, 2, 2)


@pytest.fixture(scope="module")
def dataset() -> dict[str, torch.Tensor]:
    return data.generate(seed=7, sizes=SIZES, workers=1)


@pytest.fixture(scope="module", params=[0, 1], ids=list(surfaces.KINDS))
def surface(request) -> surfaces.Sample:
    return surfaces.sample(11, 0, request.param)


def _complex(coordinates: np.ndarray) -> np.ndarray:
    return coordinates[:, 0] + 1j * coordinates[:, 1]


def _mass_norm(field: np.ndarray, areas: np.ndarray) -> float:
    return float(np.sqrt((areas * np.abs(field) ** 2).sum()))


def test_dataset_is_deterministic_independent_of_workers_and_seeded(dataset):
    again = data.generate(seed=7, sizes=SIZES, workers=1)
    parallel = data.generate(seed=7, sizes=SIZES, workers=2)
    assert dataset.keys() == again.keys() == parallel.keys()
    assert all(torch.equal(dataset[k], again[k]) and torch.equal(dataset[k], parallel[k]) for k in dataset)
    other = data.generate(seed=8, sizes=SIZES, workers=1)
    assert not torch.equal(other["train_inputs"][:10], dataset["train_inputs"][:10])


def test_splits_have_documented_shapes_and_balanced_kinds(dataset):
    splits = {s: data.MeshSplit({k.removeprefix(f"{s}_"): v for k, v in dataset.items() if k.startswith(f"{s}_")})
              for s in data.SPLITS}
    for split, size in zip(splits.values(), SIZES):
        assert len(split) == size
        assert split.tensors["kinds"].tolist() == [i % 2 for i in range(size)]
        for s in split:
            n = len(s.vertices)
            assert 162 <= n <= 642 and s.faces.shape == (2 * n - 4 + 4 * s.kind, 3)
            assert s.frames.shape == (n, 3, 3) and s.inputs.shape == s.targets.shape == (n, 2)
            assert s.areas.shape == s.curvature.shape == (n,)
            assert s.vertices.dtype == s.targets.dtype == torch.float64 and s.faces.dtype == torch.int64
            assert 0 <= s.faces.min() and s.faces.max() == n - 1
            assert all(t.isfinite().all() for t in (s.vertices, s.frames, s.inputs, s.targets, s.curvature))


def test_cache_round_trip_and_regeneration_when_corrupt(tmp_path):
    first = data.load((2, 1, 1), seed=3, cache=tmp_path, workers=1, progress=False)
    path = tmp_path / data.cache_name(3, (2, 1, 1))
    assert path.exists()
    stored = torch.load(path)
    stored["tensors"]["train_targets"][0, 0] += 1.0  # stale checksum: must be regenerated
    torch.save(stored, path)
    second = data.load((2, 1, 1), seed=3, cache=tmp_path, workers=1, progress=False)
    for split in data.SPLITS:
        assert first[split].tensors.keys() == second[split].tensors.keys()
        assert all(torch.equal(first[split].tensors[k], second[split].tensors[k]) for k in first[split].tensors)
    assert digest(torch.load(path)["tensors"]) == torch.load(path)["sha256"]


def test_surfaces_are_closed_embedded_and_outward(dataset):
    split = data.MeshSplit({k.removeprefix("train_"): v for k, v in dataset.items() if k.startswith("train_")})
    for s in split:
        vertices, faces = s.vertices.numpy(), s.faces.numpy()
        mesh = trimesh.Trimesh(vertices, faces, process=False)
        assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
        assert mesh.euler_number == (2 if surfaces.KINDS[s.kind] == "sphere" else 0)
        if surfaces.KINDS[s.kind] == "sphere":
            assert np.linalg.norm(vertices - vertices.mean(0), axis=1).min() > surfaces.MIN_RADIUS
        assert surfaces.check_surface(vertices, faces, surfaces.KINDS[s.kind]) == []


def test_frames_are_right_handed_with_outward_normals(surface):
    x, y, n = surface.frames[:, 0], surface.frames[:, 1], surface.frames[:, 2]
    gram = np.einsum("nac,nbc->nab", surface.frames, surface.frames)
    assert np.abs(gram - np.eye(3)).max() < 1e-12
    assert np.abs(np.cross(x, y) - n).max() < 1e-12
    face_normals = surfaces.face_normals(surface.vertices, surface.faces)
    vertex_normals = np.zeros_like(n)
    for k in range(3):
        np.add.at(vertex_normals, surface.faces[:, k], face_normals)
    vertex_normals /= np.linalg.norm(vertex_normals, axis=1, keepdims=True)
    assert (vertex_normals * n).sum(1).min() > 0.95


def test_connection_laplacian_is_cotan_weights_times_transport_from_j_to_i(surface):
    """``L_ij = -w_ij r_ji``: ``r_ji`` rotates frame coordinates at ``j`` into frame coordinates at ``i`` keeping the
    angle to the edge (computed here from the edge's projections on the two tangent planes, which agrees with
    potpourri3d's intrinsic angles up to the discretisation); the conjugate convention is off by ~pi."""
    frames, laplacian = surfaces.tangent_frames(surface.vertices, surface.faces)
    assert abs(laplacian - laplacian.conj().T).max() < 1e-12
    off_diagonal = abs(laplacian).sum(1).A1 - abs(laplacian.diagonal())
    assert np.abs(laplacian.diagonal().imag).max() == 0
    assert np.all(laplacian.diagonal().real >= off_diagonal - 1e-12)  # Hermitian, diagonally dominant: PSD
    cotan = pp3d.cotan_laplacian(surface.vertices, surface.faces)
    assert abs(abs(laplacian) - abs(cotan)).max() < 1e-12 and np.allclose(laplacian.diagonal(), cotan.diagonal())
    entries = laplacian.tocoo()
    off = entries.row != entries.col
    i, j, value = entries.row[off], entries.col[off], entries.data[off]
    edge = surface.vertices[j] - surface.vertices[i]
    angle_at_i = np.arctan2((edge * frames[i, 1]).sum(1), (edge * frames[i, 0]).sum(1))
    angle_at_j = np.arctan2((-edge * frames[j, 1]).sum(1), (-edge * frames[j, 0]).sum(1))
    transport = np.exp(1j * (angle_at_i - angle_at_j + np.pi))
    phase = -value / np.abs(value)
    assert np.abs(np.angle(phase / transport)).max() < 0.05
    assert np.abs(np.angle(phase / transport.conj())).max() > 1.0


def test_flow_commutes_with_a_change_of_gauge(surface):
    """(a) Frames rotated by ``a_i``: coordinates become ``exp(-i a_i) z_i`` and ``L`` becomes ``D* L D``,
    ``D = diag(exp(i a))``; the flow of the rotated input is the rotated target."""
    frames, laplacian = surfaces.tangent_frames(surface.vertices, surface.faces)
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, len(frames))
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    rotated = frames.copy()
    rotated[:, 0], rotated[:, 1] = cos * frames[:, 0] + sin * frames[:, 1], cos * frames[:, 1] - sin * frames[:, 0]
    ambient = surfaces.from_frame(surface.inputs, frames)
    gauge = np.exp(-1j * angles)
    assert np.abs(_complex(surfaces.to_frame(ambient, rotated)) - gauge * _complex(surface.inputs)).max() < 1e-12
    conjugated = laplacian.multiply(gauge[:, None]).multiply(gauge.conj()[None, :]).tocsr()
    flowed = surfaces.vector_heat_flow(conjugated, surface.areas, gauge * _complex(surface.inputs))
    error = np.abs(flowed - gauge * _complex(surface.targets)).max() / np.abs(surface.targets).max()
    assert error < 1e-12


def test_flow_is_invariant_under_rigid_motions(surface):
    """(b) Rotate and translate the mesh, recompute frames and Laplacian, express the rotated input there: the
    ambient targets rotate with the mesh (frame coordinates are even equal: potpourri3d's frames are built from the
    combinatorics and rotate with the mesh), and so does nothing else change (curvature, areas)."""
    rng = np.random.default_rng(1)
    rotation, shift = surfaces.random_rotation(rng), rng.normal(size=3)
    moved = surface.vertices @ rotation.T + shift
    frames, laplacian = surfaces.tangent_frames(moved, surface.faces)
    assert np.abs(frames - surface.frames @ rotation.T).max() < 1e-10
    areas = pp3d.vertex_areas(moved, surface.faces)
    inputs = surfaces.to_frame(surfaces.from_frame(surface.inputs, surface.frames) @ rotation.T, frames)
    targets = surfaces.vector_heat_flow(laplacian, areas, inputs)
    expected = surfaces.from_frame(surface.targets, surface.frames) @ rotation.T
    assert np.abs(surfaces.from_frame(targets, frames) - expected).max() < 1e-8
    curvature = surfaces.mean_curvature(moved, surface.faces, frames[:, 2])
    assert np.abs(curvature - surface.curvature).max() < 1e-8


def test_flow_contracts_decays_eigenfields_and_changes_the_field(surface):
    """(c) Every backward Euler step contracts the ``M``-norm; an eigenfield ``L v = lambda M v`` is multiplied by
    ``(1 + dt lambda)^-steps``; the stored target differs from the input by 20-75% in ``M``-norm."""
    _, laplacian = surfaces.tangent_frames(surface.vertices, surface.faces)
    field = _complex(surface.inputs)
    norms = [_mass_norm(field, surface.areas)]
    for _ in range(surfaces.HEAT_STEPS):
        field = surfaces.vector_heat_flow(laplacian, surface.areas, field, surfaces.HEAT_TIME / surfaces.HEAT_STEPS, 1)
        norms.append(_mass_norm(field, surface.areas))
    assert np.all(np.diff(norms) < 0)
    assert np.abs(field - _complex(surface.targets)).max() < 1e-12
    change = _mass_norm(_complex(surface.targets - surface.inputs), surface.areas) / norms[0]
    assert 0.2 < change < 0.75
    eigenvalues, eigenvectors = scipy.sparse.linalg.eigsh(laplacian, k=8, M=scipy.sparse.diags(surface.areas),
                                                          sigma=-1.0)  # the 8 smallest: L + M is positive definite
    order = np.argsort(eigenvalues)
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    assert eigenvalues[0] > 0  # no parallel field on a sphere or on these curved tori
    dt = surfaces.HEAT_TIME / surfaces.HEAT_STEPS
    for k in (0, 3, 7):
        flowed = surfaces.vector_heat_flow(laplacian, surface.areas, eigenvectors[:, k])
        decay = (1 + dt * eigenvalues[k]) ** -surfaces.HEAT_STEPS
        assert np.abs(flowed - decay * eigenvectors[:, k]).max() < 1e-10 * np.abs(eigenvectors[:, k]).max()


def test_mean_curvature_of_spheres_and_tori():
    for subdivisions in (2, 3):
        mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=2.0)
        vertices, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
        frames, _ = surfaces.tangent_frames(vertices, faces)
        assert np.abs(surfaces.mean_curvature(vertices, faces, frames[:, 2]) - 0.5).max() < 1e-3
        assert np.isclose(surfaces.mixed_areas(vertices, faces).sum(), mesh.area)
    rings, segments, major, minor = 16, 48, 1.0, 0.4
    i, j = np.meshgrid(np.arange(segments), np.arange(rings), indexing="xy")
    u, v = (2 * np.pi * (i + (j % 2) / 2) / segments).ravel(), (2 * np.pi * j / rings).ravel()
    vertices = np.stack([(major + minor * np.cos(v)) * np.cos(u), (major + minor * np.cos(v)) * np.sin(u),
                         minor * np.sin(v)], 1)
    faces = surfaces.torus_grid(rings, segments)
    assert surfaces.check_surface(vertices, faces, "torus") == []
    frames, _ = surfaces.tangent_frames(vertices, faces)
    exact = (major + 2 * minor * np.cos(v)) / (2 * minor * (major + minor * np.cos(v)))
    assert np.abs(surfaces.mean_curvature(vertices, faces, frames[:, 2]) - exact).max() < 0.05 * np.abs(exact).max()
