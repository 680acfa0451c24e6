"""The charged-particle simulator of EGNN's N-body task, vectorised over trajectories.

Recipe (EGNN's data generator): charges +-1 with equal odds; positions N(0, 1); velocities of norm
0.5 in a uniformly random direction; Coulomb forces
``F_i = sum_j q_i q_j (x_i - x_j) / |x_i - x_j|^3`` with every component clipped to +-100;
``dt = 0.001``; ``v += dt F(x_0)``, then for steps 1..4999 ``x += dt v`` (the state is saved
every 100th step) and ``v += dt F(x)``: 49 frames per trajectory.
"""

from __future__ import annotations

import numpy as np
import torch

DT = 0.001
STEPS = 5000
SAVE_EVERY = 100
FORCE_CLIP = 100.0


def coulomb_forces(x: torch.Tensor, charges: torch.Tensor, clip: float | None = FORCE_CLIP) -> torch.Tensor:
    """``F_i = sum_{j != i} q_i q_j (x_i - x_j) / |x_i - x_j|^3`` for ``x`` ``(T, n, 3)`` and
    ``charges`` ``(T, n)``, each component clipped to ``+-clip`` (no clipping for ``None``)."""
    diff = x[:, :, None, :] - x[:, None, :, :]  # (T, n, n, 3): x_i - x_j
    dist3 = diff.norm(dim=-1, keepdim=True) ** 3
    n = x.shape[1]
    dist3 = dist3 + torch.eye(n, dtype=x.dtype, device=x.device)[None, :, :, None]  # i = j terms are 0 / 1
    q = charges[:, :, None, None] * charges[:, None, :, None]
    forces = (q * diff / dist3).sum(dim=2)
    return forces.clamp(-clip, clip) if clip is not None else forces


def initial_state(n_traj: int, n_bodies: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Charges ``(T, n)`` of +-1, positions ``(T, n, 3)`` N(0, 1), velocities of norm 0.5."""
    charges = torch.randint(0, 2, (n_traj, n_bodies), generator=generator).to(torch.float64) * 2 - 1
    x = torch.randn(n_traj, n_bodies, 3, generator=generator, dtype=torch.float64)
    v = torch.randn(n_traj, n_bodies, 3, generator=generator, dtype=torch.float64)
    v = 0.5 * v / v.norm(dim=-1, keepdim=True)
    return charges, x, v


def egnn_initial_states(counts: tuple[int, ...], seed: int, n_bodies: int = 5,
                        frames: int = (STEPS - 1) // SAVE_EVERY) -> list[tuple[torch.Tensor, ...]]:
    """Initial states drawn as EGNN's data generator draws them, one ``(charges, x, v)`` as in
    :func:`initial_state` per entry of ``counts`` (its splits, in order).

    The stream is numpy's legacy ``RandomState(seed)``. Each trajectory draws, in this order:
    its charges (``choice([-1, 0, 1], p=[1/2, 0, 1/2])``, shape ``(n, 1)``), its positions and
    its velocity directions (``randn(3, n)`` each, bodies along the columns), then two
    ``randn(frames, 3, n)`` of observation noise. That noise has variance 0 in EGNN's data, so it
    only advances the stream. With seed 43 and counts ``(10000, 2000, 2000)`` these are the
    systems of EGNN's ``nbody_small`` files, on which EGNN, SEGNN and CGENN report their test
    MSE (each trained on the first 3000 training systems).
    """
    rng = np.random.RandomState(seed)
    states = []
    for count in counts:
        charges, x, v = (np.empty((count, n_bodies)), np.empty((count, n_bodies, 3)), np.empty((count, n_bodies, 3)))
        for k in range(count):
            charges[k] = rng.choice(np.array([-1.0, 0.0, 1.0]), size=(n_bodies, 1), p=[0.5, 0.0, 0.5])[:, 0]
            x[k] = rng.randn(3, n_bodies).T
            v[k] = rng.randn(3, n_bodies).T
            rng.randn(frames, 3, n_bodies)
            rng.randn(frames, 3, n_bodies)
        v = 0.5 * v / np.sqrt((v**2).sum(axis=-1, keepdims=True))
        states.append(tuple(torch.from_numpy(array) for array in (charges, x, v)))
    return states


def integrate(x: torch.Tensor, v: torch.Tensor, charges: torch.Tensor, steps: int = STEPS,
              save_every: int = SAVE_EVERY, clip: float | None = FORCE_CLIP) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the recipe from ``(x, v)``; returns the saved positions and velocities, each
    ``(T, frames, n, 3)`` with ``frames = (steps - 1) // save_every``."""
    v = v + DT * coulomb_forces(x, charges, clip)
    positions, velocities = [], []
    for step in range(1, steps):
        x = x + DT * v
        if step % save_every == 0:
            positions.append(x)
            velocities.append(v)
        v = v + DT * coulomb_forces(x, charges, clip)
    return torch.stack(positions, dim=1), torch.stack(velocities, dim=1)


def simulate(charges: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> dict[str, torch.Tensor]:
    """The trajectories from initial states (:func:`initial_state`): ``charges`` ``(T, n)``,
    ``positions`` and ``velocities`` ``(T, 49, n, 3)`` (float64)."""
    positions, velocities = integrate(x, v, charges)
    return {"charges": charges, "positions": positions, "velocities": velocities}
