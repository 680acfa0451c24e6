"""Per-surface :class:`~implicit_kernels.MeshGeometry` of the mesh benchmark and its batching.

Every surface gets neighbours within the geodesic radius ``RADIUS_EDGES`` times its mean edge length (the
resolution varies by a factor of two between surfaces: 162-642 vertices; a radius in units of the edge length
gives 10-20 neighbours per vertex on every surface, see the README), log maps and transports from potpourri3d's
vector heat method, cached in ``benchmarks/mesh/cache`` (the dataset's cache folder) under a hash of the mesh.
The geometry's frames are potpourri3d's, the frames the data's vectors are written in
(``surface.frames[:, :2]``); :func:`surface_geometry` checks it.

Run ``python -m benchmarks.mesh.geometry`` to precompute (and time) the geometry of the default dataset.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from benchmarks.mesh.data import DEFAULT_CACHE, SIZES, Surface, load
from benchmarks.results import run_record
from implicit_kernels import MeshGeometry

RADIUS_EDGES = 1.75  # neighbourhood radius in units of the surface's mean edge length


def mean_edge_length(surface: Surface) -> float:
    """Mean length of the (directed, so every edge twice) edges of the faces."""
    corners = surface.vertices[surface.faces]  # (F, 3, 3)
    return float((corners - corners.roll(1, dims=1)).norm(dim=-1).mean())


def surface_geometry(surface: Surface, cache: Path | str | None = DEFAULT_CACHE,
                     radius_edges: float = RADIUS_EDGES) -> MeshGeometry:
    """The float64 geometry of ``surface`` with geodesic radius ``radius_edges * mean_edge_length``; raises if its
    frames differ from the data's ``(X_i, Y_i)`` (the vectors would be read in the wrong gauge)."""
    radius = radius_edges * mean_edge_length(surface)
    geometry = MeshGeometry.from_mesh(surface.vertices.numpy(), surface.faces.numpy(), radius, cache=cache,
                                      progress=False)
    if not torch.allclose(geometry.frames, surface.frames[:, :2], atol=1e-12):
        raise RuntimeError("MeshGeometry's frames differ from the data's frames")
    return geometry


def split_geometries(surfaces: Sequence[Surface], cache: Path | str | None = DEFAULT_CACHE,
                     desc: str = "geometry", progress: bool = True) -> list[MeshGeometry]:
    """:func:`surface_geometry` of every surface, with a progress bar."""
    return [surface_geometry(s, cache) for s in tqdm(surfaces, desc=desc, disable=not progress)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mesh.geometry", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=3, default=SIZES, metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, help="JSON record of the times and neighbour counts")
    args = parser.parse_args(argv)
    start_all = time.perf_counter()
    splits = load(tuple(args.sizes), args.data_seed, args.cache)
    record = {"radius_edges": RADIUS_EDGES, "splits": {}}
    for name, split in splits.items():
        start = time.perf_counter()
        geometries = split_geometries(list(split), args.cache, desc=name)
        seconds = time.perf_counter() - start
        degrees = torch.tensor([g.num_edges / g.frames.shape[0] for g in geometries])
        vertices = sum(g.frames.shape[0] for g in geometries)
        record["splits"][name] = {"surfaces": len(split), "vertices": vertices, "seconds": seconds,
                                  "neighbours_mean": float(degrees.mean()), "neighbours_min": float(degrees.min()),
                                  "neighbours_max": float(degrees.max())}
        print(f"{name}: {len(split)} surfaces ({vertices} vertices) in {seconds:.1f} s, neighbours per vertex "
              f"{degrees.mean():.1f} (surface means {degrees.min():.1f}-{degrees.max():.1f})")
    if args.out is not None:
        record.update(run_record("python -m benchmarks.mesh.geometry", argv, torch.get_num_threads(), start_all))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
