"""The rotational symmetry the N-body data break, and the error floor that sets for equivariant models.

``python -m benchmarks.nbody.symmetry --orientations 32 --out benchmarks/nbody/results/symmetry.json``
(with ``--model M --checkpoints ...``, trained networks are measured against the floor too).

The simulator clips every Cartesian component of the Coulomb force at ``+-100``, as the generator of
EGNN's data does. In close encounters the clipped force depends on how the pair is oriented
against the axes, so the label ``y = sim(S)`` of an input state ``S`` (positions and velocities at
the input frame, and the charges) is not an equivariant function of ``S``: ``sim(g S) != g sim(S)``
for ``g`` in O(3).

A prediction ``f`` is O(3)-equivariant when ``f(g S) = g f(S)``. The input states are isotropic (the
initial states are), so the expected squared error of such an ``f`` is
``E_S E_g |f(S) - g^-1 sim(g S)|^2``, which is smallest for the orientation average

    f*(S) = E_g [ g^-1 sim(g S) ]      (g Haar-distributed on O(3)).

The MSE of ``f*`` against the data's labels estimates the floor every exactly O(3)-equivariant
model has on a split; a model's MSE splits into that floor plus its distance to ``f*`` (up to a
cross term that vanishes in expectation). :func:`orientation_average` estimates ``f*`` by Monte
Carlo over ``orientations`` random ``g``, re-simulating from the input frame (which reproduces the
label exactly in the data's own frame).
"""

from __future__ import annotations

import argparse

import torch
from tqdm import tqdm

from benchmarks.nbody.data import (
    INPUT_FRAME,
    TARGET_FRAME,
    NBodySplit,
    add_data_arguments,
    batch_graph,
    data_fields,
    load_from_arguments,
    random_orthogonal,
)
from benchmarks.nbody.ensemble import add_network_arguments, networks_from_arguments
from benchmarks.nbody.simulate import SAVE_EVERY, integrate
from benchmarks.nbody.train import system_mse
from benchmarks.training import Distributed, write_json

STEPS_TO_TARGET = (TARGET_FRAME - INPUT_FRAME) * SAVE_EVERY


def simulate_to_target(positions: torch.Tensor, velocities: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
    """``(T, n, 3)``: the positions at the target frame, simulated from a state at the input frame
    (``(T, n, 3)`` positions and velocities, ``(T, n)`` charges; float64 for the data's accuracy)."""
    positions, _ = integrate(positions, velocities, charges, steps=STEPS_TO_TARGET + 1, save_every=STEPS_TO_TARGET)
    return positions[:, 0]


def orientation_average(split: NBodySplit, orientations: int, generator: torch.Generator,
                        progress: bool = False) -> torch.Tensor:
    """``(T, n, 3)``: the Monte-Carlo estimate of ``f*(S) = E_g[g^-1 sim(g S)]`` for every system of
    ``split`` over ``orientations`` random ``g`` in O(3) (one per system and draw)."""
    total = torch.zeros_like(split.target)
    for _ in tqdm(range(orientations), desc="orientations", disable=not progress):
        g = random_orthogonal(len(split), generator, split.positions.dtype)
        moved = simulate_to_target(split.positions @ g.transpose(1, 2), split.velocities @ g.transpose(1, 2),
                                   split.charges)
        total += moved @ g  # g^-1 = g^T acting on row vectors
    return total / orientations


def floor(split: NBodySplit, oracle: torch.Tensor, affected: float = 1e-8) -> dict[str, float]:
    """The floor estimate on ``split`` from the orientation average ``oracle``: its MSE, the standard
    error of that mean over the systems, and the share of systems whose labels depend on the
    orientation (per-system MSE of ``oracle`` above ``affected``)."""
    errors = system_mse(oracle, split.target)
    return {"mse": float(errors.mean()), "standard_error": float(errors.std() / len(errors) ** 0.5),
            "affected_share": float((errors > affected).double().mean())}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nbody.symmetry", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orientations", type=int, default=32, help="random O(3) elements per system")
    parser.add_argument("--seed", type=int, default=0, help="seed of the orientations")
    add_data_arguments(parser)
    add_network_arguments(parser, "against the floor on the test split")
    parser.add_argument("--out", help="JSON results file")
    return parser.parse_args(argv)


@torch.no_grad()
def against_floor(network: torch.nn.Module, split: NBodySplit, oracle: torch.Tensor) -> dict[str, float]:
    """A network's MSE on ``split`` and its MSE to the orientation average ``oracle`` (what an
    equivariant network could still learn); the network runs in its own dtype."""
    dtype = next(network.parameters()).dtype
    prediction = network.eval()(batch_graph(split.to(dtype))).to(oracle.dtype).reshape(oracle.shape)
    return {"mse": float(system_mse(prediction, split.target).mean()),
            "mse_to_orientation_average": float(system_mse(prediction, oracle).mean())}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.orientations < 1:
        raise ValueError(f"--orientations must be positive, got {args.orientations}")
    networks = networks_from_arguments(args)
    data = load_from_arguments(args, dtype=torch.float64)
    generator = torch.Generator().manual_seed(args.seed)
    oracles = {split: orientation_average(data[split], args.orientations, generator, progress=True)
               for split in ("val", "test")}
    result = {"orientations": args.orientations, "seed": args.seed, **data_fields(args),
              **{split: floor(data[split], oracle) for split, oracle in oracles.items()}}
    result["networks"] = {name: against_floor(network, data["test"], oracles["test"])
                          for name, network in networks.items()}
    write_json(args.out, result, Distributed())
    print(result)
    return result


if __name__ == "__main__":
    main()
