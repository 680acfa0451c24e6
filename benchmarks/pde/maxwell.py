"""3D Maxwell equations in vacuum: Yee FDTD on a periodic cubic lattice from random plane waves.

Units: ``c = eps_0 = mu_0 = 1`` and lengths in cells (``dx = 1``), so a time unit is the time light
takes to cross one cell. Equations::

    d_t B = -curl E,    d_t E = curl B - J,    div B = 0,    div E = rho.

Yee lattice. Nodes ``(i, j, k)`` sit at integer coordinates; a vector field is a tensor
``(..., 3, nx, ny, nz)`` (components ``(x, y, z)`` at dim ``-4``, axes ``(x, y, z)`` = dims
``(-3, -2, -1)``). ``E_a`` and ``J_a`` live at the edge midpoints ``node + e_a / 2``, ``B_a`` at the face
centres ``node + (1 - e_a) / 2`` (``B_x`` at ``(i, j + 1/2, k + 1/2)``), ``rho`` and ``div E`` at the
nodes, ``div B`` at the cell centres ``node + (1, 1, 1) / 2``. Leapfrog in time, ``E`` at
``t = n dt``, ``B`` and ``J`` at ``t = (n + 1/2) dt``::

    B^{n+1/2} = B^{n-1/2} - dt curl_f E^n,
    E^{n+1}   = E^n + dt (curl_b B^{n+1/2} - J^{n+1/2}),

with ``curl_f`` built from forward differences ``f(x + 1) - f(x)`` (edges to faces) and ``curl_b`` from
backward differences ``f(x) - f(x - 1)`` (faces to edges). Since ``curl_b = curl_f^T``,
``div_f curl_f = 0`` and ``div_b curl_b = 0`` (differences commute), ``div_f B`` never changes,
``div_b E`` changes by ``-dt div_b J`` per step, and without sources the energy
``sum |E^n|^2 + B^{n-1/2} . B^{n+1/2}`` is conserved to round-off. Stable for Courant numbers
``c dt / dx <= 1 / sqrt(3) ~ 0.577``; the default is ``0.5``.

On ``exp(i k . x)`` sampled at the staggered points both differences act as ``i K`` with
``K_a = 2 sin(k_a / 2)``, so a wave ``E = e cos(k . x - w t + phi)`` with ``e . K = 0``,
``B = (K / |K|) x E`` and ``sin(w dt / 2) = (dt / 2) |K|`` solves the scheme exactly.

Initial data (:func:`sample_initial`, :func:`plane_waves`): 4 such plane waves per trajectory with
mode numbers ``m`` drawn uniformly from the nonzero integer vectors with ``|m_a| <= 3`` (``k = 2 pi m /
N``: wavelengths of at least ``N / 3`` cells), isotropic Gaussian polarisations (projected orthogonal
to ``K``, so ``div_b E = div_f B = 0`` exactly) of variance ``1 / 4`` per component, uniform phases;
``E`` at ``t = 0`` and ``B`` at ``t = -dt / 2``, each sampled at its staggered points. The symmetric
mode set makes the ensemble invariant under the lattice's 48 rotations and reflections. No current
source: a localised current pulse deposits charge (``div E != 0``) unless it is divergence-free; the
sourced problem is the 2+1D electrodynamics task (:mod:`benchmarks.pde.electrodynamics`).

Export (:func:`simulate`): ``E^n`` and ``B^n = (B^{n-1/2} + B^{n+1/2}) / 2`` (second order in time), each
averaged onto the cell centres (4 neighbouring samples for ``E_a``, 2 for ``B_a``), so every exported
component is collocated in space and time. Defaults: ``32^3`` cells, Courant number 0.5, 2 steps per
stored frame (frames ``1`` apart: light moves one cell per frame, as in the electrodynamics task; the
fastest mode turns its phase by about 1 radian per frame), 10 frames including ``t = 0``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch

Difference = Callable[[torch.Tensor, int], torch.Tensor]

GRID = 32
COURANT = 0.5
STEPS_PER_FRAME = 2
FRAMES = 10
MODES = 4
MAX_MODE = 3
SPATIAL_DIMS = (-3, -2, -1)


def forward_difference(field: torch.Tensor, dim: int) -> torch.Tensor:
    """``f(x + e) - f(x)`` along ``dim`` (periodic, ``dx = 1``): located half a cell forward."""
    return field.roll(-1, dims=dim) - field


def backward_difference(field: torch.Tensor, dim: int) -> torch.Tensor:
    """``f(x) - f(x - e)`` along ``dim`` (periodic, ``dx = 1``): located half a cell backward."""
    return field - field.roll(1, dims=dim)


def curl(field: torch.Tensor, difference: Difference) -> torch.Tensor:
    """Discrete curl of a vector field ``(..., 3, nx, ny, nz)`` built from ``difference``."""
    fx, fy, fz = field.unbind(dim=-4)
    x, y, z = SPATIAL_DIMS
    return torch.stack([
        difference(fz, y) - difference(fy, z),
        difference(fx, z) - difference(fz, x),
        difference(fy, x) - difference(fx, y),
    ], dim=-4)


def divergence(field: torch.Tensor, difference: Difference) -> torch.Tensor:
    """Discrete divergence ``(..., nx, ny, nz)`` of a vector field ``(..., 3, nx, ny, nz)``: with
    backward differences from the edges (``E``) to the nodes, with forward differences from the faces
    (``B``) to the cell centres."""
    return sum(difference(component, dim) for component, dim in zip(field.unbind(dim=-4), SPATIAL_DIMS))


def faraday_step(electric: torch.Tensor, magnetic: torch.Tensor, dt: float) -> torch.Tensor:
    """``B^{n+1/2} = B^{n-1/2} - dt curl_f E^n``."""
    return magnetic - dt * curl(electric, forward_difference)


def ampere_step(electric: torch.Tensor, magnetic: torch.Tensor, dt: float,
                current: torch.Tensor | None = None) -> torch.Tensor:
    """``E^{n+1} = E^n + dt (curl_b B^{n+1/2} - J^{n+1/2})`` (``J = 0`` for ``None``)."""
    rate = curl(magnetic, backward_difference)
    return electric + dt * (rate if current is None else rate - current)


def leapfrog(electric: torch.Tensor, magnetic: torch.Tensor, dt: float, frames: int, steps_per_frame: int,
             current: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the Yee scheme from ``E^0`` and ``B^{-1/2}`` (``(T, 3, *grid)`` each) for
    ``steps = (frames - 1) steps_per_frame`` steps, with ``current`` ``(T, steps, 3, *grid)`` holding
    ``J^{n+1/2}`` (or ``None``).

    Returns ``E^n`` and the time-centred ``B^n = (B^{n-1/2} + B^{n+1/2}) / 2`` at their Yee points for
    ``n = f steps_per_frame``, ``f < frames``: two ``(T, frames, 3, *grid)`` tensors."""
    steps = (frames - 1) * steps_per_frame
    electric_frames, magnetic_frames = [], []
    for n in range(steps + 1):
        following = faraday_step(electric, magnetic, dt)
        if n % steps_per_frame == 0:
            electric_frames.append(electric)
            magnetic_frames.append((magnetic + following) / 2)
        if n < steps:
            electric = ampere_step(electric, following, dt, None if current is None else current[:, n])
        magnetic = following
    return torch.stack(electric_frames, dim=1), torch.stack(magnetic_frames, dim=1)


def _average_forward(field: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Average of ``field`` over the points half a cell forward along each of ``dims``."""
    for dim in dims:
        field = (field + field.roll(-1, dims=dim)) / 2
    return field


def edges_to_cells(field: torch.Tensor) -> torch.Tensor:
    """An edge field (``E``, ``J``) ``(..., 3, *grid)`` averaged onto the cell centres."""
    return torch.stack([
        _average_forward(component, tuple(d for d in SPATIAL_DIMS if d != own))
        for component, own in zip(field.unbind(dim=-4), SPATIAL_DIMS)
    ], dim=-4)


def faces_to_cells(field: torch.Tensor) -> torch.Tensor:
    """A face field (``B``) ``(..., 3, *grid)`` averaged onto the cell centres."""
    return torch.stack([
        _average_forward(component, (own,)) for component, own in zip(field.unbind(dim=-4), SPATIAL_DIMS)
    ], dim=-4)


def nodes_to_cells(field: torch.Tensor) -> torch.Tensor:
    """A node field (``rho``) ``(..., *grid)`` averaged onto the cell centres."""
    return _average_forward(field, SPATIAL_DIMS)


def lattice_wavevector(modes: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``k = 2 pi m / grid`` and the difference symbol ``K = 2 sin(k / 2)`` for integer mode numbers
    ``m`` ``(..., 3)`` (float64)."""
    k = 2 * math.pi * modes.to(torch.float64) / grid
    return k, 2 * torch.sin(k / 2)


def dispersion(modes: torch.Tensor, grid: int, dt: float) -> torch.Tensor:
    """The Yee scheme's angular frequency ``w = (2 / dt) asin((dt / 2) |K|)`` of modes ``(..., 3)``."""
    _, K = lattice_wavevector(modes, grid)
    return 2 / dt * torch.asin(dt / 2 * K.norm(dim=-1))


def _superpose(amplitudes: torch.Tensor, phases: torch.Tensor, k: torch.Tensor, grid: int) -> torch.Tensor:
    """``sum_m amplitudes[m, a] cos(k_m . x + phases[m, a])`` at the nodes ``x``: amplitudes and
    phases ``(T, M, 3)``, ``k`` ``(T, M, 3)``; returns ``(T, 3, grid, grid, grid)``."""
    coordinates = torch.arange(grid, dtype=torch.float64)
    waves = torch.exp(1j * k[..., None] * coordinates)  # (T, M, axis, grid)
    coefficients = amplitudes * torch.exp(1j * phases)
    return torch.einsum("tma,tmi,tmj,tmk->taijk", coefficients, *waves.unbind(dim=2)).real


def plane_waves(modes: torch.Tensor, polarisations: torch.Tensor, phases: torch.Tensor, grid: int,
                dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``E^0`` and ``B^{-1/2}`` (``(T, 3, grid, grid, grid)`` each, at their Yee points) of the exact
    discrete plane waves ``E = e cos(k . x - w t + phi)``, ``B = (K / |K|) x E``.

    ``modes`` ``(T, M, 3)`` nonzero integers, ``polarisations`` ``(T, M, 3)`` (their component along
    ``K`` is removed, so ``div_b E = 0``), ``phases`` ``(T, M)``."""
    k, K = lattice_wavevector(modes, grid)
    direction = K / K.norm(dim=-1, keepdim=True)
    e = polarisations - direction * (direction * polarisations).sum(dim=-1, keepdim=True)
    b = torch.linalg.cross(direction, e)
    edge_shift = k / 2  # k . (e_a / 2) for component a
    face_shift = k.sum(dim=-1, keepdim=True) / 2 - k / 2  # k . ((1 - e_a) / 2)
    retard = dispersion(modes, grid, dt)[..., None] * dt / 2  # B is sampled at t = -dt / 2
    electric = _superpose(e, phases[..., None] + edge_shift, k, grid)
    magnetic = _superpose(b, phases[..., None] + face_shift + retard, k, grid)
    return electric, magnetic


def sample_initial(n_traj: int, generator: torch.Generator, n_modes: int = MODES,
                   max_mode: int = MAX_MODE) -> dict[str, torch.Tensor]:
    """Random plane-wave parameters for :func:`simulate`: ``modes`` ``(T, M, 3)`` uniform over the
    nonzero integer vectors in ``[-max_mode, max_mode]^3``, ``polarisations`` ``(T, M, 3)`` with
    i.i.d. ``N(0, 1 / M)`` entries, ``phases`` ``(T, M)`` uniform in ``[0, 2 pi)``."""
    span = range(-max_mode, max_mode + 1)
    candidates = torch.tensor([m for m in itertools.product(span, span, span) if any(m)])
    choice = torch.randint(len(candidates), (n_traj, n_modes), generator=generator)
    polarisations = torch.randn(n_traj, n_modes, 3, generator=generator, dtype=torch.float64) / math.sqrt(n_modes)
    phases = 2 * math.pi * torch.rand(n_traj, n_modes, generator=generator, dtype=torch.float64)
    return {"modes": candidates[choice], "polarisations": polarisations, "phases": phases}


def simulate(modes: torch.Tensor, polarisations: torch.Tensor, phases: torch.Tensor, grid: int = GRID,
             frames: int = FRAMES, courant: float = COURANT,
             steps_per_frame: int = STEPS_PER_FRAME) -> dict[str, torch.Tensor]:
    """Source-free Yee run from :func:`plane_waves` with ``dt = courant`` (``c = dx = 1``).

    Returns ``electric`` and ``magnetic`` ``(T, frames, 3, grid, grid, grid)`` at the cell centres,
    frame ``f`` at ``t = f steps_per_frame dt`` (float64)."""
    electric, magnetic = plane_waves(modes, polarisations, phases, grid, courant)
    electric, magnetic = leapfrog(electric, magnetic, courant, frames, steps_per_frame)
    return {"electric": edges_to_cells(electric), "magnetic": faces_to_cells(magnetic)}
