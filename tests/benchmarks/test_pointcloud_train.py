"""Point-cloud classification benchmark: farthest-point sampling, the models' invariances in float64,
and smoke runs of the training script (every model, resume, two processes under torchrun)."""

import json
import statistics

import pytest
import torch
from conftest import LOOSER_TOLERANCE

from benchmarks.pointcloud import data, report, train
from benchmarks.pointcloud.data import random_rotations
from benchmarks.pointcloud.models import MODELS, SteerableClassifier, farthest_point_sampling
from groups import get_group
from implicit_kernels.equivariance import TOLERANCE, relative_error
from tests.benchmarks.torchrun import two_process_record

TINY = ["--sizes", "32", "16", "--points", "32", "--val-fraction", "0.25", "--batch-size", "8", "--eval-every", "1"]
MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
# the group each equivariant model is invariant under
GROUPS = {"implicit-o3": "O(3)", "implicit-so3": "SO(3)", "implicit-so2z": "SO(2)z", "implicit-octa": "Octa",
          "analytic-o3": "O(3)", "analytic-so3": "SO(3)", "analytic-so2z": "SO(2)z", "analytic-octa": "Octa",
          "analytic-o3-wide": "O(3)", "clifford-o3": "O(3,0)", "clifford-o3-single": "O(3,0)"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("pointcloud_cache"))


def test_farthest_point_sampling_is_greedy_distinct_and_deterministic():
    pos = torch.randn(3, 40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    index = farthest_point_sampling(pos, 12)
    assert index.shape == (3, 12) and torch.equal(index, farthest_point_sampling(pos, 12))
    for cloud, chosen in zip(pos, index):
        assert len(set(chosen.tolist())) == 12
        assert chosen[0] == (cloud - cloud.mean(0)).norm(dim=1).argmax()
        for s in range(1, 12):
            nearest = torch.cdist(cloud, cloud[chosen[:s]]).amin(1)
            assert nearest[chosen[s]] == nearest.max()
    # on a line: start at 8 (farthest from the centroid 3.8), then 0, 3, and the tie 1 / 7 goes to the lower index
    line = torch.tensor([0.0, 1.0, 3.0, 7.0, 8.0])[None, :, None] * torch.tensor([1.0, 0.0, 0.0])
    assert farthest_point_sampling(line, 5)[0].tolist() == [4, 0, 2, 1, 3]


def _helices():
    """Three float64 clouds of 64 points from the chiral class ``helix_right``."""
    return data.sample_class("helix_right", 3, 64, torch.Generator().manual_seed(1))


def _logits(model, points, transform=None):
    if transform is not None:
        points = points @ transform.transpose(-1, -2) + torch.tensor([0.3, -0.2, 0.5], dtype=points.dtype)
    return model(points)


@pytest.mark.parametrize("name", sorted(set(GROUPS) & set(MODELS)))
def test_equivariant_models_are_invariant_in_float64(name):
    torch.manual_seed(0)
    model = MODELS[name]().double()
    points = _helices()
    reference = _logits(model, points)
    g = get_group(GROUPS[name]).sample(3, generator=torch.Generator().manual_seed(2))
    tolerance = (LOOSER_TOLERANCE["escnn_basis_3d"] if name.startswith("analytic") else TOLERANCE)[torch.float64]
    assert relative_error(_logits(model, points, g), reference) <= tolerance
    mirrored = relative_error(_logits(model, points, MIRROR), reference)
    if GROUPS[name] in ("O(3)", "O(3,0)"):
        assert mirrored <= tolerance
    if GROUPS[name] == "SO(3)":  # chiral: it can tell a helix from its mirror image
        assert mirrored > 1e-4


def test_rank2_fields_keep_the_o3_model_invariant():
    torch.manual_seed(0)
    model = SteerableClassifier("O(3)", scalars=4, vectors=2, tensors=2, copies=2, mlp_width=8).double()
    points, g = _helices(), get_group("O(3)").sample(3, generator=torch.Generator().manual_seed(2))
    assert relative_error(_logits(model, points, g), model(points)) <= TOLERANCE[torch.float64]


def test_pointnet_is_not_rotation_invariant():
    model = MODELS["pointnet"]().double()
    points = _helices()
    rotations = random_rotations(3, torch.Generator().manual_seed(2), dtype=torch.float64)
    assert relative_error(_logits(model, points, rotations), model(points)) > 1e-3


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_trains(model, cache, tmp_path):
    out = tmp_path / "result.json"
    result = train.main(["--model", model, "--epochs", "2", "--cache", cache, "--out", str(out), *TINY])
    assert json.loads(out.read_text())["epochs"] == 2 and len(result["history"]) == 2
    assert result["sizes"] == {"train": 24, "val": 8, "test": 16}
    best = min(result["history"], key=lambda h: h["val"])
    assert result["test_accuracy_at_best_val"] == best["test_accuracy"] and result["best_epoch"] == best["epoch"]
    assert len(result["per_class_accuracy"]) == 16 and len(result["chiral_confusion"]) == 3
    assert (result["rotation_error"] <= TOLERANCE[torch.float32]) == (GROUPS.get(model) in ("O(3)", "SO(3)", "O(3,0)"))
    assert (result["reflection_error"] <= TOLERANCE[torch.float32]) == (GROUPS.get(model) in ("O(3)", "O(3,0)"))


def test_resume_continues_and_reports_the_best_weights(cache, tmp_path):
    checkpoint = tmp_path / "ck.pt"
    args = ["--model", "pointnet", "--epochs", "2", "--cache", cache, "--checkpoint", str(checkpoint), *TINY]
    first = train.main(args)
    resumed = train.main([*args[:3], "4", *args[4:], "--resume"])
    assert resumed["epochs"] == 4 and resumed["history"][:2] == first["history"] and len(resumed["history"]) == 4
    assert resumed["best_val_error"] == min(h["val"] for h in resumed["history"])
    model = MODELS["pointnet"]()
    model.load_state_dict(torch.load(checkpoint)["best_model"])
    test = train.make_splits(train.parse_args(args))["test"]
    accuracy = float((train.predict(model, test.points).argmax(1) == test.labels).double().mean())
    assert accuracy == resumed["test_accuracy_at_best_val"]


def test_protocols_rotate_validation_and_test_clouds(cache):
    canonical = data.load((32, 16), 32, 0, cache)
    z, so3 = (train.make_splits(train.parse_args(["--model", "pointnet", "--protocol", protocol, "--cache", cache,
                                                  *TINY])) for protocol in ("z/so3", "so3/so3"))
    assert torch.equal(z["train"].points, canonical["train"].points[:24])  # rotated per batch in training
    assert torch.equal(z["val"].points[..., 2], canonical["train"].points[24:, :, 2])  # about z only
    assert not torch.allclose(so3["val"].points[..., 2], canonical["train"].points[24:, :, 2])
    assert torch.equal(z["test"].points, so3["test"].points)
    assert not torch.allclose(z["test"].points, canonical["test"].points)
    assert torch.allclose(z["test"].points.norm(dim=-1), canonical["test"].points.norm(dim=-1), atol=1e-6)


def test_two_processes_under_torchrun(cache, tmp_path):
    result = two_process_record("benchmarks.pointcloud.train", [
        "--model", "implicit-so3", "--epochs", "2", "--cache", cache, *TINY], tmp_path)
    assert result["epochs"] == 2


def test_report_table_from_real_runs(cache, tmp_path):
    results = tmp_path / "results"
    for seed in (0, 1):
        train.main(["--model", "pointnet", "--epochs", "1", "--seed", str(seed), "--cache", cache,
                    "--out", str(results / f"pointnet_s{seed}.json"), *TINY])
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text("## Point clouds\n\n<!-- pointcloud:begin -->\nold\n<!-- pointcloud:end -->\n\nkept\n")
    report.main(["--results", str(results), "--markdown", str(markdown)])
    text = markdown.read_text()
    accuracies = [json.loads((results / f"pointnet_s{seed}.json").read_text())["test_accuracy_at_best_val"]
                  for seed in (0, 1)]
    assert "Protocol `z/so3`:" in text and "seeds 0, 1 for every row" in text
    row = next(line for line in text.splitlines() if line.startswith("| pointnet |"))
    assert f"| {statistics.mean(accuracies):.3f} ± {statistics.stdev(accuracies):.3f} |" in row
    assert all(line.count("|") - 1 <= 8 for line in text.splitlines() if line.startswith("|"))
    assert "old" not in text and text.endswith("kept\n")
