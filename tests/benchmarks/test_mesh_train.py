"""Mesh benchmark training: every model takes a training step on two small generated surfaces, the loss of the
SO(2) model falls on one surface, the gauge-equivariant models are gauge equivariant in float64 (the ambient
baseline is gauge equivariant but not rotation invariant), batching offsets the graphs, the training script runs
end to end on a tiny dataset, and the report rewrites its section from JSON records."""

from __future__ import annotations

import json
import math

import pytest
import torch

from benchmarks.mesh import data, report, surfaces, train
from benchmarks.mesh.geometry import surface_geometry
from benchmarks.mesh.models import GAUGE_GROUPS, MODELS, TINY
from implicit_kernels import MeshGeometry

# surfaces.sample(0, 0, index): 2 and 4 are 162-vertex spheres, 7 a 192-vertex torus
SMALL = (2, 7)


@pytest.fixture(scope="module")
def small_split():
    return data.MeshSplit(data.pack([surfaces.sample(0, 0, index) for index in SMALL]))


@pytest.fixture(scope="module")
def small_surfaces(small_split):
    return [(s, surface_geometry(s, cache=None)) for s in small_split]


def examples(small_surfaces, task: str, dtype=torch.float32):
    return [train.example(s, g, task, dtype) for s, g in small_surfaces]


def step(model, batch_examples):
    joined, ids = train.batch(batch_examples)
    return train.area_mse(train.predict(model, joined), joined, ids, len(batch_examples))


def test_geometry_frames_are_the_data_frames_and_batches_are_offset(small_surfaces):
    (a, ga), (b, gb) = small_surfaces
    assert torch.equal(ga.frames, a.frames[:, :2])
    assert 8 < ga.num_edges / len(a.vertices) < 20  # neighbours per vertex
    joined = MeshGeometry.concatenate([ga, gb])
    assert joined.frames.shape == (len(a.vertices) + len(b.vertices), 2, 3)
    assert torch.equal(joined.edge_index[:, ga.num_edges:], gb.edge_index + len(a.vertices))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_takes_a_training_step(name, small_surfaces):
    for task in ("vector", "scalar") if name in ("implicit-so2", "ambient-mpnn") else ("vector",):
        model = MODELS[name](task, **TINY[name])
        batch_examples = examples(small_surfaces, task)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss = step(model, batch_examples)
        assert math.isfinite(float(loss.detach()))
        loss.backward()
        optimiser.step()
        out = train.predict(model, batch_examples[0])
        assert out.shape == batch_examples[0].targets.shape and torch.isfinite(out).all()


def test_loss_decreases_for_the_so2_model(small_surfaces):
    model = MODELS["implicit-so2"]("vector", **TINY["implicit-so2"])
    one = examples(small_surfaces, "vector")[:1]
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(4):
        loss = step(model, one)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("name", ["implicit-so2", "implicit-c8", "analytic-so2"])
def test_gauge_models_are_gauge_equivariant_in_float64(name, small_surfaces):
    for task in ("vector", "scalar") if name == "implicit-so2" else ("vector",):
        model = MODELS[name](task, **TINY[name])
        for e in examples(small_surfaces, task, torch.float64)[:1]:
            assert train.gauge_error(model, e, GAUGE_GROUPS[name], task, seed=3) < 1e-10
            if task == "vector":  # intrinsic inputs: a rigid rotation changes nothing
                assert train.rotation_error(model, e) < 1e-10


def test_baseline_is_gauge_equivariant_but_not_rotation_invariant(small_surfaces):
    model = MODELS["ambient-mpnn"]("vector", **TINY["ambient-mpnn"])
    e = examples(small_surfaces, "vector", torch.float64)[1]
    assert train.gauge_error(model, e, None, "vector") < 1e-10  # lifted to R^3 and projected back
    assert train.rotation_error(model, e) > 1e-3


def test_training_script_runs_on_a_tiny_dataset(tmp_path, monkeypatch, small_split):
    splits = {"train": small_split, "val": small_split, "test": small_split}
    monkeypatch.setattr(train, "load", lambda *args, **kwargs: splits)
    out = tmp_path / "run.json"
    result = train.main(["--model", "ambient-mpnn", "--task", "vector", "--epochs", "2", "--eval-every", "1",
                         "--batch-size", "2", "--val-size", "1", "--test-size", "1", "--cache", str(tmp_path),
                         "--out", str(out), "--save-model", str(tmp_path / "w.pt")])
    record = json.loads(out.read_text())
    assert record["epochs"] == 2 and len(record["history"]) == 2
    assert record["sizes"] == {"train": 2, "val": 1, "test": 1}
    assert record["test_error"] == result["test_error"] and math.isfinite(record["test_error"])
    assert record["gauge_error"] < 1e-10 and record["rotation_error"] > 1e-3
    assert 0 < record["identity_test_error"] < 1 and (tmp_path / "w.pt").exists()


def fake_record(model: str, task: str, seed: int, error: float) -> dict:
    return {"model": model, "task": task, "seed": seed, "params": 1234, "test_error": error,
            "best_val_error": error + 0.01, "gauge_error": 1e-16, "gauge_group": "SO(2)", "rotation_error": 0.0,
            "seconds_per_epoch": 2.5, "epochs": 3, "batch_size": 4, "threads": 1, "machine": "test CPU",
            "sizes": {"train": 8, "val": 2, "test": 2}, "identity_test_error": 0.5,
            "command": f"python -m benchmarks.mesh.train --model {model} --task {task} --seed {seed}"}


def test_report_rewrites_the_section_from_records(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for seed, error in ((0, 0.125), (1, 0.25)):
        (results / f"r{seed}.json").write_text(json.dumps(fake_record("implicit-so2", "vector", seed, error)))
    (results / "s.json").write_text(json.dumps(fake_record("ambient-mpnn", "scalar", 0, 0.5)))
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text("# Mesh\n\n<!-- mesh:begin -->\nold\n<!-- mesh:end -->\n\nkept\n")
    report.main(["--results", str(results), "--markdown", str(markdown), "--no-figure"])
    text = markdown.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| implicit-so2 |"))
    assert "| 0.1250, 0.2500 |" in row and "| 1,234 |" in row
    assert "| ambient-mpnn |" in text and "Scalar task" in text and "test error 0.5000" in text
    assert all(line.count("|") - 1 <= 8 for line in text.splitlines() if line.startswith("|"))
    assert "old" not in text and text.endswith("kept\n")
