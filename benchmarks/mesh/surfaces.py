"""Random smooth closed surfaces and the per-vertex fields of the mesh benchmark, in NumPy float64.

Surfaces are triangle meshes ``(V, F)``: ``V`` an ``(N, 3)`` float64 array of vertex positions, ``F`` an ``(F, 3)``
int64 array of vertex indices, counter-clockwise seen from outside (outward normals). Two kinds:

- ``sphere``: an icosphere (2 or 3 subdivisions: 162 or 642 vertices) displaced radially, ``x -> (1 + f(x)) x`` for
  ``x`` on the unit sphere, ``f`` a random sum of real spherical harmonics of degrees 1 to 4 (``random_harmonic``)
  with peak ``|f|`` at most ``0.45``, so the radius stays above ``MIN_RADIUS``.
- ``torus``: a staggered-grid torus of major radius 1, tube radius ``rho in [0.25, 0.5]`` modulated by
  ``1 + g(u, v)``, ``g`` a random trigonometric polynomial in the two angles (peak ``|g| <= 0.3``), 192-576 vertices.

Both are then rotated by a Haar-random rotation. A drawn surface is kept only when ``check_surface`` accepts it
(watertight, consistently wound, outward, Euler characteristic of its kind, no face flipped by the displacement,
every cotan weight positive so potpourri3d's intrinsic Delaunay triangulation is the mesh itself); otherwise the
same generator draws again.

Tangent vectors at vertex ``i`` are stored as their coordinates in potpourri3d's frame ``(X_i, Y_i, N_i)``
(``MeshVectorHeatSolver(V, F).get_tangent_frames()``), or as the complex number ``z_i = u . X_i + i u . Y_i``.
Conventions of potpourri3d 1.4 (checked in ``tests/benchmarks/test_mesh_data.py``):

- the frames are orthonormal and right-handed, ``X_i x Y_i = N_i``, with ``N_i`` the outward vertex normal;
- ``L = get_connection_laplacian()`` is Hermitian positive semi-definite, ``(L z)_i = sum_j w_ij (z_i - r_ji z_j)``:
  ``L_ii = sum_j w_ij``, ``L_ij = -w_ij r_ji`` with ``w_ij = (cot a_ij + cot b_ij) / 2`` the cotan weights (``|L|``
  equals ``potpourri3d.cotan_laplacian`` on these meshes) and ``r_ji`` the unit complex number that transports
  coordinates at ``j`` to coordinates at ``i`` (discrete Levi-Civita transport along the edge: the angle to the
  edge is preserved), ``r_ij = conj(r_ji)``. It acts on the complex coordinates ``z``, and it is the weak
  (integrated) operator: the smooth operator is ``M^-1 L`` with ``M`` the vertex areas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import potpourri3d as pp3d
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg
import trimesh

KINDS = ("sphere", "torus")
MIN_RADIUS = 0.3
MIN_COTAN_WEIGHT = 1e-3  # margin that keeps the intrinsic Delaunay test far from round-off
HEAT_TIME = 0.15  # time of the vector heat flow, in units of (length)^2 of surfaces of radius ~1
HEAT_STEPS = 8  # backward Euler steps of HEAT_TIME / HEAT_STEPS each
MAX_DRAWS = 100


@dataclass
class Sample:
    """One surface and its fields, NumPy float64 (int64 for ``faces``), ``N`` vertices and ``F`` faces.

    ``vertices``: ``(N, 3)``; ``faces``: ``(F, 3)``, outward; ``frames``: ``(N, 3, 3)``, ``frames[i] = (X_i, Y_i,
    N_i)`` as rows, potpourri3d's tangent frames; ``areas``: ``(N,)`` barycentric vertex areas (a third of the
    incident face areas, ``potpourri3d.vertex_areas``); ``inputs``: ``(N, 2)`` frame coordinates of a random
    smooth tangent field (``random_tangent_field``); ``targets``: ``(N, 2)`` its vector heat flow
    (``vector_heat_flow`` for ``HEAT_TIME`` in ``HEAT_STEPS`` steps); ``curvature``: ``(N,)`` mean curvature
    (``mean_curvature``, the cotan formula with mixed Voronoi areas); ``kind``: index into ``KINDS``."""

    vertices: np.ndarray
    faces: np.ndarray
    frames: np.ndarray
    areas: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    curvature: np.ndarray
    kind: int


def legendre(degree: int, x: np.ndarray) -> np.ndarray:
    """The Legendre polynomial ``P_degree(x)`` elementwise, by Bonnet's recursion
    ``(l + 1) P_{l+1} = (2l + 1) x P_l - l P_{l-1}``."""
    previous, current = np.ones_like(x), x
    if degree == 0:
        return previous
    for l in range(1, degree):
        previous, current = current, ((2 * l + 1) * x * current - l * previous) / (l + 1)
    return current


def random_harmonic(directions: np.ndarray, rng: np.random.Generator, degrees: tuple[int, ...] = (1, 2, 3, 4),
                    terms: int = 3) -> np.ndarray:
    """``(N,)`` a random real function of the unit ``(N, 3)`` ``directions`` in the span of the spherical harmonics
    of ``degrees``: ``sum_l sum_k c_lk P_l(d_lk . x)`` with ``terms`` uniform directions ``d_lk`` and Gaussian
    ``c_lk`` of standard deviation ``1 / l`` per degree (a zonal harmonic ``P_l(d . x)`` is a degree-``l``
    spherical harmonic, and such sums span the degree-``l`` space)."""
    values = np.zeros(len(directions))
    for degree in degrees:
        axes = rng.normal(size=(terms, 3))
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
        weights = rng.normal(size=terms) / degree
        values += legendre(degree, directions @ axes.T) @ weights
    return values


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """``(3, 3)`` a Haar-random rotation: QR of a Gaussian matrix, signs fixed by ``R``'s diagonal, determinant
    made ``+1``."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    q[:, 2] *= np.linalg.det(q)
    return q


def sphere(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A radially displaced icosphere: ``(V, F, V0)`` with ``V0`` the unit icosphere (2 or 3 subdivisions) and
    ``V = (1 + f(V0)) V0``, ``f = a random_harmonic / max |random_harmonic|``, peak amplitude ``a`` uniform in
    ``[0.1, 0.45]``."""
    mesh = trimesh.creation.icosphere(subdivisions=int(rng.integers(2, 4)), radius=1.0)
    base = np.asarray(mesh.vertices, dtype=np.float64)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    displacement = random_harmonic(base, rng)
    displacement *= rng.uniform(0.1, 0.45) / np.abs(displacement).max()
    return (1 + displacement)[:, None] * base, np.asarray(mesh.faces, dtype=np.int64), base


def torus_grid(rings: int, segments: int) -> np.ndarray:
    """``(2 rings segments, 3)`` outward faces of a staggered ``segments x rings`` grid on the torus: vertex
    ``i + segments j`` at angles ``u = 2 pi (i + (j mod 2) / 2) / segments`` (around the axis) and
    ``v = 2 pi j / rings`` (around the tube); ``rings`` must be even. Every grid cell is split into two triangles
    counter-clockwise in ``(u, v)``, which is outward for the usual parametrisation."""
    if rings % 2:
        raise ValueError(f"rings must be even, got {rings}")
    i, j = np.meshgrid(np.arange(segments), np.arange(rings), indexing="xy")
    i, j = i.ravel(), j.ravel()

    def index(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a % segments + segments * (b % rings)

    even = j % 2 == 0
    a, b, c, d = index(i, j), index(i + 1, j), index(i + 1, j + 1), index(i, j + 1)
    first = np.where(even[:, None], np.stack([a, b, d], 1), np.stack([a, b, c], 1))
    second = np.where(even[:, None], np.stack([b, c, d], 1), np.stack([a, c, d], 1))
    return np.concatenate([first, second]).astype(np.int64)


def torus(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A torus with a modulated tube: ``(V, F, V0)``. Major radius 1, tube radius ``rho (1 + g(u, v))`` with
    ``rho`` uniform in ``[0.25, 0.5]`` and ``g`` a sum of 4 waves ``cos(m u + n v + phase)``, ``|m| <= 3``,
    ``0 <= n <= 2``, scaled to peak ``|g|`` uniform in ``[0.05, 0.3]``; ``V0`` is the same grid with ``g = 0``.
    ``segments`` in ``[24, 36]`` around the axis, ``rings = clip(2 round(0.65 rho segments), 8, 16)`` around the
    tube (near-equilateral faces on the outer equator)."""
    rho = rng.uniform(0.25, 0.5)
    segments = int(rng.integers(24, 37))
    rings = int(np.clip(2 * round(0.65 * rho * segments), 8, 16))
    i, j = np.meshgrid(np.arange(segments), np.arange(rings), indexing="xy")
    u = 2 * np.pi * (i + (j % 2) / 2).ravel() / segments
    v = 2 * np.pi * j.ravel() / rings
    modulation = np.zeros_like(u)
    for _ in range(4):
        m, n = rng.integers(-3, 4), rng.integers(0, 3)
        modulation += rng.normal() * np.cos(m * u + n * v + rng.uniform(0, 2 * np.pi))
    if np.abs(modulation).max() > 0:
        modulation *= rng.uniform(0.05, 0.3) / np.abs(modulation).max()

    def embed(tube: np.ndarray) -> np.ndarray:
        ring = 1 + tube * np.cos(v)
        return np.stack([ring * np.cos(u), ring * np.sin(u), tube * np.sin(v)], 1)

    return embed(rho * (1 + modulation)), torus_grid(rings, segments), embed(np.full_like(u, rho))


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(F, 3)`` unnormalised face normals ``(b - a) x (c - a)`` (twice the area times the unit normal)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return np.cross(b - a, c - a)


def check_surface(vertices: np.ndarray, faces: np.ndarray, kind: str, reference: np.ndarray | None = None) -> list[str]:
    """The reasons (empty when none) why ``(vertices, faces)`` is not a valid ``kind`` surface: not watertight, not
    consistently wound, not enclosing a positive volume (inward faces), wrong Euler characteristic (2 for a
    sphere, 0 for a torus), a face whose normal turned by more than 90 degrees from the same face on the undeformed
    ``reference`` vertices, a radius below ``MIN_RADIUS`` (spheres: the displacement is radial, so a positive
    radius keeps the surface star-shaped, hence embedded), or a cotan weight below ``MIN_COTAN_WEIGHT`` (the mesh
    would not be Delaunay and potpourri3d would flip edges intrinsically)."""
    problems = []
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    if not mesh.is_watertight:
        problems.append("not watertight")
    if not mesh.is_winding_consistent:
        problems.append("inconsistent winding")
    if not mesh.volume > 0:
        problems.append("non-positive enclosed volume")
    euler = {"sphere": 2, "torus": 0}[kind]
    if mesh.euler_number != euler:
        problems.append(f"Euler characteristic {mesh.euler_number} != {euler}")
    if reference is not None:
        turned = (face_normals(vertices, faces) * face_normals(reference, faces)).sum(1) <= 0
        if turned.any():
            problems.append(f"{turned.sum()} faces flipped by the displacement")
    if kind == "sphere" and np.linalg.norm(vertices - vertices.mean(0), axis=1).min() <= MIN_RADIUS:
        problems.append(f"radius below {MIN_RADIUS}")
    cotan = pp3d.cotan_laplacian(vertices, faces, denom_eps=0.0).tocoo()
    off = cotan.row != cotan.col
    if off.any() and -cotan.data[off].max() < MIN_COTAN_WEIGHT:
        problems.append(f"cotan weight below {MIN_COTAN_WEIGHT}: not Delaunay")
    return problems


def random_surface(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(V, F)``: a random ``kind`` surface (``sphere`` or ``torus``, see the module docstring) that passes
    ``check_surface``, rotated by a Haar-random rotation (drawn after acceptance). Draws up to ``MAX_DRAWS`` times."""
    draw = {"sphere": sphere, "torus": torus}[kind]
    for _ in range(MAX_DRAWS):
        vertices, faces, reference = draw(rng)
        if not check_surface(vertices, faces, kind, reference):
            return vertices @ random_rotation(rng).T, faces
    raise RuntimeError(f"no valid {kind} surface in {MAX_DRAWS} draws")


def tangent_frames(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
    """potpourri3d's frames and connection Laplacian: ``(N, 3, 3)`` with rows ``(X_i, Y_i, N_i)`` and the ``(N, N)``
    complex Hermitian ``L`` described in the module docstring."""
    solver = pp3d.MeshVectorHeatSolver(vertices, faces)
    basis_x, basis_y, normals = solver.get_tangent_frames()
    return np.stack([basis_x, basis_y, normals], 1), sparse.csr_matrix(solver.get_connection_laplacian())


def to_frame(vectors: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``(N, 2)`` coordinates ``(v_i . X_i, v_i . Y_i)`` of the ``(N, 3)`` ambient ``vectors`` (their tangential
    parts) in the ``(N, 3, 3)`` frames."""
    return np.einsum("nc,nkc->nk", vectors, frames[:, :2])


def from_frame(coordinates: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``(N, 3)`` ambient tangent vectors ``x_i X_i + y_i Y_i`` of ``(N, 2)`` frame ``coordinates``."""
    return np.einsum("nk,nkc->nc", coordinates, frames[:, :2])


def random_tangent_field(vertices: np.ndarray, frames: np.ndarray, areas: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """``(N, 2)`` frame coordinates of a random smooth tangent field: the tangential projection of the ambient
    field ``c + A x + sum_k b_k sin(k_k . x + phase_k)`` (Gaussian ``c``, ``A``, ``b_k``; 3 waves with
    ``|k_k|`` uniform in ``[1, 3]``), scaled to unit area-weighted RMS norm ``sum_i A_i |u_i|^2 / sum_i A_i = 1``."""
    ambient = rng.normal(size=3) + vertices @ rng.normal(size=(3, 3)).T
    for _ in range(3):
        direction = rng.normal(size=3)
        wave = rng.uniform(1, 3) * direction / np.linalg.norm(direction)
        ambient = ambient + np.sin(vertices @ wave + rng.uniform(0, 2 * np.pi))[:, None] * rng.normal(size=3)
    coordinates = to_frame(ambient, frames)
    return coordinates / np.sqrt((areas * (coordinates**2).sum(1)).sum() / areas.sum())


def vector_heat_flow(laplacian: sparse.spmatrix, areas: np.ndarray, field: np.ndarray, time: float = HEAT_TIME,
                     steps: int = HEAT_STEPS) -> np.ndarray:
    """The vector heat flow ``du/dt = -M^-1 L u`` of complex per-vertex coordinates ``field`` (``(N,)`` complex, or
    ``(N, 2)`` real frame coordinates, returned in the same form) for ``time``, by ``steps`` backward Euler steps
    ``(M + dt L) u_{k+1} = M u_k``, ``dt = time / steps``, ``M = diag(areas)``. With ``L`` Hermitian positive
    semi-definite every step contracts the norm ``|u|_M^2 = sum_i A_i |u_i|^2``."""
    real = field.ndim == 2
    state = field[:, 0] + 1j * field[:, 1] if real else field.astype(np.complex128)
    mass = sparse.diags(areas.astype(np.complex128))
    solve = sparse_linalg.splu(sparse.csc_matrix(mass + (time / steps) * laplacian)).solve
    for _ in range(steps):
        state = solve(areas * state)
    return np.stack([state.real, state.imag], 1) if real else state


def mixed_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(N,)`` the mixed Voronoi vertex areas of Meyer et al. 2003: in a non-obtuse triangle corner ``i`` gets its
    Voronoi part ``(|e_ij|^2 cot c_k + |e_ik|^2 cot c_j) / 8`` (``c_j``, ``c_k`` the other corners' angles); in an
    obtuse triangle the obtuse corner gets half the area and the other two a quarter each. They sum to the total
    area and make ``mean_curvature`` exact on the vertices of an icosphere."""
    corners = vertices[faces]
    cotangents = np.empty(faces.shape)
    for k in range(3):
        u, w = corners[:, (k + 1) % 3] - corners[:, k], corners[:, (k + 2) % 3] - corners[:, k]
        cotangents[:, k] = (u * w).sum(1) / np.linalg.norm(np.cross(u, w), axis=1)
    area = np.linalg.norm(face_normals(vertices, faces), axis=1) / 2
    obtuse = cotangents.min(1) < 0
    areas = np.zeros(len(vertices))
    for k in range(3):
        j, l = (k + 1) % 3, (k + 2) % 3
        edge_j = ((corners[:, j] - corners[:, k]) ** 2).sum(1)  # opposite corner l
        edge_l = ((corners[:, l] - corners[:, k]) ** 2).sum(1)  # opposite corner j
        voronoi = (edge_j * cotangents[:, l] + edge_l * cotangents[:, j]) / 8
        share = np.where(obtuse, np.where(cotangents[:, k] < 0, area / 2, area / 4), voronoi)
        np.add.at(areas, faces[:, k], share)
    return areas


def mean_curvature(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """``(N,)`` the mean curvature ``H = (k_1 + k_2) / 2`` per vertex, positive where the surface bends away from
    its outward ``normals`` (``1 / R`` on a sphere of radius ``R``, ``(R + 2 r cos v) / (2 r (R + r cos v))`` on a
    torus): from ``Delta x = -2 H n`` with the cotan Laplacian, ``H_i = (C x)_i . n_i / (2 A_i)``,
    ``C = potpourri3d.cotan_laplacian`` (positive semi-definite, ``-A Delta``) and ``A_i`` the ``mixed_areas``."""
    laplacian = pp3d.cotan_laplacian(vertices, faces)
    return ((laplacian @ vertices) * normals).sum(1) / (2 * mixed_areas(vertices, faces))


def fields(vertices: np.ndarray, faces: np.ndarray, kind: int, rng: np.random.Generator) -> Sample:
    """The ``Sample`` of the surface ``(vertices, faces)``: frames, areas, a random input field from ``rng``, its
    vector heat flow and the mean curvature."""
    frames, laplacian = tangent_frames(vertices, faces)
    areas = pp3d.vertex_areas(vertices, faces)
    inputs = random_tangent_field(vertices, frames, areas, rng)
    return Sample(vertices=vertices, faces=faces, frames=frames, areas=areas, inputs=inputs,
                  targets=vector_heat_flow(laplacian, areas, inputs),
                  curvature=mean_curvature(vertices, faces, frames[:, 2]), kind=kind)


def sample(seed: int, split: int, index: int) -> Sample:
    """Surface ``index`` of split number ``split`` for ``seed``: its own generator
    ``numpy.random.default_rng([seed, split, index])`` (independent of the other surfaces and of how they are
    distributed over processes), kind ``KINDS[index % 2]``."""
    rng = np.random.default_rng([seed, split, index])
    kind = index % len(KINDS)
    vertices, faces = random_surface(KINDS[kind], rng)
    return fields(vertices, faces, kind, rng)
