"""2D incompressible Navier-Stokes with Boussinesq buoyancy (smoke), pseudo-spectral on a periodic square.

Equations on ``[0, L)^2`` (unit reference density; velocity ``u = (u_x, u_y)``, smoke density ``s``,
buoyancy direction ``b``: a unit vector drawn per trajectory, so no direction is singled out)::

    d_t u + (u . grad) u = -grad p + nu lap u + s b,    div u = 0,
    d_t s + u . grad s   = kappa lap s.

They are solved in vorticity form: ``w = d_x u_y - d_y u_x`` obeys
``d_t w + u . grad w = nu lap w + b_y d_x s - b_x d_y s`` (the last two terms are ``curl(s b)``), and
``u = (d_y psi, -d_x psi)`` with ``lap psi = -w``, divergence-free by construction. The mean flow is
zero: the mean buoyancy ``<s> b`` is balanced by a hydrostatic pressure gradient, which a periodic
pressure cannot carry, so it is left out (the usual convention for periodic Boussinesq flows). An
initial velocity enters only through its vorticity (its mean and divergent parts are dropped).

Discretisation: Fourier pseudo-spectral on the ``N x N`` nodes ``(x_i, y_j) = (i, j) L / N``; a field
``f[..., i, j]`` holds ``f(x_i, y_j)`` (axes ``(x, y)`` are tensor dims ``(-2, -1)``). Products are
formed on the grid and dealiased by Orszag's 2/3 rule: only integer mode numbers ``|m_x|, |m_y| <
N / 3`` (wavenumbers ``k = 2 pi m / L``) are kept, after every product and in the initial data. The
rule also drops the Nyquist modes, so the kept set is invariant under the grid's 90-degree rotations
and reflections and the scheme commutes with them. Time stepping: classical RK4 on the kept Fourier
coefficients of ``(w, s)``, diffusion explicit. For ``nu = kappa = 0`` the semi-discrete
(Galerkin-truncated) system conserves the kinetic energy and the mean of ``s`` exactly, so only
RK4's ``O(dt^4)`` error remains.

Defaults: ``L = 2 pi`` (``dx = L / 32 ~ 0.196`` on the default 32 x 32 grid), ``nu = kappa = 2e-2``,
``dt = 0.05``, 4 steps per stored frame (frames ``0.2`` apart) and 20 frames including the initial
state (``t`` in ``[0, 3.8]``). Initial data: three periodised Gaussian smoke blobs (amplitudes in
``[0.5, 1]``, widths in ``[0.3, 0.6]``, i.e. 1.5 to 3 cells of the default grid) at uniformly random
centres, and a weak random flow (rms speed 0.1, a Gaussian random vorticity field with spectral
envelope ``exp(-|m|^2 / 18)``). Buoyant blobs rise along ``b`` and roll up, reaching speeds of about
1.3 (``max |u| dt / dx ~ 0.35``); the correlation of the density with its initial state falls to
about 0.3 by the last frame. The diffusivities keep the 32 x 32 fields resolved: the density spectrum
decays monotonically up to the 2/3 cutoff and Gibbs undershoots stay below 1% of the peak density.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

LENGTH = 2 * math.pi
GRID = 32
VISCOSITY = 2e-2
DIFFUSIVITY = 2e-2
DT = 0.05
STEPS_PER_FRAME = 4
FRAMES = 20
BLOBS = 3
BLOB_AMPLITUDE = (0.5, 1.0)
BLOB_WIDTH = (0.3, 0.6)  # 1.5 to 3 cells of the default grid
INITIAL_SPEED = 0.1  # rms of the initial velocity
INITIAL_MODE = 3.0  # the initial vorticity spectrum's envelope is exp(-|m|^2 / (2 INITIAL_MODE^2))


@dataclass(frozen=True)
class SpectralGrid:
    """The ``torch.fft.rfft2`` layout of an ``(n, n)`` periodic field on ``[0, length)^2``.

    ``kx`` ``(n, 1)`` and ``ky`` ``(1, n // 2 + 1)``: angular wavenumbers (float64); ``k2 = kx^2 +
    ky^2``; ``inverse_k2 = 1 / k2`` with 0 for the mean mode; ``mask`` (bool, shape of ``k2``): the
    modes kept by the 2/3 rule."""

    n: int
    kx: torch.Tensor
    ky: torch.Tensor
    k2: torch.Tensor
    inverse_k2: torch.Tensor
    mask: torch.Tensor


def spectral_grid(n: int, length: float = LENGTH) -> SpectralGrid:
    """Wavenumbers and 2/3-rule mask for an ``n x n`` grid on ``[0, length)^2``."""
    mx = torch.fft.fftfreq(n, 1 / n, dtype=torch.float64)[:, None]  # integer mode numbers
    my = torch.fft.rfftfreq(n, 1 / n, dtype=torch.float64)[None, :]
    kx, ky = 2 * math.pi / length * mx, 2 * math.pi / length * my
    k2 = kx**2 + ky**2
    inverse_k2 = torch.zeros_like(k2)
    inverse_k2[k2 > 0] = 1 / k2[k2 > 0]
    return SpectralGrid(n, kx, ky, k2, inverse_k2, (mx.abs() < n / 3) & (my.abs() < n / 3))


def to_spectral(field: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """Kept Fourier coefficients ``(..., n, n // 2 + 1)`` of a real field ``(..., n, n)``."""
    return torch.fft.rfft2(field) * grid.mask


def to_physical(coefficients: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """The real field ``(..., n, n)`` with Fourier coefficients ``(..., n, n // 2 + 1)``."""
    return torch.fft.irfft2(coefficients, s=(grid.n, grid.n))


def velocity_spectrum(vorticity: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """``u = (d_y psi, -d_x psi)`` with ``psi = w / |k|^2`` (``lap psi = -w``): coefficients
    ``(..., n, n // 2 + 1)`` of ``w`` to ``(..., 2, n, n // 2 + 1)`` of ``(u_x, u_y)``."""
    psi = vorticity * grid.inverse_k2
    return torch.stack([1j * grid.ky * psi, -1j * grid.kx * psi], dim=-3)


def vorticity_spectrum(velocity: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """Kept coefficients of ``w = d_x u_y - d_y u_x`` for a velocity field ``(..., 2, n, n)``."""
    u = to_spectral(velocity, grid)
    return 1j * grid.kx * u[..., 1, :, :] - 1j * grid.ky * u[..., 0, :, :]


def tendency(state: torch.Tensor, buoyancy: torch.Tensor, grid: SpectralGrid, viscosity: float,
             diffusivity: float) -> torch.Tensor:
    """``d/dt`` of the kept coefficients ``state`` ``(T, 2, n, n // 2 + 1)`` of ``(w, s)``:
    ``-u . grad (w, s)`` (dealiased), diffusion ``-(nu, kappa) |k|^2 (w, s)``, and the buoyancy torque
    ``curl(s b) = i (k_x b_y - k_y b_x) s`` on ``w``; ``buoyancy`` ``b`` is ``(T, 2)``."""
    velocity = to_physical(velocity_spectrum(state[:, 0], grid), grid)  # (T, 2, n, n)
    gradients = to_physical(torch.stack([1j * grid.kx * state, 1j * grid.ky * state], dim=1), grid)
    rate = to_spectral(-(velocity[:, :, None] * gradients).sum(dim=1), grid)
    diffusion = torch.tensor([viscosity, diffusivity], dtype=torch.float64)[:, None, None] * grid.k2
    bx, by = buoyancy[:, 0, None, None], buoyancy[:, 1, None, None]
    torque = 1j * (grid.kx * by - grid.ky * bx) * state[:, 1]
    return rate - diffusion * state + torch.stack([torque, torch.zeros_like(torque)], dim=1)


def rk4_step(rate: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, dt: float) -> torch.Tensor:
    """One classical Runge-Kutta step of ``dy/dt = rate(y)``."""
    k1 = rate(y)
    k2 = rate(y + dt / 2 * k1)
    k3 = rate(y + dt / 2 * k2)
    k4 = rate(y + dt * k3)
    return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def simulate(density: torch.Tensor, velocity: torch.Tensor, buoyancy: torch.Tensor, frames: int = FRAMES, *,
             length: float = LENGTH, viscosity: float = VISCOSITY, diffusivity: float = DIFFUSIVITY,
             dt: float = DT, steps_per_frame: int = STEPS_PER_FRAME) -> dict[str, torch.Tensor]:
    """Integrate from ``density`` ``(T, n, n)``, ``velocity`` ``(T, 2, n, n)`` and the buoyancy
    vectors ``(T, 2)`` (all float64).

    Returns ``density`` ``(T, frames, n, n)`` and ``velocity`` ``(T, frames, 2, n, n)``, frame ``f``
    at ``t = f steps_per_frame dt``; frame 0 is the dealiased initial state."""
    grid = spectral_grid(density.shape[-1], length)
    state = torch.stack([vorticity_spectrum(velocity, grid), to_spectral(density, grid)], dim=1)
    rate = partial(tendency, buoyancy=buoyancy, grid=grid, viscosity=viscosity, diffusivity=diffusivity)
    states = [state]
    for _ in range(frames - 1):
        for _ in range(steps_per_frame):
            state = rk4_step(rate, state, dt)
        states.append(state)
    stacked = torch.stack(states, dim=1)  # (T, frames, 2, n, n // 2 + 1)
    return {
        "density": to_physical(stacked[:, :, 1], grid),
        "velocity": to_physical(velocity_spectrum(stacked[:, :, 0], grid), grid),
    }


def smoke_blobs(n_traj: int, generator: torch.Generator, grid: int = GRID, length: float = LENGTH) -> torch.Tensor:
    """``(T, n, n)``: per trajectory ``BLOBS`` periodised Gaussians ``A exp(-|x - c|^2 / (2 sigma^2))``
    (summed over the periodic images) with uniformly random centres ``c``, amplitudes ``A`` in
    ``BLOB_AMPLITUDE`` and widths ``sigma`` in ``BLOB_WIDTH``, built from their Fourier series
    ``A (2 pi sigma^2 / L^2) exp(-sigma^2 |k|^2 / 2 - i k . c)`` and truncated by the 2/3 rule."""
    spectral = spectral_grid(grid, length)
    draws = torch.empty(n_traj, BLOBS, 4, 1, 1, dtype=torch.float64)
    centres = draws[:, :, :2].uniform_(0.0, length, generator=generator)
    widths = draws[:, :, 2].uniform_(*BLOB_WIDTH, generator=generator)
    amplitudes = draws[:, :, 3].uniform_(*BLOB_AMPLITUDE, generator=generator)
    phases = spectral.kx * centres[:, :, 0] + spectral.ky * centres[:, :, 1]
    series = amplitudes * 2 * math.pi * (widths / length) ** 2 * torch.exp(-(widths**2) * spectral.k2 / 2 - 1j * phases)
    return to_physical(grid**2 * series.sum(dim=1) * spectral.mask, spectral)


def random_flow(n_traj: int, generator: torch.Generator, grid: int = GRID, length: float = LENGTH) -> torch.Tensor:
    """``(T, 2, n, n)``: divergence-free velocity of rms ``INITIAL_SPEED`` whose vorticity is white
    noise filtered by ``exp(-|m|^2 / (2 INITIAL_MODE^2))``."""
    spectral = spectral_grid(grid, length)
    modes2 = spectral.k2 * (length / (2 * math.pi)) ** 2
    noise = torch.randn(n_traj, grid, grid, generator=generator, dtype=torch.float64)
    vorticity = to_spectral(noise, spectral) * torch.exp(-modes2 / (2 * INITIAL_MODE**2))
    velocity = to_physical(velocity_spectrum(vorticity, spectral), spectral)
    rms = velocity.square().sum(dim=1).mean(dim=(-2, -1)).sqrt()
    return INITIAL_SPEED * velocity / rms[:, None, None, None]


def sample_initial(n_traj: int, generator: torch.Generator, grid: int = GRID,
                   length: float = LENGTH) -> dict[str, torch.Tensor]:
    """Random initial data for :func:`simulate`: ``density`` ``(T, n, n)``, ``velocity``
    ``(T, 2, n, n)``, and ``buoyancy`` ``(T, 2)`` unit vectors at uniformly random angles."""
    angle = 2 * math.pi * torch.rand(n_traj, generator=generator, dtype=torch.float64)
    return {
        "density": smoke_blobs(n_traj, generator, grid, length),
        "velocity": random_flow(n_traj, generator, grid, length),
        "buoyancy": torch.stack([angle.cos(), angle.sin()], dim=-1),
    }
