"""Area-weighted surface samplers for the canonical shapes of the point-cloud benchmark.

Every shape function has the signature ``shape(scales, n, generator) -> points``: ``scales`` is ``(B, 3)``, the
per-sample factors of the anisotropic scaling ``diag(scales[b])`` applied to the canonical shape, and ``points``
is ``(B, n, 3)``, ``n`` independent points uniform (with respect to area) on the *scaled* surface. Shapes are in
their canonical, axis-aligned pose and every achiral one has the planes ``x = 0`` and ``y = 0`` as mirror planes,
which the axis-aligned scaling keeps. The helix is the only chiral shape (right-handed).

Two exact samplers do the work:

- ``sample_mesh``: triangles drawn with probability proportional to their scaled areas, then uniform barycentric
  coordinates (polyhedra, triangulated by ``convex_hull_triangles``);
- ``sample_patches``: parametrised patches ``[0, 1]² -> R³`` sampled by rejection on the area element, computed
  by forward-mode differentiation of the parametrisation. Under ``S = diag(s)`` the area element obeys
  ``|S a × S b| = det S |S⁻¹ (a × b)| <= (prod s / min s) |a × b|``, so an area-element bound of the canonical
  patch gives one of the scaled patch, and the acceptance is exact for every scaling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

PHI = (1 + math.sqrt(5)) / 2


@dataclass(frozen=True)
class Patch:
    """A surface piece ``embed(u, v) -> (..., 3)`` parametrised by the unit square (``u``, ``v`` of shape
    ``(...)``), with ``bound`` an upper bound of its area element ``|d embed/du × d embed/dv|`` there."""

    embed: Callable[[Tensor, Tensor], Tensor]
    bound: float

    def mapped(self, matrix: Tensor | None = None, offset: Sequence[float] = (0.0, 0.0, 0.0)) -> Patch:
        """The patch moved by the isometry ``x -> matrix x + offset`` (``matrix`` orthogonal, so the bound holds;
        ``None``: the identity)."""
        linear = torch.eye(3) if matrix is None else matrix

        def embed(u: Tensor, v: Tensor) -> Tensor:
            return self.embed(u, v) @ linear.to(u.dtype).T + torch.tensor(offset, dtype=u.dtype)

        return Patch(embed, self.bound)


def _fill_by_rejection(propose: Callable[[Tensor, int], tuple[Tensor, Tensor]], count: int, n: int,
                       dtype: torch.dtype) -> Tensor:
    """``(count, n, 3)``: per row, the first ``n`` accepted proposals. ``propose(rows, k)`` returns ``k``
    candidates per row in ``rows``, ``(len(rows), k, 3)``, and whether each is accepted, ``(len(rows), k)``. The
    number of candidates per round follows the acceptance rate seen so far (optimistically 1 at first)."""
    out = torch.empty(count, n, 3, dtype=dtype)
    filled = torch.zeros(count, dtype=torch.long)
    proposed, accepted = 1, 1
    while (pending := (filled < n).nonzero().squeeze(1)).numel():
        missing = int(n - filled[pending].min())
        points, accept = propose(pending, math.ceil(1.2 * missing * proposed / accepted) + 16)
        proposed, accepted = proposed + accept.numel(), accepted + int(accept.sum())
        slot = filled[pending, None] + accept.cumsum(1) - 1
        keep = accept & (slot < n)
        out[pending[:, None].expand_as(keep)[keep], slot[keep]] = points[keep]
        filled[pending] += keep.sum(1)
    return out


def _scaled_area(patch: Patch, u: Tensor, v: Tensor, scales: Tensor) -> tuple[Tensor, Tensor]:
    """Points ``(M, 3)`` of ``patch`` at ``(u, v)`` scaled by ``scales`` ``(M, 3)``, and their area elements ``(M,)``
    on the scaled patch, ``|S r_u × S r_v|``."""
    point, along_u = torch.func.jvp(lambda s: patch.embed(s, v), (u,), (torch.ones_like(u),))
    _, along_v = torch.func.jvp(lambda t: patch.embed(u, t), (v,), (torch.ones_like(v),))
    return point * scales, torch.linalg.cross(along_u * scales, along_v * scales).norm(dim=-1)


def sample_patches(patches: Sequence[Patch], scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``(B, n, 3)`` points uniform on the union of ``patches`` scaled by ``diag(scales[b])``, ``scales`` ``(B, 3)``.

    A candidate picks patch ``k`` with probability proportional to its bound ``M_k``, ``(u, v)`` uniform, and is
    accepted with probability ``area element / (M_k prod(s) / min(s))``: the accepted density is proportional to
    the area element on every patch."""
    bounds = torch.tensor([patch.bound for patch in patches], dtype=scales.dtype)
    stretch = scales.prod(-1) / scales.amin(-1)

    def propose(rows: Tensor, k: int) -> tuple[Tensor, Tensor]:
        which = torch.multinomial(bounds, len(rows) * k, replacement=True, generator=generator)
        u, v, w = torch.rand(3, len(rows) * k, generator=generator, dtype=scales.dtype)
        row_scales = scales[rows].repeat_interleave(k, 0)
        points = torch.empty(len(rows) * k, 3, dtype=scales.dtype)
        area = torch.empty(len(rows) * k, dtype=scales.dtype)
        for index, patch in enumerate(patches):
            mask = which == index
            points[mask], area[mask] = _scaled_area(patch, u[mask], v[mask], row_scales[mask])
        ratio = area / (bounds[which] * stretch[rows].repeat_interleave(k))
        assert (ratio <= 1 + 1e-4).all(), "an area element exceeds its patch bound"
        return points.view(len(rows), k, 3), (w < ratio).view(len(rows), k)

    return _fill_by_rejection(propose, len(scales), n, scales.dtype)


def sample_mesh(vertices: Tensor, triangles: Tensor, scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``(B, n, 3)`` points uniform on the triangle mesh ``vertices`` ``(V, 3)``, ``triangles`` ``(F, 3)`` (vertex
    indices), scaled by ``diag(scales[b])``: a triangle with probability proportional to its scaled area, then
    the barycentric coordinates ``(1 - √r, √r (1 - t), √r t)`` with ``r, t`` uniform."""
    corners = (vertices.to(scales.dtype) * scales[:, None])[:, triangles]  # (B, F, 3 corners, 3)
    edges = corners[:, :, 1:] - corners[:, :, :1]
    areas = torch.linalg.cross(edges[:, :, 0], edges[:, :, 1]).norm(dim=-1) / 2
    chosen = torch.multinomial(areas, n, replacement=True, generator=generator)
    a, b, c = corners[torch.arange(len(scales))[:, None], chosen].unbind(2)
    r, t = torch.rand(2, len(scales), n, 1, generator=generator, dtype=scales.dtype)
    root = r.sqrt()
    return (1 - root) * a + root * (1 - t) * b + root * t * c


def convex_hull_triangles(vertices: Tensor, tolerance: float = 1e-9) -> Tensor:
    """``(F, 3)`` vertex indices triangulating the boundary of the convex hull of ``vertices`` ``(V, 3)``, every
    vertex being a corner of the hull: a face is the set of vertices on a supporting plane, a convex polygon
    fanned into triangles."""
    points = vertices.double()
    triples = torch.combinations(torch.arange(len(points)), 3)
    a, b, c = points[triples].unbind(1)
    normals = torch.linalg.cross(b - a, c - a)
    side = torch.einsum("tvk,tk->tv", points[None] - a[:, None], normals)
    scale = tolerance * normals.norm(dim=-1, keepdim=True)
    supporting = ((side <= scale).all(1) | (side >= -scale).all(1)) & (normals.norm(dim=-1) > tolerance)
    faces = torch.unique(side[supporting].abs() <= scale[supporting], dim=0)
    return torch.cat([_fan(points, face.nonzero().squeeze(1)) for face in faces])


def _fan(points: Tensor, face: Tensor) -> Tensor:
    """``(len(face) - 2, 3)`` triangles fanning out from one corner of the convex planar polygon with vertex indices
    ``face``, after sorting its corners by angle around their centre."""
    corners = points[face]
    offsets = corners - corners.mean(0)
    normal = torch.linalg.cross(corners[1] - corners[0], corners[2] - corners[0])
    across = torch.linalg.cross(normal, offsets[0])
    ring = face[torch.atan2(offsets @ across, offsets @ offsets[0]).argsort()]
    return torch.stack([ring[0].expand(len(ring) - 2), ring[1:-1], ring[2:]], dim=1)


def _sign_orbit(points: Sequence[Sequence[float]], axes: Sequence[int] = (0, 1, 2)) -> Tensor:
    """``(V, 3)``: the distinct images of ``points`` under all sign changes of the coordinates in ``axes``."""
    signs = torch.ones(2 ** len(axes), 3, dtype=torch.float64)
    signs[:, list(axes)] = torch.cartesian_prod(*[torch.tensor([1.0, -1.0], dtype=torch.float64)] * len(axes))
    images = signs[:, None] * torch.tensor(points, dtype=torch.float64)[None]
    return torch.unique(images.reshape(-1, 3), dim=0)


def _cyclic(point: Sequence[float]) -> list[tuple[float, float, float]]:
    """The three cyclic permutations of the coordinates of ``point``."""
    x, y, z = point
    return [(x, y, z), (y, z, x), (z, x, y)]


def _polyhedron(vertices: Tensor, scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``(B, n, 3)`` points uniform on the scaled surface of the convex hull of ``vertices`` ``(V, 3)``."""
    return sample_mesh(vertices, convex_hull_triangles(vertices), scales, n, generator)


def cube(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The cube ``[-1, 1]³``: scaled, the box with half-sides ``scales``."""
    return _polyhedron(_sign_orbit([(1.0, 1.0, 1.0)]), scales, n, generator)


def pyramid(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The square pyramid with base ``[-1, 1]² × {-1}`` and apex ``(0, 0, 1)``, base included."""
    return _polyhedron(_sign_orbit([(1.0, 1.0, -1.0), (0.0, 0.0, 1.0)], axes=(0, 1)), scales, n, generator)


def tetrahedron(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The regular tetrahedron (edge 2) with vertices ``(±1, 0, -1/√2)``, ``(0, ±1, 1/√2)``: posed so that its
    mirror planes include ``x = 0`` and ``y = 0``, which the axis-aligned scaling keeps (in the pose with vertices
    at alternate cube corners, axis-aligned scaling makes a chiral disphenoid)."""
    height = 1 / math.sqrt(2)
    return _polyhedron(_sign_orbit([(1.0, 0.0, -height), (0.0, 1.0, height)], axes=(0, 1)), scales, n, generator)


def octahedron(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The regular octahedron with vertices ``±e_x, ±e_y, ±e_z``."""
    return _polyhedron(_sign_orbit(_cyclic((1.0, 0.0, 0.0))), scales, n, generator)


def dodecahedron(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The regular dodecahedron with vertices ``(±1, ±1, ±1)`` and the cyclic permutations of ``(0, ±1/φ, ±φ)``."""
    return _polyhedron(_sign_orbit([(1.0, 1.0, 1.0), *_cyclic((0.0, 1 / PHI, PHI))]), scales, n, generator)


def icosahedron(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The regular icosahedron with vertices the cyclic permutations of ``(0, ±1, ±φ)``."""
    return _polyhedron(_sign_orbit(_cyclic((0.0, 1.0, PHI))), scales, n, generator)


def _sphere_zone(radius: float, polar: float) -> Patch:
    """The zone of the sphere of ``radius`` around the origin with polar angle ``θ <= polar π`` (from ``+z``):
    ``θ = polar π u``, ``φ = 2π v``, area element ``2π² polar radius² sin θ``."""

    def embed(u: Tensor, v: Tensor) -> Tensor:
        theta, phi = polar * math.pi * u, 2 * math.pi * v
        return radius * torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos()], -1)

    return Patch(embed, 2 * math.pi**2 * polar * radius**2)


def _disk(radius: float) -> Patch:
    """The disk of ``radius`` in the plane ``z = 0``: polar radius ``radius u``, angle ``2π v``, area element
    ``2π radius² u``."""

    def embed(u: Tensor, v: Tensor) -> Tensor:
        phi = 2 * math.pi * v
        return torch.stack([radius * u * phi.cos(), radius * u * phi.sin(), torch.zeros_like(u)], -1)

    return Patch(embed, 2 * math.pi * radius**2)


def _tube(radius: float, half_length: float) -> Patch:
    """The side ``x² + y² = radius²``, ``|z| <= half_length`` of a cylinder; area element ``4π radius half_length``."""

    def embed(u: Tensor, v: Tensor) -> Tensor:
        phi = 2 * math.pi * v
        return torch.stack([radius * phi.cos(), radius * phi.sin(), half_length * (2 * u - 1)], -1)

    return Patch(embed, 4 * math.pi * radius * half_length)


def _cone_side(radius: float, height: float) -> Patch:
    """The side of the cone with apex ``(0, 0, height / 2)`` and base circle of ``radius`` at ``z = -height / 2``:
    ``u`` the fraction of the way from apex to base, area element ``2π radius √(radius² + height²) u``."""

    def embed(u: Tensor, v: Tensor) -> Tensor:
        phi = 2 * math.pi * v
        return torch.stack([radius * u * phi.cos(), radius * u * phi.sin(), height * (0.5 - u)], -1)

    return Patch(embed, 2 * math.pi * radius * math.hypot(radius, height))


def _torus(major: float, minor: float) -> Patch:
    """The torus of tube radius ``minor`` around the circle of radius ``major`` in the plane ``z = 0``; area
    element ``4π² minor (major + minor cos v')`` (``v' = 2π v`` the angle around the tube)."""

    def embed(u: Tensor, v: Tensor) -> Tensor:
        phi, psi = 2 * math.pi * u, 2 * math.pi * v
        ring = major + minor * psi.cos()
        return torch.stack([ring * phi.cos(), ring * phi.sin(), minor * psi.sin()], -1)

    return Patch(embed, 4 * math.pi**2 * minor * (major + minor))


def _superquadric_face() -> Patch:
    """The part of ``x⁴ + y⁴ + z⁴ = 1`` over the cube face ``z = 1``, by central projection of ``d = (2u - 1, 2v - 1,
    1)``: ``d / |d|₄``. Its area element is ``4 √(1 + a³ + b³) / (1 + a² + b²)^{3/2} <= 4`` (``a, b`` the squares of
    the first two coordinates of ``d``), since ``(1 + a² + b²)³ >= 1 + 3a² + 3b² >= 1 + a³ + b³`` for ``a, b`` in
    ``[0, 1]``."""

    def embed(u: Tensor, v: Tensor) -> Tensor:
        d = torch.stack([2 * u - 1, 2 * v - 1, torch.ones_like(u)], -1)
        return d / torch.linalg.vector_norm(d, ord=4, dim=-1, keepdim=True)

    return Patch(embed, 4.0)


def _helix_tube(radius: float, pitch: float, turns: float, thickness: float) -> Patch:
    """The tube of radius ``thickness`` around the right-handed helix ``(radius cos t, radius sin t, pitch t / 2π)``,
    ``|t| <= π turns``, built on its Frenet frame (normal ``-(cos t, sin t, 0)``). With ``c = pitch / 2π`` the
    speed is ``√(radius² + c²)`` and the curvature ``κ = radius / (radius² + c²)``; the area element is ``4π² turns
    thickness speed (1 - κ thickness cos ψ)``, torsion not contributing."""
    climb = pitch / (2 * math.pi)
    speed = math.hypot(radius, climb)
    curvature = radius / speed**2

    def embed(u: Tensor, v: Tensor) -> Tensor:
        t, psi = math.pi * turns * (2 * u - 1), 2 * math.pi * v
        centre = torch.stack([radius * t.cos(), radius * t.sin(), climb * t], -1)
        normal = torch.stack([-t.cos(), -t.sin(), torch.zeros_like(t)], -1)
        binormal = torch.stack([climb * t.sin(), -climb * t.cos(), torch.full_like(t, radius)], -1) / speed
        return centre + thickness * (psi.cos()[..., None] * normal + psi.sin()[..., None] * binormal)

    return Patch(embed, 4 * math.pi**2 * turns * thickness * speed * (1 + curvature * thickness))


def sphere(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The unit sphere: scaled, the ellipsoid with semi-axes ``scales`` (sampled by its own area element, not by
    stretching uniform points of the sphere)."""
    return sample_patches([_sphere_zone(1.0, 1.0)], scales, n, generator)


def cylinder(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The closed cylinder of radius 0.6 around the ``z`` axis, ``|z| <= 1``, with both end disks."""
    side, end = _tube(0.6, 1.0), _disk(0.6)
    return sample_patches([side, end.mapped(offset=(0, 0, 1)), end.mapped(offset=(0, 0, -1))], scales, n, generator)


def cone(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The closed cone with apex ``(0, 0, 1)`` and base disk of radius 1 at ``z = -1``."""
    return sample_patches([_cone_side(1.0, 2.0), _disk(1.0).mapped(offset=(0, 0, -1))], scales, n, generator)


def capsule(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The capsule of radius 0.5: the tube ``|z| <= 0.6`` capped by hemispheres centred at ``z = ±0.6``."""
    radius, half_length = 0.5, 0.6
    cap = _sphere_zone(radius, 0.5)
    ends = [cap.mapped(offset=(0, 0, half_length)),
            cap.mapped(torch.diag(torch.tensor([1.0, 1.0, -1.0])), (0, 0, -half_length))]
    return sample_patches([_tube(radius, half_length), *ends], scales, n, generator)


def torus(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The torus around the ``z`` axis with major radius 1 and tube radius 0.35."""
    return sample_patches([_torus(1.0, 0.35)], scales, n, generator)


def superquadric(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The rounded cube ``x⁴ + y⁴ + z⁴ = 1`` (a superellipsoid), as six patches over the faces of the cube."""
    face = _superquadric_face()
    frames = [sign * torch.eye(3).roll(axis, 0) for axis in range(3) for sign in (1.0, -1.0)]
    return sample_patches([face.mapped(frame) for frame in frames], scales, n, generator)


def helix(scales: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The open tube of radius 0.12 around the right-handed helix of radius 0.5, pitch 0.8 and 2.5 turns along the
    ``z`` axis (height 2). Chiral: its mirror image is the left-handed helix, which no rotation reaches."""
    return sample_patches([_helix_tube(0.5, 0.8, 2.5, 0.12)], scales, n, generator)
