"""The intrinsic geometry a gauge-equivariant mesh convolution reads: neighbours, log maps and
parallel transport, in a tangent frame (gauge) per vertex.

Every vertex ``i`` of a surface carries an orthonormal frame ``(e_x, e_y)`` of its tangent plane; a
tangent vector ``u`` at ``i`` is stored as its coordinates ``c = (u . e_x, u . e_y)``. For an edge
``j -> i`` (``j`` within geodesic distance ``radius`` of ``i``):

* ``log_map[e]`` ``(2,)``: the coordinates of ``log_i(j)`` (the initial velocity of the shortest
  geodesic from ``i`` to ``j``, of length the geodesic distance) in ``i``'s frame;
* ``transport[e]`` ``(2, 2)``: ``g_{i<-j}`` in ``O(2)``, mapping the coordinates of a tangent vector
  at ``j`` (in ``j``'s frame) to those of its parallel transport to ``i`` (in ``i``'s frame). On an
  orientable surface with right-handed frames these are rotations; a change of gauge by
  reflections (:meth:`MeshGeometry.change_gauge`) makes them reflections too.

A change of gauge ``e'_i = e_i g_i`` (``g_i`` in ``O(2)``, coordinates ``c' = g_i^-1 c``) maps
``log_i(j) -> g_i^-1 log_i(j)`` and ``g_{i<-j} -> g_i^-1 g_{i<-j} g_j``.

:meth:`MeshGeometry.from_mesh` computes all of it with potpourri3d (geometry-central's vector heat
method: tangent frames, log maps and transport along geodesics); it is an optional dependency
(``pip install implicit-kernels[mesh]``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from implicit_kernels.graph import complete_graph


@dataclass(frozen=True)
class MeshGeometry:
    """Neighbours, log maps and transport of a surface mesh (see the module docstring).

    Attributes:
        edge_index: ``(2, E)`` int64, row 0 the source ``j``, row 1 the target ``i``.
        log_map: ``(E, 2)`` coordinates of ``log_i(j)`` in ``i``'s frame.
        transport: ``(E, 2, 2)`` the elements ``g_{i<-j}`` of ``O(2)``.
        frames: ``(N, 2, 3)`` each vertex's ``e_x`` and ``e_y`` in ``R^3`` (rows), or ``None``;
            the ambient vector of coordinates ``c`` at ``i`` is ``c @ frames[i]``.
    """

    edge_index: torch.Tensor
    log_map: torch.Tensor
    transport: torch.Tensor
    frames: torch.Tensor | None = None

    def __post_init__(self) -> None:
        e = self.edge_index.shape[1] if self.edge_index.dim() == 2 else -1
        if self.edge_index.dim() != 2 or self.edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {tuple(self.edge_index.shape)}")
        if tuple(self.log_map.shape) != (e, 2):
            raise ValueError(f"log_map must have shape ({e}, 2) for {e} edges, got {tuple(self.log_map.shape)}")
        if tuple(self.transport.shape) != (e, 2, 2):
            raise ValueError(f"transport must have shape ({e}, 2, 2) for {e} edges, got {tuple(self.transport.shape)}")
        if self.frames is not None and (self.frames.dim() != 3 or self.frames.shape[1:] != (2, 3)):
            raise ValueError(f"frames must have shape (N, 2, 3), got {tuple(self.frames.shape)}")

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    def to(self, *args, **kwargs) -> MeshGeometry:
        """The geometry moved like a tensor (``.to(device)``, ``.to(dtype)``); ``edge_index`` only
        changes device."""
        floats = {name: getattr(self, name).to(*args, **kwargs) for name in ("log_map", "transport")}
        frames = None if self.frames is None else self.frames.to(*args, **kwargs)
        return replace(self, edge_index=self.edge_index.to(floats["log_map"].device), frames=frames, **floats)

    def change_gauge(self, g: torch.Tensor) -> MeshGeometry:
        """The same geometry in the frames ``e'_i = e_i g_i`` for ``g`` ``(N, 2, 2)`` in ``O(2)``:
        ``log' = g_i^-1 log``, ``transport' = g_i^-1 g_{i<-j} g_j``, ``frames'_i = g_i^T frames_i``."""
        g = g.to(self.log_map.dtype)
        inverse = g.transpose(1, 2)  # orthogonal
        src, dst = self.edge_index
        log_map = torch.einsum("eab,eb->ea", inverse[dst], self.log_map)
        transport = inverse[dst] @ self.transport @ g[src]
        frames = None if self.frames is None else inverse @ self.frames
        return replace(self, log_map=log_map, transport=transport, frames=frames)

    def vertex_count(self, num_vertices: int | None = None) -> int:
        """``num_vertices`` if given, else the number of frames (``ValueError`` without either)."""
        if num_vertices is not None:
            return num_vertices
        if self.frames is None:
            raise ValueError("this geometry has no frames to count its vertices by: pass num_vertices")
        return self.frames.shape[0]

    def with_self_loops(self, num_vertices: int | None = None) -> MeshGeometry:
        """The geometry with an edge ``i -> i`` at every vertex (log map ``0``, transport the
        identity), so that a convolution's output at ``i`` also sees ``K(0) f_i``, an equivariant
        linear map of the vertex's own features."""
        n = self.vertex_count(num_vertices)
        loops = torch.arange(n, device=self.edge_index.device)
        eye = torch.eye(2, dtype=self.transport.dtype, device=self.transport.device).expand(n, 2, 2)
        return replace(self, edge_index=torch.cat([self.edge_index, torch.stack([loops, loops])], dim=1),
                       log_map=torch.cat([self.log_map, self.log_map.new_zeros(n, 2)]),
                       transport=torch.cat([self.transport, eye]))

    @classmethod
    def concatenate(cls, geometries: Sequence[MeshGeometry], num_vertices: Sequence[int] | None = None) -> MeshGeometry:
        """Several surfaces as one, their vertices numbered one surface after the other (a batch):
        each edge index is offset by the vertex counts of the surfaces before it (``num_vertices``,
        or the frames' lengths); log maps, transports and frames are concatenated."""
        if not geometries:
            raise ValueError("concatenate needs at least one geometry")
        counts = [g.vertex_count(None if num_vertices is None else num_vertices[k]) for k, g in enumerate(geometries)]
        offsets = [sum(counts[:k]) for k in range(len(counts))]
        frames = None if any(g.frames is None for g in geometries) else torch.cat([g.frames for g in geometries])
        return cls(torch.cat([g.edge_index + offset for g, offset in zip(geometries, offsets)], dim=1),
                   torch.cat([g.log_map for g in geometries]), torch.cat([g.transport for g in geometries]), frames)

    @classmethod
    def from_mesh(cls, vertices, faces, radius: float, *, cache: str | Path | None = None,
                  progress: bool = True) -> MeshGeometry:
        """The geometry of the triangle mesh ``(vertices (N, 3), faces (F, 3))`` with the vertices
        within geodesic distance ``radius`` as neighbours (the heat method's distances), from
        potpourri3d's vector heat method (its tangent frames; per vertex one distance, one log map
        and one transport solve, with a progress bar).
        Float64. With ``cache`` (a folder), the result is stored there under a hash of the mesh
        and the radius and read back on the next call."""
        vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        faces = np.ascontiguousarray(faces, dtype=np.int64)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"a triangle mesh needs vertices (N, 3) and faces (F, 3), got {vertices.shape} "
                             f"and {faces.shape}")
        if not radius > 0:
            raise ValueError(f"radius must be positive, got {radius}")
        path = None
        if cache is not None:
            key = hashlib.sha256(vertices.tobytes() + faces.tobytes() + np.float64(radius).tobytes()).hexdigest()
            path = Path(cache) / f"mesh_geometry_{key[:20]}.pt"
            if path.exists():
                return cls(**torch.load(path))
        geometry = _vector_heat_geometry(vertices, faces, radius, progress)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({name: getattr(geometry, name) for name in ("edge_index", "log_map", "transport", "frames")},
                       path)
        return geometry


def rotations(angles: torch.Tensor) -> torch.Tensor:
    """``R(t) = [[cos t, -sin t], [sin t, cos t]]`` for angles ``(...)`` -> ``(..., 2, 2)``."""
    c, s = torch.cos(angles), torch.sin(angles)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _vector_heat_geometry(vertices: np.ndarray, faces: np.ndarray, radius: float, progress: bool) -> MeshGeometry:
    try:
        import potpourri3d
    except ImportError as error:
        raise ImportError("MeshGeometry.from_mesh needs potpourri3d: pip install implicit-kernels[mesh]") from error
    solver = potpourri3d.MeshVectorHeatSolver(vertices, faces)
    distances = potpourri3d.MeshHeatMethodDistanceSolver(vertices, faces)
    basis_x, basis_y, _ = solver.get_tangent_frames()
    sources, targets, logs, angles = [], [], [], []
    for i in tqdm(range(len(vertices)), desc="log maps and transport", disable=not progress):
        # neighbours by the heat method's geodesic distance: the log map's length collapses near
        # the cut locus (to about 0 at the antipode of a sphere)
        near = np.flatnonzero(distances.compute_distance(i) < radius)
        near = near[near != i]
        log = solver.compute_log_map(i)  # (N, 2): log_i(j) in i's frame
        carried = solver.transport_tangent_vector(i, [1.0, 0.0])  # i's e_x transported to every j, in j's frame
        sources.append(near)
        targets.append(np.full(len(near), i))
        logs.append(log[near])
        # g_{j<-i} = R(a_j) with a_j the angle of the carried e_x at j; g_{i<-j} = R(-a_j)
        angles.append(-np.arctan2(carried[near, 1], carried[near, 0]))
    edge_index = torch.from_numpy(np.stack([np.concatenate(sources), np.concatenate(targets)])).to(torch.int64)
    frames = torch.from_numpy(np.stack([basis_x, basis_y], axis=1))
    return MeshGeometry(edge_index, torch.from_numpy(np.concatenate(logs)),
                        rotations(torch.from_numpy(np.concatenate(angles))), frames)


def disc_geometry(nodes: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> MeshGeometry:
    """A random geometry for equivariance checks, on the complete graph of ``nodes`` vertices: log
    maps uniform in the unit disc and transports uniform in ``SO(2)``. Gauge equivariance is an
    identity in these data, so it holds for them as for a real surface's."""
    edge_index = complete_graph(nodes)
    e = edge_index.shape[1]
    radius = torch.rand(e, generator=generator, dtype=torch.float64).sqrt()
    angle = 2 * math.pi * torch.rand(e, generator=generator, dtype=torch.float64)
    log_map = radius[:, None] * torch.stack([angle.cos(), angle.sin()], 1)
    transport = rotations(2 * math.pi * torch.rand(e, generator=generator, dtype=torch.float64))
    return MeshGeometry(edge_index, log_map.to(dtype), transport.to(dtype))
