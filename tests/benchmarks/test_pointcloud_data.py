"""Point-cloud benchmark data: area-uniform surface sampling, the chiral pair against the achiral classes, 3D
Tetris, random rotations, and the cached, deterministic dataset."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch

from benchmarks.pointcloud import data, shapes


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _scales(*factors: float) -> torch.Tensor:
    return torch.tensor([factors], dtype=torch.float64)


def _assert_fraction(hits: torch.Tensor, expected: float) -> None:
    """The fraction of ``hits`` (booleans) agrees with ``expected`` within 5 binomial standard deviations."""
    sigma = math.sqrt(expected * (1 - expected) / hits.numel())
    assert abs(hits.double().mean().item() - expected) < 5 * sigma


def _mirror(points: torch.Tensor) -> torch.Tensor:
    return points * torch.tensor([-1.0, 1.0, 1.0], dtype=points.dtype)


def test_splits_are_balanced_deterministic_finite_and_bounded():
    a = data.generate((32, 16), points=64, seed=3)
    b = data.generate((32, 16), points=64, seed=3)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not torch.equal(data.generate((32, 16), points=64, seed=4)["train_points"], a["train_points"])
    for split, size in zip(data.SPLITS, (32, 16)):
        points, labels = a[f"{split}_points"], a[f"{split}_labels"]
        assert points.shape == (size, 64, 3) and points.dtype == torch.float32 and labels.dtype == torch.int64
        assert torch.equal(labels.bincount(minlength=len(data.CLASSES)), torch.full((len(data.CLASSES),), size // 16))
        assert points.isfinite().all() and points.norm(dim=-1).max() <= math.sqrt(3)
    with pytest.raises(ValueError):
        data.generate((17, 16), points=64, seed=3)


def test_clean_clouds_are_centred_with_unit_bounding_radius():
    for name in data.CLASSES:
        clouds = data.sample_class(name, 2, 128, _generator(0), jitter=0.0, outliers=0.0)
        assert clouds.mean(1).abs().max() < 1e-12
        assert torch.allclose(clouds.norm(dim=-1).amax(1), torch.ones(2, dtype=clouds.dtype))


def test_box_faces_receive_points_in_proportion_to_their_areas():
    half = torch.tensor([2.0, 0.5, 0.2], dtype=torch.float64)
    points = shapes.cube(half[None], 20000, _generator(1))[0]
    face_axis = (points.abs() / half).argmax(-1)
    areas = torch.stack([half[1] * half[2], half[0] * half[2], half[0] * half[1]])
    for axis in range(3):
        _assert_fraction(face_axis == axis, (areas[axis] / areas.sum()).item())


def test_ellipsoid_band_matches_its_area_fraction():
    """A triaxial ellipsoid: the band ``|z| < c / 2`` against the area element ``abc |S⁻¹ r| dΩ`` (``r`` on the unit
    sphere) integrated by Monte Carlo over uniform directions. Stretched uniform sphere points would give 1/2."""
    axes = torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64)
    points = shapes.sphere(axes[None], 20000, _generator(2))[0]
    gaussian = torch.randn(400000, 3, generator=_generator(3), dtype=torch.float64)
    directions = torch.nn.functional.normalize(gaussian, dim=-1)
    weight = (directions / axes).norm(dim=-1)
    expected = (weight * (directions[:, 2].abs() < 0.5)).sum() / weight.sum()
    assert expected < 0.4
    _assert_fraction(points[:, 2].abs() < 0.5 * axes[2], expected.item())


def test_cylinder_ends_and_torus_outer_half_match_their_area_fractions():
    cylinder = shapes.cylinder(_scales(1.0, 1.0, 1.0), 20000, _generator(4))[0]
    radius, half_length = 0.6, 1.0
    on_ends = cylinder[:, :2].norm(dim=-1) < radius - 1e-9
    _assert_fraction(on_ends, radius / (radius + 2 * half_length))
    torus = shapes.torus(_scales(1.0, 1.0, 1.0), 20000, _generator(5))[0]
    major, minor = 1.0, 0.35
    _assert_fraction(torus[:, :2].norm(dim=-1) > major, 0.5 + minor / (math.pi * major))


@pytest.mark.parametrize("shape, residual", [
    (shapes.sphere, lambda x: x.norm(dim=-1) - 1),
    (shapes.superquadric, lambda x: x.pow(4).sum(-1) - 1),
    (shapes.torus, lambda x: (x[..., :2].norm(dim=-1) - 1).hypot(x[..., 2]) - 0.35),
    (shapes.capsule, lambda x: x[..., :2].norm(dim=-1).hypot((x[..., 2].abs() - 0.6).clamp(min=0)) - 0.5),
])
def test_samples_lie_on_their_scaled_surfaces(shape, residual):
    scales = 0.8 + 0.4 * torch.rand(3, 3, generator=_generator(6), dtype=torch.float64)
    points = shape(scales, 500, _generator(7))
    assert residual(points / scales[:, None]).abs().max() < 1e-9


def test_convex_hull_triangulates_square_pentagonal_and_random_polytopes():
    def area(vertices, triangles):
        corners = vertices[triangles]
        return torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]).norm(dim=-1).sum() / 2

    cube = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=3)), dtype=torch.float64)
    assert math.isclose(area(cube, shapes.convex_hull_triangles(cube)), 24.0, rel_tol=1e-12)
    phi = shapes.PHI
    dodecahedron = torch.cat([cube, *[torch.tensor([[0.0, s / phi, t * phi] for s in (1, -1) for t in (1, -1)],
                                                   dtype=torch.float64).roll(k, 1) for k in range(3)]])
    edge = 2 / phi
    expected = 3 * math.sqrt(25 + 10 * math.sqrt(5)) * edge**2
    assert math.isclose(area(dodecahedron, shapes.convex_hull_triangles(dodecahedron)), expected, rel_tol=1e-12)
    on_sphere = torch.nn.functional.normalize(torch.randn(30, 3, generator=_generator(8), dtype=torch.float64), dim=-1)
    triangles = shapes.convex_hull_triangles(on_sphere)
    assert len(triangles) == 2 * len(on_sphere) - 4  # Euler's formula for a simplicial polytope
    assert area(on_sphere, triangles) < 4 * math.pi


def _helicity(points: torch.Tensor, radius: float = 0.15) -> torch.Tensor:
    """``(B,)`` an SO(3)-invariant pseudoscalar of ``(B, N, 3)`` clouds: the mean over pairs closer than ``radius``
    of ``(x_i × x_j)ᵀ C (x_j - x_i)``, ``x`` centred and ``C`` the covariance (the helix's long axis). A reflection
    flips its sign."""
    x = points - points.mean(1, keepdim=True)
    covariance = x.transpose(1, 2) @ x / x.shape[1]
    near = (torch.cdist(x, x) < radius).to(x.dtype)
    pairs = x[:, :, None].expand(-1, -1, x.shape[1], -1), x[:, None].expand(-1, x.shape[1], -1, -1)
    cross = torch.linalg.cross(*pairs)
    return torch.einsum("bijk,bkl,bijl,bij->b", cross, covariance, pairs[1] - pairs[0], near) / near.sum((1, 2))


def test_chiral_pair_is_mirrored_and_separated_by_an_so3_invariant():
    (right, left), = data.CHIRAL_PAIRS
    spec_right, spec_left = data.CLASS_SPECS[right], data.CLASS_SPECS[left]
    assert spec_left == dataclasses.replace(spec_right, mirrored=True) and not spec_right.mirrored
    right_clouds = data.sample_class(right, 4, 512, _generator(9))
    assert torch.equal(data.sample_class(left, 4, 512, _generator(9)), _mirror(right_clouds))
    left_clouds = data.sample_class(left, 4, 512, _generator(10))
    assert (_helicity(right_clouds) > 0).all() and (_helicity(left_clouds) < 0).all()
    rotated = right_clouds @ data.random_rotations(4, _generator(11), dtype=torch.float64).transpose(1, 2)
    assert torch.allclose(_helicity(rotated), _helicity(right_clouds), rtol=1e-9, atol=0)
    assert torch.allclose(_helicity(_mirror(right_clouds)), -_helicity(right_clouds), rtol=1e-9, atol=0)


def _chamfer(a: torch.Tensor, b: torch.Tensor) -> float:
    distances = torch.cdist(a, b)
    return (distances.amin(1).mean() + distances.amin(0).mean()).item()


def test_every_other_class_is_its_own_mirror_image():
    """Two independent halves of one clean sample: the distance from one half to the mirror image of the other is
    the sampling distance between the halves for a mirror-symmetric class, and far larger for the helices."""
    chiral = {name for pair in data.CHIRAL_PAIRS for name in pair}
    for name in data.CLASSES:
        cloud = data.sample_class(name, 1, 2000, _generator(12), jitter=0.0, outliers=0.0)[0]
        first, second = cloud[:1000], cloud[1000:]
        ratio = _chamfer(first, _mirror(second)) / _chamfer(first, second)
        assert ratio > 2 if name in chiral else ratio < 1.2, (name, ratio)


def _canonical(cells: torch.Tensor) -> list[tuple[int, ...]]:
    """A translation-invariant key of a set of lattice cells ``(n, 3)``: the sorted cells shifted to the origin."""
    shifted = (cells - cells.amin(0)).round().long()
    return sorted(map(tuple, shifted.tolist()))


def _cube_rotations() -> list[torch.Tensor]:
    """The 24 proper rotations of the cube: signed permutation matrices of determinant 1."""
    matrices = [torch.eye(3)[list(order)] * torch.tensor(signs)
                for order in itertools.permutations(range(3)) for signs in itertools.product([1.0, -1.0], repeat=3)]
    return [m for m in matrices if torch.linalg.det(m) > 0]


def _congruent(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether some proper rotation of the cube and a translation carry the cells ``a`` onto the cells ``b``."""
    return any(_canonical(a @ rotation.T) == _canonical(b) for rotation in _cube_rotations())


def test_tetris_pieces_are_distinct_connected_and_only_the_named_pair_is_chiral():
    positions, labels = data.tetris()
    assert positions.shape == (8, 4, 3) and torch.equal(labels, torch.arange(8))
    assert len(_cube_rotations()) == 24
    assert torch.equal(positions, positions.round())
    for cells in positions:
        adjacent = (torch.cdist(cells, cells) - 1).abs() < 1e-6
        reached = torch.tensor([True, False, False, False])
        for _ in range(3):
            reached = reached | (adjacent[reached].any(0))
        assert reached.all() and len(set(map(tuple, cells.tolist()))) == 4
    for i, j in itertools.combinations(range(8), 2):
        assert not _congruent(positions[i], positions[j])
    chiral = {data.TETRIS_CLASSES.index(name) for pair in data.TETRIS_CHIRAL_PAIRS for name in pair}
    for i, cells in enumerate(positions):
        assert _congruent(_mirror(cells), cells) == (i not in chiral)
    (first, second), = data.TETRIS_CHIRAL_PAIRS
    one, two = (positions[data.TETRIS_CLASSES.index(name)] for name in (first, second))
    assert _congruent(_mirror(one), two)


def test_random_rotations_are_haar_on_so3_and_about_z():
    rotations = data.random_rotations(4000, _generator(13), dtype=torch.float64)
    identity = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(rotations @ rotations.transpose(1, 2), identity.expand_as(rotations), atol=1e-12)
    assert torch.allclose(torch.linalg.det(rotations), torch.ones(4000, dtype=torch.float64))
    trace = rotations.diagonal(dim1=1, dim2=2).sum(-1)  # Haar: E[tr] = 0, E[tr²] = 1 (the vector rep is irreducible)
    assert abs(trace.mean()) < 0.08 and abs(trace.pow(2).mean() - 1) < 0.12
    assert rotations.mean(0).abs().max() < 0.06
    about_z = data.random_rotations(4000, _generator(14), group="z", dtype=torch.float64)
    assert torch.allclose(about_z @ identity[2], identity[2].expand(4000, 3))
    assert torch.allclose(torch.linalg.det(about_z), torch.ones(4000, dtype=torch.float64))
    assert about_z[:, 0, 0].mean().abs() < 0.06 and about_z[:, 1, 0].mean().abs() < 0.06
    with pytest.raises(ValueError):
        data.random_rotations(1, _generator(15), group="o3")


def test_dataset_is_cached_and_checked(tmp_path, monkeypatch):
    sizes = (16, 16)
    first = data.load(sizes, points=32, seed=7, cache=tmp_path)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1
    with monkeypatch.context() as patched:  # a valid cache is read, not regenerated
        patched.setattr(data, "generate", lambda *args: pytest.fail("regenerated a valid cache"))
        cached = data.load(sizes, points=32, seed=7, cache=tmp_path)
    assert torch.equal(cached["train"].points, first["train"].points)
    stored = torch.load(files[0])
    stored["tensors"]["train_points"].zero_()  # a cache that fails its checksum is regenerated and rewritten
    torch.save(stored, files[0])
    again = data.load(sizes, points=32, seed=7, cache=tmp_path)
    assert torch.equal(again["train"].points, first["train"].points)
    assert torch.equal(torch.load(files[0])["tensors"]["train_points"], first["train"].points)
    uncached = data.load(sizes, points=32, seed=7, cache=None)
    assert torch.equal(uncached["test"].points, first["test"].points) and len(uncached["train"]) == 16
