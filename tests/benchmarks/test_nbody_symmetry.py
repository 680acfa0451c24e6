"""The N-body data's broken rotational symmetry and the floor it sets (benchmarks.nbody.symmetry)."""

import math

import pytest
import torch

from benchmarks.nbody import data, simulate, symmetry, train

STEPS = 300


def rotated_about_z(x: torch.Tensor, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    g = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return x @ g.T


def final_positions(x, v, charges, clip):
    positions, _ = simulate.integrate(x, v, charges, steps=STEPS + 1, save_every=STEPS, clip=clip)
    return positions[:, 0]


def test_restarting_at_the_input_frame_reproduces_the_labels(tmp_path):
    test = data.load((4, 4, 6), seed=5, cache=tmp_path, dtype=torch.float64)["test"]
    resimulated = symmetry.simulate_to_target(test.positions, test.velocities, test.charges)
    assert torch.allclose(resimulated, test.target, rtol=0, atol=1e-12)


@pytest.mark.parametrize("clip", [None, simulate.FORCE_CLIP])
def test_only_the_clipped_force_breaks_rotations(clip):
    """A close pair of opposite charges along the x axis, and the same pair rotated by 45 degrees
    about z: the unclipped simulator commutes with the rotation, the clipped one does not (400 along
    x clips to 100, 283 along x and y each clip to 100: a force of 141)."""
    x = torch.tensor([[[0.0, 0.0, 0.0], [0.05, 0.0, 0.0], [3.0, 3.0, 3.0]]], dtype=torch.float64)
    v = torch.tensor([[[0.0, 0.1, 0.0], [0.0, -0.1, 0.0], [0.2, 0.0, 0.0]]], dtype=torch.float64)
    charges = torch.tensor([[1.0, -1.0, 1.0]], dtype=torch.float64)
    angle = math.pi / 4
    direct = rotated_about_z(final_positions(x, v, charges, clip), angle)
    rotated = final_positions(rotated_about_z(x, angle), rotated_about_z(v, angle), charges, clip)
    gap = float((direct - rotated).abs().max())
    if clip is None:
        assert gap < 1e-9
    else:
        assert gap > 1e-2


def test_orientation_average_is_exact_where_the_labels_are_equivariant(tmp_path):
    """Without charges the bodies move in straight lines, which every frame agrees on: the
    orientation average then equals the labels, whatever the random frames (this checks that each
    frame is undone with g^-1 = g^T)."""
    test = data.load((4, 4, 6), seed=5, cache=tmp_path, dtype=torch.float64)["test"]
    free = data.NBodySplit(test.positions, test.velocities, test.positions + test.velocities * symmetry.STEPS_TO_TARGET
                           * simulate.DT, torch.zeros_like(test.charges))
    oracle = symmetry.orientation_average(free, orientations=3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(oracle, free.target, rtol=0, atol=1e-10)
    assert symmetry.floor(free, oracle) == pytest.approx({"mse": 0.0, "standard_error": 0.0, "affected_share": 0.0},
                                                         abs=1e-18)


def test_random_orthogonal_draws_both_components_of_o3():
    g = data.random_orthogonal(400, torch.Generator().manual_seed(0), torch.float64)
    assert torch.allclose(g @ g.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(400, 3, 3), atol=1e-12)
    improper = float((torch.linalg.det(g) < 0).double().mean())
    assert 0.4 < improper < 0.6


def test_floor_and_networks_from_the_command_line(tmp_path):
    common = ["--sizes", "12", "8", "8", "--cache", str(tmp_path)]
    checkpoints = [str(tmp_path / f"s{seed}.ckpt") for seed in (0, 1)]
    records = [train.main(["--model", "egnn", "--epochs", "2", "--eval-every", "1", "--batch-size", "6",
                           "--seed", str(seed), "--checkpoint", checkpoint, *common])
               for seed, checkpoint in enumerate(checkpoints)]
    result = symmetry.main(["--orientations", "2", "--model", "egnn", "--checkpoints", *checkpoints, *common])
    for split in ("val", "test"):
        assert result[split]["mse"] >= 0 and 0 <= result[split]["affected_share"] <= 1
    networks = result["networks"]
    assert set(networks) == {*checkpoints, "ensemble"}
    for checkpoint, record in zip(checkpoints, records):
        assert networks[checkpoint]["mse"] == pytest.approx(record["test_mse_at_best_val"], rel=1e-5)
    with pytest.raises(ValueError, match="needs --model"):
        symmetry.main(["--orientations", "1", "--checkpoints", checkpoints[0], *common])
