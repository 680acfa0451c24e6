"""Our vectorised simulator against the arithmetic of EGNN's generator, re-run one system at a time."""

import numpy as np
import pytest
import torch

from benchmarks.nbody import reference, simulate, train


def test_simulator_follows_the_generators_arithmetic_without_close_encounters():
    charges, x, v = simulate.initial_state(3, 5, torch.Generator().manual_seed(4))
    x = x * 3  # well separated: rounding differences stay at rounding level
    frames = tuple(range(49))
    positions, velocities = simulate.integrate(x, v, charges)
    for k in range(len(charges)):
        expected = reference.reference_positions(charges[k].numpy(), x[k].numpy(), v[k].numpy(), frames)
        assert np.allclose(positions[k, list(frames)].numpy(), expected[0], rtol=0, atol=1e-9)
        assert np.allclose(velocities[k, list(frames)].numpy(), expected[1], rtol=0, atol=1e-9)


def test_simulator_clips_forces_as_the_generator_does():
    charges = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0]], dtype=torch.float64)
    x = 3 * torch.randn(1, 5, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x[0, 1] = x[0, 0] + torch.tensor([0.04, 0.02, -0.01], dtype=torch.float64)  # a close pair, pulled together
    v = torch.zeros_like(x)
    assert simulate.coulomb_forces(x, charges, clip=None).abs().max() > 2 * simulate.FORCE_CLIP
    positions, _ = simulate.integrate(x, v, charges, steps=101)
    expected, _ = reference.reference_positions(charges[0].numpy(), x[0].numpy(), v[0].numpy(), frames=(0,))
    assert np.allclose(positions[0, 0].numpy(), expected[0], rtol=0, atol=1e-9)
    unclipped, _ = simulate.integrate(x, v, charges, steps=101, clip=None)
    assert not np.allclose(unclipped[0, 0].numpy(), expected[0], rtol=0, atol=1e-3)


def test_reference_record_measures_networks_on_both_versions(tmp_path):
    common = ["--sizes", "8", "4", "3", "--stream", "egnn", "--cache", str(tmp_path)]
    train.main(["--model", "egnn", "--epochs", "1", "--eval-every", "1", "--batch-size", "4", *common,
                "--checkpoint", str(tmp_path / "egnn.ckpt")])
    result = reference.main(["--model", "egnn", "--checkpoints", str(tmp_path / "egnn.ckpt"), *common])
    for frame in ("input", "target"):
        shares = [result["moved_share"][frame][f"{tolerance:g}"] for tolerance in reference.TOLERANCES]
        assert all(0 <= share <= 1 for share in shares) and shares == sorted(shares, reverse=True)
    record = result["networks"][str(tmp_path / "egnn.ckpt")]
    assert record["mse"] == pytest.approx(record["mse_reference"], rel=0.5) and record["mse"] > 0
    with pytest.raises(ValueError, match="needs --model"):
        reference.main(["--checkpoints", str(tmp_path / "egnn.ckpt"), *common])
