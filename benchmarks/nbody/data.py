"""The N-body dataset: simulated once per seed and stream, cached on disk with a checksum.

Splits are drawn in the order train, val, test from one random stream (seed 43 by default, as in
EGNN's data), one of :data:`STREAMS`:

- ``torch``: our own, a ``torch.Generator``; each split draws exactly its size;
- ``egnn``: the draws of EGNN's generator (:func:`~benchmarks.nbody.simulate.egnn_initial_states`),
  which simulates 10,000 training systems before validation and test and of which the published
  models train on the first 3,000. With seed 43 the splits hold the initial states of the
  published results' systems, so their test MSEs compare on the same systems. The trajectories are
  our float64 simulation of them: a system whose close encounters are chaotic enough for the
  rounding of a different summation order to grow may end elsewhere than in EGNN's files.

A sample is one trajectory: input frame 30 (positions, velocities), target frame 40 (positions),
the charges, and the edge attribute ``q_i q_j`` on the 20 directed edges of the 5 bodies.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from benchmarks.cache import cached
from benchmarks.nbody.simulate import DT, coulomb_forces, egnn_initial_states, initial_state, simulate

INPUT_FRAME, TARGET_FRAME = 30, 40
DEFAULT_CACHE = Path(__file__).resolve().parent / "cache"
SPLITS = ("train", "val", "test")
STREAMS = ("torch", "egnn")
EGNN_GENERATED = (10_000, 2_000, 2_000)  # systems per split in EGNN's nbody_small files


@dataclass
class NBodySplit:
    """``positions``, ``velocities``: ``(T, n, 3)`` at the input frame; ``target``: ``(T, n, 3)``
    positions at the target frame; ``charges``: ``(T, n)``."""

    positions: torch.Tensor
    velocities: torch.Tensor
    target: torch.Tensor
    charges: torch.Tensor

    def __len__(self) -> int:
        return len(self.positions)

    def subset(self, index: torch.Tensor) -> NBodySplit:
        return NBodySplit(*(getattr(self, field.name)[index] for field in fields(self)))

    def to(self, dtype: torch.dtype) -> NBodySplit:
        return NBodySplit(*(getattr(self, field.name).to(dtype) for field in fields(self)))

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], dtype: torch.dtype, prefix: str = "") -> NBodySplit:
        """The split stored in ``tensors`` under ``prefix + field`` for each field, in ``dtype``."""
        return cls(*(tensors[prefix + field.name].to(dtype) for field in fields(cls)))

    def __add__(self, other: NBodySplit) -> NBodySplit:
        """The systems of both splits, ``self``'s first."""
        return NBodySplit(*(torch.cat([getattr(self, field.name), getattr(other, field.name)])
                            for field in fields(self)))


def initial_states(sizes: tuple[int, int, int], seed: int, stream: str = "torch") -> list[tuple[torch.Tensor, ...]]:
    """``(charges, x, v)`` of every split, drawn from ``stream`` (one of :data:`STREAMS`); with
    ``egnn`` each split holds the first ``size`` systems of EGNN's split of
    :data:`EGNN_GENERATED` systems."""
    if stream == "torch":
        generator = torch.Generator().manual_seed(seed)
        return [initial_state(size, 5, generator) for size in sizes]
    if stream != "egnn":
        raise ValueError(f"unknown stream {stream!r}; expected one of {STREAMS}")
    if any(size > limit for size, limit in zip(sizes, EGNN_GENERATED)):
        raise ValueError(f"EGNN's splits hold {EGNN_GENERATED} systems; asked for {tuple(sizes)}")
    return [tuple(tensor[:size] for tensor in state)
            for size, state in zip(sizes, egnn_initial_states(EGNN_GENERATED, seed))]


def generate(sizes: tuple[int, int, int], seed: int, stream: str = "torch") -> dict[str, torch.Tensor]:
    """Simulate the three splits from the initial states of :func:`initial_states`; float64
    trajectories, sliced to the input and target frames."""
    out = {}
    for split, state in zip(SPLITS, initial_states(sizes, seed, stream)):
        sim = simulate(*state)
        out[f"{split}_positions"] = sim["positions"][:, INPUT_FRAME]
        out[f"{split}_velocities"] = sim["velocities"][:, INPUT_FRAME]
        out[f"{split}_target"] = sim["positions"][:, TARGET_FRAME]
        out[f"{split}_charges"] = sim["charges"]
    return out


def cache_path(cache: Path | str | None, stream: str, seed: int, contents: str) -> Path | None:
    """The file under ``cache`` (``None``: no cache) for data of ``stream`` and ``seed`` described
    by ``contents`` (e.g. the split sizes)."""
    name = ("nbody" if stream == "torch" else f"nbody_{stream}") + f"_seed{seed}_{contents}.pt"
    return None if cache is None else Path(cache) / name


def load(sizes: tuple[int, int, int] = (3000, 2000, 2000), seed: int = 43,
         cache: Path | str | None = DEFAULT_CACHE, dtype: torch.dtype = torch.float32,
         stream: str = "torch") -> dict[str, NBodySplit]:
    """The splits, from the cache when its checksum matches, else simulated (and cached); in
    ``dtype`` (the simulation runs in float64)."""
    tensors = cached(cache_path(cache, stream, seed, "_".join(map(str, sizes))), lambda: generate(sizes, seed, stream))
    return {split: NBodySplit.from_tensors(tensors, dtype, prefix=f"{split}_") for split in SPLITS}


def time_reversed_training(sizes: tuple[int, int, int] = (3000, 2000, 2000), seed: int = 43,
                           cache: Path | str | None = DEFAULT_CACHE, dtype: torch.dtype = torch.float32,
                           stream: str = "torch") -> NBodySplit:
    """The training trajectories of :func:`load` run backwards: input the target frame's positions
    ``x_T`` with the velocity ``u = -(v_T + dt F(x_T))``, target the input frame's positions.

    The simulation's step (kick ``v += dt F(x)``, then drift ``x += dt v``) is reversible: a saved
    velocity ``v_T`` is the one that drifted the bodies to ``x_T``, and ``v_T + dt F(x_T)`` the one
    that would drift them on. Started from ``(x_T, u)`` the recipe's first kick gives ``-v_T``, its
    first drift the previous positions, and every later step undoes one step of the trajectory, so
    the sample's label is exact up to the rounding that close encounters amplify. This uses the
    velocities at the target frame, which the input-target pairs of :func:`load` do not contain."""

    def generate_reversed() -> dict[str, torch.Tensor]:
        sim = simulate(*initial_states(sizes, seed, stream)[0])
        x, v = sim["positions"][:, TARGET_FRAME], sim["velocities"][:, TARGET_FRAME]
        return {"positions": x, "velocities": -(v + DT * coulomb_forces(x, sim["charges"])),
                "target": sim["positions"][:, INPUT_FRAME], "charges": sim["charges"]}

    return NBodySplit.from_tensors(cached(cache_path(cache, stream, seed, f"{sizes[0]}_reversed"), generate_reversed),
                                   dtype)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset options every N-body script takes: ``--sizes``, ``--data-seed``, ``--stream``
    and ``--cache``."""
    parser.add_argument("--sizes", type=int, nargs=3, default=(3000, 2000, 2000), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--data-seed", type=int, default=43)
    parser.add_argument("--stream", choices=STREAMS, default="torch",
                        help="random stream of the initial states: ours (torch) or that of EGNN's generator (egnn: "
                             "with seed 43 the systems of the published results)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="dataset cache directory")


def load_from_arguments(args: argparse.Namespace, dtype: torch.dtype = torch.float32) -> dict[str, NBodySplit]:
    """:func:`load` with the options of :func:`add_data_arguments`."""
    return load(tuple(args.sizes), args.data_seed, args.cache, dtype, args.stream)


def time_reversed_from_arguments(args: argparse.Namespace, dtype: torch.dtype = torch.float32) -> NBodySplit:
    """:func:`time_reversed_training` with the options of :func:`add_data_arguments`."""
    return time_reversed_training(tuple(args.sizes), args.data_seed, args.cache, dtype, args.stream)


def data_fields(args: argparse.Namespace) -> dict:
    """The dataset a run used, for its JSON record."""
    return {"sizes": list(args.sizes), "data_seed": args.data_seed, "stream": args.stream}


def fully_connected_edges(n_bodies: int) -> torch.Tensor:
    """``(2, n (n - 1))`` directed edges ``[source; target]`` of one system, sorted by target."""
    src, dst = torch.meshgrid(torch.arange(n_bodies), torch.arange(n_bodies), indexing="xy")
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])


def batch_graph(split: NBodySplit) -> dict[str, torch.Tensor]:
    """One disjoint graph for the systems of ``split``: nodes ``(B n, ...)``, edges shifted per system."""
    count, n = split.charges.shape
    edges = fully_connected_edges(n)
    offsets = (torch.arange(count) * n).repeat_interleave(edges.shape[1])
    edge_index = edges.repeat(1, count) + offsets
    charges = split.charges.reshape(-1)
    return {
        "positions": split.positions.reshape(-1, 3),
        "velocities": split.velocities.reshape(-1, 3),
        "charges": charges,
        "target": split.target.reshape(-1, 3),
        "edge_index": edge_index,
        "edge_charge": charges[edge_index[0]] * charges[edge_index[1]],
        "batch": torch.arange(count).repeat_interleave(n),
    }


def random_orthogonal(count: int, generator: torch.Generator, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(count, 3, 3)`` Haar-random elements of O(3) (rotations and rotoreflections, half each in
    expectation), for symmetry checks: the Q of a Gaussian matrix's QR, with the signs fixed by R's
    diagonal; in ``dtype`` (default: torch's default dtype)."""
    q, r = torch.linalg.qr(torch.randn(count, 3, 3, generator=generator, dtype=dtype))
    return q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]
