"""Our simulation of a split against the arithmetic of EGNN's generator:
``python -m benchmarks.nbody.reference --stream egnn --model M --checkpoints A.ckpt ... --out R.json``.

:mod:`benchmarks.nbody.simulate` integrates all systems at once in torch and takes distances as
``|x_i - x_j|``. EGNN's generator integrates one system at a time in numpy and expands the squared
distances as ``|x_i|^2 + |x_j|^2 - 2 x_i . x_j``. Both are the same float64 recipe up to rounding,
but close encounters amplify rounding differences, so a few systems end elsewhere.
:func:`reference_positions` re-runs the generator's formulas (our code, one system at a time) from
a split's initial states; :func:`main` measures the share of test systems whose input and target
frames move by more than given tolerances, and trained networks' test MSE against both versions.
That estimates how far a test MSE on our simulation of EGNN's systems may be from one on EGNN's
files (whose own rounding is a third version, not measured here).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.nbody.data import (
    INPUT_FRAME,
    TARGET_FRAME,
    NBodySplit,
    add_data_arguments,
    data_fields,
    initial_states,
    load_from_arguments,
)
from benchmarks.nbody.ensemble import add_network_arguments, networks_from_arguments
from benchmarks.nbody.simulate import DT, FORCE_CLIP, SAVE_EVERY, STEPS
from benchmarks.nbody.train import system_errors
from benchmarks.training import Distributed, write_json

TOLERANCES = (1e-9, 1e-6, 1e-3, 1e-1)


def generator_forces(x: np.ndarray, charge_products: np.ndarray) -> np.ndarray:
    """``(3, n)``: the clipped Coulomb forces on bodies at ``x`` ``(3, n)`` as EGNN's generator
    computes them: squared distances expanded, raised to the power 3/2, the diagonal zeroed, and
    the per-axis differences summed over the other bodies."""
    rows = x.T
    squared = (rows**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = charge_products / np.power(squared[:, None] + squared[None, :] - 2 * rows.dot(rows.T), 1.5)
    np.fill_diagonal(size, 0.0)
    forces = (size[None] * np.stack([np.subtract.outer(axis, axis) for axis in x])).sum(axis=-1)
    return np.clip(forces, -FORCE_CLIP, FORCE_CLIP)


def reference_positions(charges: np.ndarray, x: np.ndarray, v: np.ndarray,
                        frames: tuple[int, ...] = (INPUT_FRAME, TARGET_FRAME)) -> tuple[np.ndarray, np.ndarray]:
    """One system (``charges`` ``(n,)``, ``x`` and ``v`` ``(n, 3)``) run by the generator's
    arithmetic: the positions and velocities ``(len(frames), n, 3)`` at the saved ``frames`` (frame
    ``k`` is step ``SAVE_EVERY (k + 1)``, as in :func:`~benchmarks.nbody.simulate.integrate`)."""
    products = np.outer(charges, charges)
    x, v = x.T.copy(), v.T.copy()
    v += DT * generator_forces(x, products)
    saved = {SAVE_EVERY * (frame + 1): k for k, frame in enumerate(frames)}
    positions, velocities = np.empty((len(frames), *x.T.shape)), np.empty((len(frames), *x.T.shape))
    for step in range(1, min(STEPS, max(saved) + 1)):
        x += DT * v
        if step in saved:
            positions[saved[step]], velocities[saved[step]] = x.T, v.T
        v += DT * generator_forces(x, products)
    return positions, velocities


def reference_split(split: NBodySplit, state: tuple[torch.Tensor, ...], progress: bool = False) -> NBodySplit:
    """``split`` (float64) with its inputs and targets re-run by the generator's arithmetic from the
    initial ``state`` ``(charges, x, v)`` it was simulated from."""
    runs = [reference_positions(*(tensor[k].numpy() for tensor in state))
            for k in tqdm(range(len(split)), desc="systems", disable=not progress)]
    positions, velocities = (torch.from_numpy(np.stack(parts)) for parts in zip(*runs))
    return NBodySplit(positions[:, 0], velocities[:, 0], positions[:, 1], split.charges)


def moved_share(ours: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """The share of systems (``(T, n, 3)`` each) whose largest coordinate difference exceeds each
    of :data:`TOLERANCES`."""
    largest = (ours - reference).abs().amax(dim=(1, 2))
    return {f"{tolerance:g}": float((largest > tolerance).double().mean()) for tolerance in TOLERANCES}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nbody.reference", description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    add_network_arguments(parser, "on both versions of the test split")
    parser.add_argument("--out", help="JSON results file")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    networks = networks_from_arguments(args)
    ours = load_from_arguments(args, dtype=torch.float64)["test"]
    reference = reference_split(ours, initial_states(tuple(args.sizes), args.data_seed, args.stream)[2],
                                progress=True)
    result = {**data_fields(args), "moved_share": {"input": moved_share(ours.positions, reference.positions),
                                                   "target": moved_share(ours.target, reference.target)}}
    result["networks"] = {name: {"mse": float(system_errors(network, ours.to(torch.float32)).mean()),
                                 "mse_reference": float(system_errors(network, reference.to(torch.float32)).mean())}
                          for name, network in networks.items()}
    write_json(args.out, result, Distributed())
    print(result)
    return result


if __name__ == "__main__":
    main()
