"""The point-cloud shape-classification dataset: generated once per seed, cached on disk with a checksum.

A sample is ``N`` points (512 by default) on the surface of one of the 16 shapes of ``CLASSES`` in its canonical,
axis-aligned pose: area-weighted samples of the shape scaled by ``diag(axes * factors)`` (``axes`` per class,
``factors`` uniform in ``[1 - spread, 1 + spread]`` per axis and sample), centred on their mean and divided by
their largest norm (bounding radius 1), then jittered by a Gaussian (``JITTER``), with a fraction ``OUTLIERS``
of the points replaced by points uniform in the axis-aligned bounding box of the clean cloud, and shuffled.
Rotations are left to the training code (``random_rotations``).

``helix_right`` and ``helix_left`` are the chiral pair: the left samples are the right ones reflected through the
plane ``x = 0``. Every other class has the planes ``x = 0`` and ``y = 0`` as mirror planes (canonical shapes
posed so, scaled along the axes), so it is mirror symmetric sample by sample: SO(3)-invariant models can separate
the pair, O(3)-invariant ones cannot, and no other two classes are mirror images of each other.

``tetris`` gives the 8 pieces of 3D Tetris (Thomas et al. 2018), a sanity task with its own chiral pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from benchmarks.cache import cached
from benchmarks.pointcloud import shapes

JITTER = 0.01
OUTLIERS = 0.015
DEFAULT_CACHE = Path(__file__).resolve().parent / "cache"
SPLITS = ("train", "test")
DATA_VERSION = 1  # part of the cache file name: raise it when the generated data changes


@dataclass(frozen=True)
class ShapeClass:
    """A class: a canonical ``surface`` (see ``shapes``), its base semi-axes ``axes`` and the relative ``spread``
    of the random per-axis factors; ``mirrored`` reflects the samples through ``x = 0``."""

    surface: Callable[[Tensor, int, torch.Generator], Tensor]
    axes: tuple[float, float, float] = (1.0, 1.0, 1.0)
    spread: float = 0.2
    mirrored: bool = False


CLASS_SPECS = {
    "sphere": ShapeClass(shapes.sphere, spread=0.1),
    "ellipsoid": ShapeClass(shapes.sphere, axes=(1.0, 0.65, 0.4)),
    "cube": ShapeClass(shapes.cube, spread=0.1),
    "box": ShapeClass(shapes.cube, axes=(1.0, 0.6, 0.3)),
    "cylinder": ShapeClass(shapes.cylinder),
    "cone": ShapeClass(shapes.cone),
    "capsule": ShapeClass(shapes.capsule),
    "torus": ShapeClass(shapes.torus),
    "pyramid": ShapeClass(shapes.pyramid),
    "tetrahedron": ShapeClass(shapes.tetrahedron),
    "octahedron": ShapeClass(shapes.octahedron),
    "dodecahedron": ShapeClass(shapes.dodecahedron),
    "icosahedron": ShapeClass(shapes.icosahedron),
    "superquadric": ShapeClass(shapes.superquadric),
    "helix_right": ShapeClass(shapes.helix),
    "helix_left": ShapeClass(shapes.helix, mirrored=True),
}
CLASSES = tuple(CLASS_SPECS)
CHIRAL_PAIRS = (("helix_right", "helix_left"),)

TETRIS_CLASSES = ("chiral_shape_1", "chiral_shape_2", "square", "line", "corner", "L", "T", "zigzag")
TETRIS_CHIRAL_PAIRS = (("chiral_shape_1", "chiral_shape_2"),)
_TETRIS = (
    ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)),
    ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)),
    ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)),
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)),
    ((0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)),
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)),
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)),
    ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)),
)


@dataclass
class PointCloudSplit:
    """``points``: ``(T, N, 3)`` float32 clouds in canonical pose; ``labels``: ``(T,)`` int64, indices into
    ``CLASSES``."""

    points: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.labels)


def tetris() -> tuple[Tensor, Tensor]:
    """The 8 pieces of 3D Tetris as in Thomas et al. 2018 (and e3nn's example): ``(8, 4, 3)`` float32 centres of
    the 4 unit cubes of each piece, on the integer lattice, and ``(8,)`` int64 labels into ``TETRIS_CLASSES``.
    ``chiral_shape_1`` and ``chiral_shape_2`` are mirror images (``y -> -y``) that no rotation relates; every other
    piece has a mirror plane, hence is its own mirror image up to a rotation."""
    return torch.tensor(_TETRIS, dtype=torch.float32), torch.arange(len(_TETRIS))


def random_rotations(count: int, generator: torch.Generator, group: Literal["so3", "z"] = "so3",
                     dtype: torch.dtype = torch.float32) -> Tensor:
    """``(count, 3, 3)`` rotation matrices, Haar-uniform on SO(3) (``group="so3"``: QR of a Gaussian matrix with
    the signs of ``R``'s diagonal moved into ``Q``, which makes ``Q`` Haar on O(3), then the last column multiplied
    by ``det Q``) or uniform rotations about the ``z`` axis (``group="z"``)."""
    if group == "so3":
        q, r = torch.linalg.qr(torch.randn(count, 3, 3, generator=generator, dtype=torch.float64))
        q = q * r.diagonal(dim1=-2, dim2=-1).sign()[:, None, :]
        q[:, :, 2] *= torch.linalg.det(q)[:, None]
        return q.to(dtype)
    if group == "z":
        angle = 2 * torch.pi * torch.rand(count, generator=generator, dtype=torch.float64)
        cos, sin = angle.cos(), angle.sin()
        rotation = torch.eye(3, dtype=torch.float64).repeat(count, 1, 1)
        rotation[:, :2, :2] = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        return rotation.to(dtype)
    raise ValueError(f"unknown group {group!r}: expected 'so3' or 'z'")


def _normalise(points: Tensor) -> Tensor:
    """``(B, N, 3)`` clouds centred on their means and divided by their largest norms."""
    centred = points - points.mean(1, keepdim=True)
    return centred / centred.norm(dim=-1).amax(1)[:, None, None]


def _corrupt(points: Tensor, jitter: float, outliers: float, generator: torch.Generator) -> Tensor:
    """``(B, N, 3)``: Gaussian jitter of standard deviation ``jitter``, then ``round(outliers N)`` points of each
    cloud replaced by points uniform in its axis-aligned bounding box, then the points of each cloud shuffled."""
    count, n, _ = points.shape
    noisy = points + jitter * torch.randn(points.shape, generator=generator, dtype=points.dtype)
    low, high = points.amin(1, keepdim=True), points.amax(1, keepdim=True)
    replaced = round(outliers * n)
    uniform = torch.rand(count, replaced, 3, generator=generator, dtype=points.dtype)
    noisy[:, :replaced] = low + (high - low) * uniform
    order = torch.rand(count, n, generator=generator, dtype=points.dtype).argsort(dim=1, stable=True)
    return noisy.gather(1, order[..., None].expand_as(noisy))


def sample_class(name: str, count: int, points: int, generator: torch.Generator, jitter: float = JITTER,
                 outliers: float = OUTLIERS) -> Tensor:
    """``(count, points, 3)`` float64 clouds of class ``name``: its surface scaled by ``axes`` times per-axis
    factors uniform in ``[1 - spread, 1 + spread]``, sampled by area, normalised (``_normalise``), corrupted
    (``_corrupt``), and reflected through ``x = 0`` for a mirrored class."""
    spec = CLASS_SPECS[name]
    factors = 1 + spec.spread * (2 * torch.rand(count, 3, generator=generator, dtype=torch.float64) - 1)
    scales = torch.tensor(spec.axes, dtype=torch.float64) * factors
    clouds = _corrupt(_normalise(spec.surface(scales, points, generator)), jitter, outliers, generator)
    if spec.mirrored:
        clouds[..., 0] = -clouds[..., 0]
    return clouds


def generate(sizes: tuple[int, int], points: int, seed: int) -> dict[str, Tensor]:
    """Both splits from one generator, in order train, test: ``size / len(CLASSES)`` clouds per class in the order
    of ``CLASSES``, then shuffled. ``{split}_points``: ``(size, points, 3)`` float32; ``{split}_labels``: int64."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for split, size in zip(SPLITS, sizes):
        if size % len(CLASSES):
            raise ValueError(f"{split} size {size} is not a multiple of the {len(CLASSES)} classes")
        per_class = size // len(CLASSES)
        clouds = torch.cat([sample_class(name, per_class, points, generator) for name in CLASSES])
        labels = torch.arange(len(CLASSES)).repeat_interleave(per_class)
        order = torch.randperm(size, generator=generator)
        out[f"{split}_points"] = clouds[order].float()
        out[f"{split}_labels"] = labels[order]
    return out


def load(sizes: tuple[int, int] = (10000, 2000), points: int = 512, seed: int = 0,
         cache: Path | str | None = DEFAULT_CACHE) -> dict[str, PointCloudSplit]:
    """The splits, from the cache when its checksum matches, else generated (and cached); ``cache=None`` disables
    the cache."""
    name = f"pointcloud_v{DATA_VERSION}_seed{seed}_{'_'.join(map(str, sizes))}_n{points}.pt"
    path = None if cache is None else Path(cache) / name
    tensors = cached(path, lambda: generate(sizes, points, seed))
    return {split: PointCloudSplit(tensors[f"{split}_points"], tensors[f"{split}_labels"]) for split in SPLITS}
