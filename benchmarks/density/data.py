"""The water-cluster density dataset, computed once per seed and size, cached with a checksum.

Cluster ``i`` of a seed has ``1 + (i mod 4)`` molecules (:mod:`benchmarks.density.clusters`) drawn
from its own generator, seeded by ``(seed, i)``, so the data do not depend on how many processes
compute it. Its target is the density-fitting coefficients of its PBE0/def2-SVP density
(:mod:`benchmarks.density.quantum`), per atom in the irreps of O(3). Splits are consecutive
blocks of clusters: train, val, test.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch
from tqdm import tqdm

from benchmarks.cache import cached
from benchmarks.density import clusters, quantum

DEFAULT_CACHE = Path(__file__).resolve().parent / "cache"
SPLITS = ("train", "val", "test")
SIZES = (400, 50, 100)
ELEMENTS = ("H", "O")
VERSION = 1  # bump when the generation changes


@dataclass
class DensitySet:
    """Clusters stored flat: ``positions`` ``(A, 3)`` in Angstrom, ``species`` ``(A,)`` indices into
    :data:`ELEMENTS`, ``coefficients`` ``(A, layout.size)`` the targets in our irreps (zeros outside
    each element's shells), ``offsets`` ``(C + 1,)`` the first atom of every cluster."""

    positions: torch.Tensor
    species: torch.Tensor
    coefficients: torch.Tensor
    offsets: torch.Tensor

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def cluster(self, i: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        """Positions, element symbols and coefficients of cluster ``i``."""
        atoms = slice(int(self.offsets[i]), int(self.offsets[i + 1]))
        return self.positions[atoms], [ELEMENTS[s] for s in self.species[atoms]], self.coefficients[atoms]

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The clusters ``index`` as one graph's nodes: ``positions``, ``species``, ``coefficients``
        and ``batch`` (the cluster of every atom, ``0..len(index)-1``)."""
        atoms = [torch.arange(int(self.offsets[i]), int(self.offsets[i + 1])) for i in index.tolist()]
        counts = torch.tensor([len(a) for a in atoms])
        atoms = torch.cat(atoms)
        return {"positions": self.positions[atoms], "species": self.species[atoms],
                "coefficients": self.coefficients[atoms],
                "batch": torch.arange(len(index)).repeat_interleave(counts)}

    def subset(self, start: int, stop: int) -> DensitySet:
        first, last = int(self.offsets[start]), int(self.offsets[stop])
        return DensitySet(self.positions[first:last], self.species[first:last], self.coefficients[first:last],
                          self.offsets[start : stop + 1] - first)


def compute_cluster(task: tuple[int, int, dict[str, str]]) -> dict[str, torch.Tensor]:
    """Geometry and fitted density of cluster ``i`` of ``seed`` at ``level`` (a :data:`quantum.LEVEL`)."""
    seed, i, level = task
    generator = torch.Generator().manual_seed(seed * 1_000_003 + i)
    molecules = 1 + i % 4
    positions = clusters.water_cluster(molecules, generator)
    elements = clusters.elements(molecules)
    mol = quantum.molecule(positions, elements, level["basis"])
    auxmol, coefficients = quantum.fitted_density(mol, level["xc"], level["auxbasis"])
    layout = quantum.shell_layout(list(ELEMENTS), level["auxbasis"])
    return {"positions": positions, "species": torch.tensor([ELEMENTS.index(e) for e in elements]),
            "coefficients": quantum.to_irreps(auxmol, coefficients, layout)}


def generate(count: int, seed: int, level: dict[str, str], processes: int) -> dict[str, torch.Tensor]:
    """``count`` clusters computed in ``processes`` worker processes (one thread each)."""
    tasks = [(seed, i, level) for i in range(count)]
    with get_context("spawn").Pool(processes, initializer=_one_thread) as pool:
        results = list(tqdm(pool.imap(compute_cluster, tasks), total=count, desc="pyscf densities"))
    counts = torch.tensor([len(r["species"]) for r in results])
    return {"positions": torch.cat([r["positions"] for r in results]),
            "species": torch.cat([r["species"] for r in results]),
            "coefficients": torch.cat([r["coefficients"] for r in results]),
            "offsets": torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])}


def _one_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    from pyscf import lib

    lib.num_threads(1)


def load_splits(sizes: tuple[int, int, int] = SIZES, seed: int = 0, level: dict[str, str] | None = None,
                cache_dir: Path | None = DEFAULT_CACHE, processes: int | None = None) -> dict[str, DensitySet]:
    """The splits (:data:`SPLITS`) of ``sum(sizes)`` clusters of ``seed``, from the cache when
    there (``cache_dir=None``: computed every time)."""
    level = dict(quantum.LEVEL if level is None else level)
    count = sum(sizes)
    name = f"water_{count}_seed{seed}_{level['xc']}_{level['basis']}_{level['auxbasis']}_v{VERSION}.pt"
    processes = processes or min(os.cpu_count() or 1, count)
    tensors = cached(None if cache_dir is None else cache_dir / name,
                     lambda: generate(count, seed, level, processes))
    full = DensitySet(**tensors)
    bounds = torch.tensor([0, *sizes]).cumsum(0).tolist()
    return {split: full.subset(bounds[k], bounds[k + 1]) for k, split in enumerate(SPLITS)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compute and cache the water-cluster densities.")
    parser.add_argument("--sizes", type=int, nargs=3, default=SIZES, metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--basis", default=quantum.LEVEL["basis"], help="orbital basis of the DFT")
    parser.add_argument("--processes", type=int, default=None, help="worker processes (default: the cores)")
    args = parser.parse_args(argv)
    splits = load_splits(tuple(args.sizes), args.seed, dict(quantum.LEVEL, basis=args.basis),
                         processes=args.processes)
    for split, data in splits.items():
        print(f"{split}: {len(data)} clusters, {len(data.species)} atoms")


if __name__ == "__main__":
    main()
