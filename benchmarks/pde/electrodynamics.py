"""Relativistic electrodynamics in 2+1 dimensions: fields of moving smeared charges, by Yee FDTD.

Units: ``c = eps_0 = mu_0 = 1``, lengths in cells (``dx = 1``). Charges moving in the ``(x, y)`` plane
excite the TE fields ``(E_x, E_y, B_z)``::

    d_t B_z = -(d_x E_y - d_y E_x),   d_t E_x = d_y B_z - J_x,   d_t E_y = -d_x B_z - J_y,
    d_x E_x + d_y E_y = rho,          d_t rho + d_x J_x + d_y J_y = 0.

They are computed by the Yee scheme of :mod:`benchmarks.pde.maxwell` on a periodic slab one cell
thick: fields do not depend on ``z`` (the ``z``-differences vanish), and the TM fields
``(E_z, B_x, B_y)`` are never excited. Yee points in the plane: ``E_x`` and ``J_x`` at ``(i + 1/2, j)``,
``E_y`` and ``J_y`` at ``(i, j + 1/2)``, ``B_z`` at ``(i + 1/2, j + 1/2)``, ``rho`` at the nodes ``(i, j)``.
Two Yee steps per stored frame, ``dt = 1/2`` (Courant number ``c dt / dx = 0.5 <= 1 / sqrt(2)``).

The ``(t, x, y)`` grid: stored frames are ``dx / c = 1`` apart, so light moves one cell per frame and
the light cone ``|x| = c t`` runs along the grid's diagonals (slope 1 in every ``(t, x)`` plane).

Charges: ``K = 3`` charges ``q = +-1`` per trajectory, each smeared by a separable periodic Gaussian
``S(x - X) = s(x - X_x) s(y - X_y)`` of width ``sigma = 1`` cell, ``s(i - X) = g(d_i) / sum_i g(d_i)``
(``d_i`` the nearest-image offset), so each carries exactly ``q`` on the lattice; a static uniform
background ``-sum q / N^2`` makes the box neutral (Gauss's law on a periodic domain needs it).

Current: exactly charge-conserving (Esirkepov's construction for separable shapes). For a move
``X -> X'`` during one step, per axis the flux ``F(i + 1/2)`` solves
``F(i + 1/2) - F(i - 1/2) = s(i - X) - s(i - X')`` with ``sum_i F(i + 1/2) = X' - X`` (which fixes the
free constant; for small moves ``F ~ (X' - X) s``, i.e. ``J ~ rho v``), and::

    J_x(i + 1/2, j) = q F_x(i + 1/2) (s(j - Y) + s(j - Y')) / (2 dt),   J_y likewise,

so that ``(rho' - rho) / dt + div_b J = 0`` holds to round-off.

Initial state: the charges are at rest for ``t <= 0``; ``E^0 = -grad_f phi`` with
``div_b grad_f phi = -rho^0`` (the lattice Poisson equation, solved exactly by FFT), ``B^{-1/2} = 0``:
the discrete field of charges at rest since ``t = -infinity``. With the conserving current Gauss's
law ``div_b E^n = rho^n`` then holds at every step to round-off.

Trajectories (:func:`sample_initial`): ``X(t) = X_0 + v_d r(t) + R (u(W r(t) + phi) - u(phi))`` with
``u(a) = (cos a, sin a)`` and the ramp ``r(t) = t - tau (sqrt(pi) / 2) erf(t / tau)``,
``r'(t) = 1 - exp(-t^2 / tau^2)`` (at rest at ``t = 0``, full speed after about ``tau = 3``); ``X_0``
uniform in the box, drift ``|v_d| <= 0.3`` in a uniform direction, orbit radius ``R`` in ``[1, 4]``
cells, orbital speed ``|W| R <= 0.35`` with a random sense, so ``|X'(t)| <= 0.65 < 0.7 c``. The orbits
accelerate the charges, which therefore radiate.

Export (:func:`simulate`): ``E^n`` and ``B_z^n = (B_z^{n-1/2} + B_z^{n+1/2}) / 2``, ``rho^n`` and
``J^n = (J^{n-1/2} + J^{n+1/2}) / 2``, all averaged onto the cell centres ``(i + 1/2, j + 1/2)``.
Defaults: ``32 x 32`` cells, 16 frames (``t = 0, 1, .., 15``).
"""

from __future__ import annotations

import math

import torch

from benchmarks.pde.maxwell import (
    SPATIAL_DIMS,
    edges_to_cells,
    faces_to_cells,
    forward_difference,
    lattice_wavevector,
    leapfrog,
    nodes_to_cells,
)

GRID = 32
FRAMES = 16
SUBSTEPS = 2
CHARGES = 3
WIDTH = 1.0
RAMP = 3.0
DRIFT = 0.3
ORBIT_SPEED = 0.35
ORBIT_RADIUS = (1.0, 4.0)


def shape_1d(coordinates: torch.Tensor, grid: int, width: float = WIDTH) -> torch.Tensor:
    """The normalised periodic Gaussian ``s(i - X)`` ``(..., grid)`` about each coordinate ``X``
    ``(...)`` (sums to 1 over ``i``)."""
    nodes = torch.arange(grid, dtype=torch.float64)
    offsets = (nodes - coordinates[..., None] + grid / 2) % grid - grid / 2
    weights = torch.exp(-(offsets**2) / (2 * width**2))
    return weights / weights.sum(dim=-1, keepdim=True)


def charge_density(positions: torch.Tensor, charges: torch.Tensor, grid: int, width: float = WIDTH) -> torch.Tensor:
    """``rho`` at the nodes ``(..., grid, grid)`` of charges ``(..., K)`` at ``positions``
    ``(..., K, 2)``, with the neutralising uniform background."""
    shapes = shape_1d(positions, grid, width)  # (..., K, 2, grid)
    rho = torch.einsum("...k,...ki,...kj->...ij", charges, shapes[..., 0, :], shapes[..., 1, :])
    return rho - charges.sum(dim=-1)[..., None, None] / grid**2


def flux_1d(before: torch.Tensor, after: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """The 1D flux ``F(i + 1/2)`` ``(..., grid)`` with ``F(i + 1/2) - F(i - 1/2) = before(i) - after(i)``
    (periodic) and ``sum_i F(i + 1/2) = displacement`` ``(...)``, for shapes of equal sums."""
    flux = (before - after).cumsum(dim=-1)
    return flux - flux.mean(dim=-1, keepdim=True) + displacement[..., None] / before.shape[-1]


def current_density(start: torch.Tensor, end: torch.Tensor, charges: torch.Tensor, dt: float, grid: int,
                    width: float = WIDTH) -> torch.Tensor:
    """The charge-conserving ``J^{n+1/2}`` for charges ``(..., K)`` moving from ``start`` to ``end``
    (``(..., K, 2)``) in one step ``dt``: ``(..., 3, grid, grid, 1)`` at the Yee edge points, ``J_z = 0``."""
    before, after = shape_1d(start, grid, width), shape_1d(end, grid, width)  # (..., K, 2, grid)
    flux = flux_1d(before, after, end - start)
    mean = (before + after) / 2
    jx = torch.einsum("...k,...ki,...kj->...ij", charges, flux[..., 0, :], mean[..., 1, :])
    jy = torch.einsum("...k,...ki,...kj->...ij", charges, mean[..., 0, :], flux[..., 1, :])
    return torch.stack([jx, jy, torch.zeros_like(jx)], dim=-3)[..., None] / dt


def electrostatic_field(density: torch.Tensor) -> torch.Tensor:
    """``E = -grad_f phi`` ``(..., 3, nx, ny, nz)`` at the edges, with ``div_b grad_f phi = -rho`` for
    a neutral node density ``rho`` ``(..., nx, ny, nz)``; the lattice Laplacian's symbol is
    ``-sum_a K_a^2``, ``K_a = 2 sin(k_a / 2)``."""
    symbols = [lattice_wavevector(torch.fft.fftfreq(n, 1 / n), n)[1] for n in density.shape[-3:]]
    k2 = symbols[0][:, None, None] ** 2 + symbols[1][None, :, None] ** 2 + symbols[2][None, None, :] ** 2
    inverse_k2 = torch.zeros_like(k2)
    inverse_k2[k2 > 0] = 1 / k2[k2 > 0]
    potential = torch.fft.ifftn(torch.fft.fftn(density, dim=SPATIAL_DIMS) * inverse_k2, dim=SPATIAL_DIMS).real
    return -torch.stack([forward_difference(potential, dim) for dim in SPATIAL_DIMS], dim=-4)


def lattice_fields(positions: torch.Tensor, charges: torch.Tensor, grid: int = GRID, frames: int = FRAMES,
                   substeps: int = SUBSTEPS, width: float = WIDTH) -> dict[str, torch.Tensor]:
    """The Yee run for charges ``(T, K)`` on the paths ``positions`` ``(T, K, levels, 2)`` sampled at
    ``t = n / substeps``, ``levels = (frames - 1) substeps + 2`` (one step past the last frame, for
    its time-centred current); the charges are taken to be at rest before ``t = 0``.

    Returns, at the frames ``t = 0, 1, .., frames - 1`` and at the Yee points of the slab:
    ``electric``, ``magnetic`` (time-centred) and ``current`` (time-centred) ``(T, frames, 3, grid,
    grid, 1)``, and ``density`` ``(T, frames, grid, grid, 1)`` at the nodes."""
    steps = (frames - 1) * substeps
    if positions.shape[2] != steps + 2:
        raise ValueError(f"positions need {steps + 2} time levels, got {positions.shape[2]}")
    dt = 1 / substeps
    paths, q = positions.transpose(1, 2), charges[:, None]  # (T, levels, K, 2), (T, 1, K)
    density = charge_density(paths[:, : steps + 1 : substeps], q, grid, width)[..., None]
    currents = current_density(paths[:, :-1], paths[:, 1:], q, dt, grid, width)  # J^{n+1/2}, n <= steps
    electric = electrostatic_field(density[:, 0])
    electric, magnetic = leapfrog(electric, torch.zeros_like(electric), dt, frames, substeps, currents[:, :steps])
    previous = torch.cat([torch.zeros_like(currents[:, :1]), currents[:, :-1]], dim=1)  # J^{n-1/2}
    current = ((previous + currents) / 2)[:, ::substeps]
    return {"electric": electric, "magnetic": magnetic, "current": current, "density": density}


def simulate(positions: torch.Tensor, charges: torch.Tensor, grid: int = GRID, frames: int = FRAMES,
             substeps: int = SUBSTEPS, width: float = WIDTH) -> dict[str, torch.Tensor]:
    """:func:`lattice_fields` averaged onto the cell centres (float64): ``electric`` ``(T, frames, 2,
    grid, grid)`` (``E_x, E_y``), ``magnetic`` ``(T, frames, grid, grid)`` (``B_z``), ``density``
    ``(T, frames, grid, grid)`` and ``current`` ``(T, frames, 2, grid, grid)`` (``J_x, J_y``)."""
    fields = lattice_fields(positions, charges, grid, frames, substeps, width)
    return {
        "electric": edges_to_cells(fields["electric"])[:, :, :2, ..., 0],
        "magnetic": faces_to_cells(fields["magnetic"])[:, :, 2, ..., 0],
        "density": nodes_to_cells(fields["density"])[..., 0],
        "current": edges_to_cells(fields["current"])[:, :, :2, ..., 0],
    }


def ramp(t: torch.Tensor, duration: float = RAMP) -> torch.Tensor:
    """``r(t) = t - duration (sqrt(pi) / 2) erf(t / duration)`` for ``t >= 0``, 0 before: a smooth
    start from rest, ``r'(t) = 1 - exp(-t^2 / duration^2)``."""
    t = t.clamp(min=0)
    return t - duration * math.sqrt(math.pi) / 2 * torch.erf(t / duration)


def _unit(angle: torch.Tensor) -> torch.Tensor:
    return torch.stack([angle.cos(), angle.sin()], dim=-1)


def sample_initial(n_traj: int, generator: torch.Generator, grid: int = GRID, frames: int = FRAMES,
                   substeps: int = SUBSTEPS, n_charges: int = CHARGES) -> dict[str, torch.Tensor]:
    """Random charges ``(T, K)`` of +-1 and their paths ``positions`` ``(T, K, levels, 2)`` (see the
    module docstring), sampled as :func:`lattice_fields` expects."""
    shape = (n_traj, n_charges)

    def uniform(low: float, high: float, size: tuple[int, ...] = shape) -> torch.Tensor:
        return torch.empty(size, dtype=torch.float64).uniform_(low, high, generator=generator)

    times = torch.arange((frames - 1) * substeps + 2, dtype=torch.float64) / substeps
    progress = ramp(times)  # (levels,)
    start = uniform(0.0, grid, (*shape, 2))
    drift = uniform(0.0, DRIFT)[..., None] * _unit(uniform(0.0, 2 * math.pi))
    radius = uniform(*ORBIT_RADIUS)
    sense = 2.0 * torch.randint(0, 2, shape, generator=generator) - 1
    angular = sense * uniform(0.0, ORBIT_SPEED) / radius
    phase = uniform(0.0, 2 * math.pi)
    orbit = _unit(angular[..., None] * progress + phase[..., None]) - _unit(phase)[..., None, :]
    positions = start[..., None, :] + drift[..., None, :] * progress[:, None] + radius[..., None, None] * orbit
    charges = 2.0 * torch.randint(0, 2, shape, generator=generator, dtype=torch.float64) - 1
    return {"positions": positions, "charges": charges}
