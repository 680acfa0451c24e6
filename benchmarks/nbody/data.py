"""The N-body dataset: simulated once per seed, cached on disk with a checksum.

Splits are drawn in the order train, val, test from one generator (seed 43 by default, as in
EGNN's data). A sample is one trajectory: input frame 30 (positions, velocities), target frame 40
(positions), the charges, and the edge attribute ``q_i q_j`` on the 20 directed edges of the 5
bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.cache import cached
from benchmarks.nbody.simulate import simulate

INPUT_FRAME, TARGET_FRAME = 30, 40
DEFAULT_CACHE = Path(__file__).resolve().parent / "cache"
SPLITS = ("train", "val", "test")


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
        return NBodySplit(self.positions[index], self.velocities[index], self.target[index], self.charges[index])


def generate(sizes: tuple[int, int, int], seed: int) -> dict[str, torch.Tensor]:
    """Simulate the three splits in order from one generator; float64 trajectories, sliced to
    the input and target frames."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for split, size in zip(SPLITS, sizes):
        sim = simulate(size, generator)
        out[f"{split}_positions"] = sim["positions"][:, INPUT_FRAME]
        out[f"{split}_velocities"] = sim["velocities"][:, INPUT_FRAME]
        out[f"{split}_target"] = sim["positions"][:, TARGET_FRAME]
        out[f"{split}_charges"] = sim["charges"]
    return out


def load(sizes: tuple[int, int, int] = (3000, 2000, 2000), seed: int = 43,
         cache: Path | str | None = DEFAULT_CACHE, dtype: torch.dtype = torch.float32) -> dict[str, NBodySplit]:
    """The splits, from the cache when its checksum matches, else simulated (and cached); in
    ``dtype`` (the simulation runs in float64)."""
    path = None if cache is None else Path(cache) / f"nbody_seed{seed}_{'_'.join(map(str, sizes))}.pt"
    tensors = cached(path, lambda: generate(sizes, seed))
    fields = ("positions", "velocities", "target", "charges")
    return {split: NBodySplit(*(tensors[f"{split}_{k}"].to(dtype) for k in fields)) for split in SPLITS}


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
