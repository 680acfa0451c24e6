"""The mesh benchmark's dataset: random smooth closed surfaces with a tangent vector field, its vector heat flow
and the mean curvature per vertex; generated once per seed (in parallel), cached on disk with a checksum.

Every surface is drawn by ``surfaces.sample(seed, split, index)`` from its own generator, so the data does not
depend on the number of worker processes. Half the surfaces of a split are deformed spheres (even indices), half
deformed tori (odd indices); see ``surfaces`` for the shapes, the frames, the flow and the curvature.

Tasks: ``inputs -> targets`` (a gauge-equivariant vector-to-vector map: the vector heat flow for time
``surfaces.HEAT_TIME``) and ``-> curvature`` (a gauge-invariant scalar per vertex: the mean curvature).

Run ``python -m benchmarks.mesh.data`` to generate (and cache) the default dataset.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from benchmarks.cache import cached
from benchmarks.mesh import surfaces
from benchmarks.mesh.surfaces import KINDS

DEFAULT_CACHE = Path(__file__).resolve().parent / "cache"
SPLITS = ("train", "val", "test")
SIZES = (200, 50, 50)
DATA_VERSION = 1  # part of the cache file name: raise it when the generated data changes
VERTEX_FIELDS = ("vertices", "frames", "areas", "inputs", "targets", "curvature")


@dataclass
class Surface:
    """One surface, torch float64 (int64 for ``faces``), ``N`` vertices and ``F`` faces.

    ``vertices``: ``(N, 3)`` positions (surfaces of size ~1: radius-1 sphere or major-radius-1 torus before the
    deformation, randomly rotated); ``faces``: ``(F, 3)`` vertex indices, counter-clockwise seen from outside;
    ``frames``: ``(N, 3, 3)``, rows ``(X_i, Y_i, N_i)`` of potpourri3d's tangent frame at vertex ``i``
    (``MeshVectorHeatSolver(V, F).get_tangent_frames()``; orthonormal, ``X x Y = N``, ``N`` outward);
    ``areas``: ``(N,)`` barycentric vertex areas (``potpourri3d.vertex_areas``), the mass of the flow;
    ``inputs``: ``(N, 2)`` coordinates ``(u_i . X_i, u_i . Y_i)`` of a random smooth tangent field ``u`` of unit
    area-weighted RMS norm; ``targets``: ``(N, 2)`` the same coordinates of ``u`` after the vector heat flow
    ``du/dt = -M^-1 L u`` (``L`` potpourri3d's connection Laplacian, ``M = diag(areas)``) for time
    ``surfaces.HEAT_TIME``, by ``surfaces.HEAT_STEPS`` backward Euler steps; ``curvature``: ``(N,)`` the mean
    curvature ``(k_1 + k_2) / 2`` w.r.t. the outward normal; ``kind``: index into ``KINDS``."""

    vertices: Tensor
    faces: Tensor
    frames: Tensor
    areas: Tensor
    inputs: Tensor
    targets: Tensor
    curvature: Tensor
    kind: int


@dataclass
class MeshSplit:
    """The surfaces of a split, packed: the per-vertex fields of ``Surface`` concatenated over surfaces along the
    first dimension (``vertices``: ``(sum N, 3)``, ...), ``faces``: ``(sum F, 3)`` with indices local to each
    surface, ``vertex_offsets``: ``(S + 1,)`` and ``face_offsets``: ``(S + 1,)`` the cumulative counts (surface
    ``s`` owns rows ``offsets[s]:offsets[s + 1]``), ``kinds``: ``(S,)`` int64. ``split[s]`` is a ``Surface``."""

    tensors: dict[str, Tensor]

    def __len__(self) -> int:
        return len(self.tensors["kinds"])

    def __getitem__(self, index: int) -> Surface:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        v0, v1 = self.tensors["vertex_offsets"][index : index + 2].tolist()
        f0, f1 = self.tensors["face_offsets"][index : index + 2].tolist()
        per_vertex = {name: self.tensors[name][v0:v1] for name in VERTEX_FIELDS}
        return Surface(**per_vertex, faces=self.tensors["faces"][f0:f1], kind=int(self.tensors["kinds"][index]))

    def __iter__(self) -> Iterator[Surface]:
        return (self[index] for index in range(len(self)))


def _sample(task: tuple[int, int, int]) -> surfaces.Sample:
    return surfaces.sample(*task)


def _context() -> multiprocessing.context.BaseContext:
    """``fork`` where available (workers start at once and only run NumPy and potpourri3d), else ``spawn``."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def default_workers() -> int:
    """One worker process per core available to this process."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pack(samples: list[surfaces.Sample]) -> dict[str, Tensor]:
    """The ``MeshSplit`` tensors of ``samples``: fields concatenated, offsets, kinds."""
    out = {name: torch.from_numpy(np.concatenate([getattr(s, name) for s in samples])) for name in VERTEX_FIELDS}
    out["faces"] = torch.from_numpy(np.concatenate([s.faces for s in samples]).astype(np.int64))
    for name, field in (("vertex_offsets", "vertices"), ("face_offsets", "faces")):
        counts = [len(getattr(s, field)) for s in samples]
        out[name] = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    out["kinds"] = torch.tensor([s.kind for s in samples], dtype=torch.int64)
    return out


def generate(seed: int, sizes: tuple[int, ...] = SIZES, workers: int | None = None,
             progress: bool = False) -> dict[str, Tensor]:
    """All splits (in the order of ``SPLITS``, ``sizes`` surfaces each): ``{split}_{name}`` for the ``MeshSplit``
    tensors. Surface ``i`` of split number ``k`` is ``surfaces.sample(seed, k, i)``; ``workers`` processes
    (default: one per core, ``1``: in this process) with a tqdm bar when ``progress``."""
    if len(sizes) != len(SPLITS):
        raise ValueError(f"expected {len(SPLITS)} sizes ({', '.join(SPLITS)}), got {sizes}")
    tasks = [(seed, k, i) for k, size in enumerate(sizes) for i in range(size)]
    workers = default_workers() if workers is None else workers
    bar = dict(total=len(tasks), desc="surfaces", unit="surface", disable=not progress)
    if workers <= 1:
        samples = [_sample(task) for task in tqdm(tasks, **bar)]
    else:
        with _context().Pool(workers) as pool:
            samples = list(tqdm(pool.imap(_sample, tasks, chunksize=8), **bar))
    out, start = {}, 0
    for split, size in zip(SPLITS, sizes):
        out.update({f"{split}_{name}": tensor for name, tensor in pack(samples[start : start + size]).items()})
        start += size
    return out


def cache_name(seed: int, sizes: tuple[int, ...]) -> str:
    """The cache file name: data version, seed, sizes, flow time and steps."""
    flow = f"t{surfaces.HEAT_TIME:g}x{surfaces.HEAT_STEPS}"
    return f"mesh_v{DATA_VERSION}_seed{seed}_{'_'.join(map(str, sizes))}_{flow}.pt"


def load(sizes: tuple[int, ...] = SIZES, seed: int = 0, cache: Path | str | None = DEFAULT_CACHE,
         workers: int | None = None, progress: bool = True) -> dict[str, MeshSplit]:
    """The splits, from the cache when its checksum matches, else generated (``generate``) and cached;
    ``cache=None`` disables the cache."""
    path = None if cache is None else Path(cache) / cache_name(seed, sizes)
    tensors = cached(path, lambda: generate(seed, sizes, workers, progress))
    return {split: MeshSplit({key.removeprefix(f"{split}_"): value for key, value in tensors.items()
                              if key.startswith(f"{split}_")}) for split in SPLITS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs=len(SPLITS), default=SIZES, metavar=tuple(s.upper() for s in SPLITS))
    parser.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    start = time.perf_counter()
    splits = load(tuple(args.sizes), args.seed, args.cache, args.workers)
    print(f"{time.perf_counter() - start:.1f} s, cache {args.cache / cache_name(args.seed, tuple(args.sizes))}")
    for split, data in splits.items():
        counts = data.tensors["vertex_offsets"].diff()
        kinds = data.tensors["kinds"].bincount(minlength=len(KINDS)).tolist()
        print(f"{split}: {len(data)} surfaces ({dict(zip(KINDS, kinds))}), {counts.min()}-{counts.max()} vertices")


if __name__ == "__main__":
    main()
