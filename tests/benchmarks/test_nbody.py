"""N-body benchmark: the simulator's physics, the cached dataset, and smoke runs of the training
script (every model, resume, and two processes under torchrun)."""

import json
import statistics

import numpy as np
import pytest
import torch

from benchmarks.nbody import data, ensemble, models, reference, report, simulate, symmetry, train
from benchmarks.nbody.models import MODELS
from implicit_kernels.equivariance import TOLERANCE
from tests.benchmarks.torchrun import two_process_record


def test_momentum_is_conserved_without_clipping():
    generator = torch.Generator().manual_seed(0)
    charges, x, v = simulate.initial_state(8, 5, generator)
    positions, velocities = simulate.integrate(x, v, charges, steps=1001, clip=None)
    momentum = velocities.sum(dim=2)  # unit masses
    assert torch.allclose(momentum, v.sum(dim=1)[:, None].expand_as(momentum), atol=1e-10)


def test_integrator_retraces_its_path_when_time_is_reversed():
    generator = torch.Generator().manual_seed(1)
    charges, x, v = simulate.initial_state(4, 5, generator)
    x = x * 3  # well separated: smooth forces
    positions, velocities = simulate.integrate(x, v, charges, steps=401, save_every=400)
    back, _ = simulate.integrate(positions[:, -1], -velocities[:, -1], charges, steps=401, save_every=400)
    assert (back[:, -1] - x).abs().max() < 1e-2 * (positions[:, -1] - x).abs().max()


def test_time_reversed_samples_reach_their_targets_under_the_recipe(tmp_path):
    """Each reversed sample, integrated forward by the recipe over the frames between input and
    target, lands on its target: the input frame's positions of the trajectory it reverses."""
    sizes = (6, 3, 3)
    reversed_ = data.time_reversed_training(sizes, seed=5, cache=tmp_path, dtype=torch.float64)
    train_split = data.load(sizes, seed=5, cache=None, dtype=torch.float64)["train"]
    assert torch.equal(reversed_.positions, train_split.target) and torch.equal(reversed_.target, train_split.positions)
    steps = (data.TARGET_FRAME - data.INPUT_FRAME) * simulate.SAVE_EVERY
    reached, _ = simulate.integrate(reversed_.positions, reversed_.velocities, reversed_.charges, steps=steps + 1,
                                    save_every=steps)
    travelled = (reversed_.target - reversed_.positions).abs().max()
    assert (reached[:, 0] - reversed_.target).abs().max() < 1e-9 * travelled
    cached_ = data.time_reversed_training(sizes, seed=5, cache=tmp_path, dtype=torch.float64)
    assert len(list(tmp_path.glob("*_reversed.pt"))) == 1 and torch.equal(cached_.velocities, reversed_.velocities)
    both = train_split + reversed_
    assert len(both) == 12 and torch.equal(both.subset(torch.arange(6, 12)).target, reversed_.target)


def test_charges_velocities_and_frames():
    sim = simulate.simulate(*simulate.initial_state(400, 5, torch.Generator().manual_seed(2)))
    assert sim["positions"].shape == (400, 49, 5, 3)
    assert set(sim["charges"].unique().tolist()) == {-1.0, 1.0}
    assert abs(float((sim["charges"] > 0).double().mean()) - 0.5) < 0.05
    first = simulate.initial_state(3, 5, torch.Generator().manual_seed(3))[2]
    assert torch.allclose(first.norm(dim=-1), torch.full((3, 5), 0.5, dtype=torch.float64))


def test_egnn_stream_draws_in_the_order_of_egnns_generator():
    """Each trajectory draws its charges (5 uniforms: below 1/2 is -1), positions and velocity
    directions (3 x 5 Gaussians each, bodies along the columns) and two 49 x 3 x 5 noise arrays,
    from numpy's legacy RandomState; the splits follow each other in one stream."""
    counts, seed = (3, 0, 2), 11
    states = simulate.egnn_initial_states(counts, seed)
    rng = np.random.RandomState(seed)
    expected = []
    for _ in range(sum(counts)):
        charges = np.where(rng.random_sample(5) < 0.5, -1.0, 1.0)
        x, v = rng.standard_normal((2, 3, 5)).transpose(0, 2, 1)
        rng.standard_normal(2 * 49 * 3 * 5)
        expected.append((charges, x, v / np.linalg.norm(v, axis=-1, keepdims=True) / 2))
    drawn = [tuple(t[k].numpy() for t in state) for state in states for k in range(len(state[0]))]
    assert len(drawn) == len(expected)
    for (charges, x, v), (want_charges, want_x, want_v) in zip(drawn, expected):
        assert np.array_equal(charges, want_charges) and np.array_equal(x, want_x)
        assert np.allclose(v, want_v, rtol=1e-15, atol=0)


def test_egnn_stream_splits_do_not_depend_on_the_sizes_asked_for(tmp_path):
    small = data.load((4, 3, 3), seed=5, cache=tmp_path, stream="egnn")
    large = data.load((8, 3, 3), seed=5, cache=None, stream="egnn")
    assert torch.equal(large["train"].positions[:4], small["train"].positions)
    for split in ("val", "test"):
        assert torch.equal(large[split].target, small[split].target)
    assert not torch.equal(data.load((4, 3, 3), seed=5, cache=None)["test"].positions, small["test"].positions)
    assert len(list(tmp_path.glob("nbody_egnn_seed5_*.pt"))) == 1
    with pytest.raises(ValueError, match="EGNN's splits hold"):
        data.load((10_001, 3, 3), seed=5, cache=None, stream="egnn")
    with pytest.raises(ValueError, match="unknown stream"):
        data.load((4, 3, 3), seed=5, cache=None, stream="numpy")


def test_dataset_is_deterministic_cached_and_checked(tmp_path):
    sizes = (6, 4, 4)
    a = data.load(sizes, seed=7, cache=tmp_path)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1
    b = data.load(sizes, seed=7, cache=tmp_path)
    assert torch.equal(a["test"].target, b["test"].target)
    stored = torch.load(files[0])
    stored["tensors"]["test_target"] += 1.0  # a corrupted cache is regenerated
    torch.save(stored, files[0])
    assert torch.equal(data.load(sizes, seed=7, cache=tmp_path)["test"].target, a["test"].target)
    assert not torch.equal(data.load(sizes, seed=8, cache=None)["train"].positions, a["train"].positions)
    graph = data.batch_graph(a["train"])
    assert graph["edge_index"].shape == (2, 6 * 20) and graph["batch"].max() == 5
    src, dst = graph["edge_index"]
    assert torch.equal(graph["edge_charge"], graph["charges"][src] * graph["charges"][dst])


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_trains_and_equivariant_ones_are(model, tmp_path):
    out = tmp_path / "result.json"
    args = ["--model", model, "--epochs", "2", "--eval-every", "1", "--sizes", "8", "4", "4",
            "--batch-size", "4", "--cache", str(tmp_path), "--out", str(out), "--checkpoint", str(tmp_path / "ck.pt")]
    result = train.main(args)
    assert json.loads(out.read_text())["epochs"] == 2 and len(result["history"]) == 2
    assert result["test_mse_at_best_val"] == min(result["history"], key=lambda h: h["val"])["test"]
    exact = TOLERANCE[torch.float32]
    assert (result["rotation_error"] <= exact) == (model != "mpnn")
    assert (result["reflection_error"] <= exact) == (model != "mpnn" and not model.startswith("implicit-so3"))
    resumed = train.main(args[:3] + ["3"] + args[4:] + ["--resume"])
    assert resumed["epochs"] == 3 and len(resumed["history"]) == 3


@pytest.mark.parametrize("model", ["implicit-o3", "implicit-o3-moving", "both-o3-small-moving"])
@pytest.mark.parametrize("improper", [False, True])
def test_steerable_models_are_exactly_equivariant_in_float64(model, improper, tmp_path):
    """E(3): random rotations (or rotoreflections) and translations of positions and velocities
    move the predicted positions the same way, to float64 round-off; with ``moving`` this covers
    the positions the layers move and the kernels see."""
    double = data.load((4, 4, 8), seed=5, cache=tmp_path, dtype=torch.float64)["test"]
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        net = MODELS[model]()
        assert train.equivariance_error(net, double, improper=improper, seed=3) <= TOLERANCE[torch.float64]
    finally:
        torch.set_default_dtype(default)


def test_huber_loss_is_the_squared_error_below_its_threshold(tmp_path):
    args = ["--model", "egnn", "--epochs", "2", "--eval-every", "1", "--sizes", "8", "4", "4", "--batch-size", "4",
            "--cache", str(tmp_path)]
    squared = train.main(args)
    # every coordinate error is far below 1e3: the same training, step for step
    wide = train.main(args + ["--huber", "1e3"])
    for a, b in zip(squared["history"], wide["history"]):
        assert a["train"] == pytest.approx(b["train"], rel=1e-6) and a["test"] == pytest.approx(b["test"], rel=1e-6)
    # errors beyond 1e-3 count linearly: a smaller training loss from the same first step on
    narrow = train.main(args + ["--huber", "1e-3"])
    assert narrow["history"][0]["train"] < 0.5 * squared["history"][0]["train"]
    assert narrow["huber"] == 1e-3 and squared["huber"] is None
    with pytest.raises(SystemExit):
        train.parse_args(["--model", "egnn", "--huber", "0"])


def test_system_errors_do_not_mix_systems_across_batches(tmp_path):
    split = data.load((4, 4, 8), seed=5, cache=tmp_path)["test"]
    torch.manual_seed(0)
    net = MODELS["egnn"]()
    batched = train.system_errors(net, split, batch_size=3)
    one_by_one = torch.cat([train.system_errors(net, split.subset(torch.tensor([i])), batch_size=1) for i in range(8)])
    with torch.no_grad():
        graph = data.batch_graph(split.subset(torch.tensor([5])))
        by_hand = (net(graph) - graph["target"]).pow(2).mean()
    assert torch.allclose(batched, one_by_one) and torch.isclose(batched[5], by_hand)
    profile = train.error_profile(net, split)
    assert profile["worst_1pct_share"] == pytest.approx(float(batched.max() / batched.sum()))
    assert profile["median_system_mse"] == pytest.approx(float(batched.median()))
    assert profile["standard_error"] == pytest.approx(float(batched.std() / 8**0.5))


def test_ensemble_averages_the_best_weights_of_its_members(tmp_path):
    common = ["--model", "egnn", "--epochs", "3", "--eval-every", "1", "--sizes", "16", "8", "8", "--batch-size", "8",
              "--cache", str(tmp_path)]
    records, checkpoints = [], [str(tmp_path / f"s{seed}.ckpt") for seed in (0, 1)]
    for seed, checkpoint in enumerate(checkpoints):
        records.append(train.main([*common, "--seed", str(seed), "--checkpoint", checkpoint]))
    result = ensemble.main(["--model", "egnn", "--checkpoints", *checkpoints, "--sizes", "16", "8", "8",
                            "--cache", str(tmp_path), "--out", str(tmp_path / "ensemble.json")])
    assert result["members_test_mse"] == pytest.approx([r["test_mse_at_best_val"] for r in records], rel=1e-6)
    test = data.load((16, 8, 8), cache=tmp_path)["test"]
    graph = data.batch_graph(test)
    with torch.no_grad():
        mean = sum(ensemble.load_member("egnn", path)(graph) for path in checkpoints) / 2
    assert result["test_mse"] == pytest.approx(float((mean - graph["target"]).pow(2).mean()), rel=1e-6)
    assert result["params"] == 2 * records[0]["params"] and result["rotation_error"] < 1e-5


def test_two_processes_under_torchrun(tmp_path):
    result = two_process_record("benchmarks.nbody.train", [
        "--model", "egnn", "--epochs", "2", "--eval-every", "1", "--sizes", "20", "10", "10", "--batch-size", "10",
        "--cache", str(tmp_path)], tmp_path)
    assert result["epochs"] == 2


def row_index(text: str, prefix: str) -> int:
    return text.index("\n" + prefix)


def assert_readable(text: str) -> None:
    """No table wider than 8 columns, no line of prose over 110 characters."""
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.count("|") - 1 <= 8, line
        elif not line.startswith("    "):
            assert len(line) <= 110, line


def test_report_tables_and_curves_from_real_runs(tmp_path):
    results = tmp_path / "results"
    for model, seed in (("egnn", 0), ("egnn", 1), ("mpnn", 0)):
        train.main(["--model", model, "--epochs", "2", "--eval-every", "1", "--sizes", "8", "4", "4",
                    "--batch-size", "4", "--seed", str(seed), "--cache", str(tmp_path),
                    "--checkpoint", str(tmp_path / f"{model}_s{seed}.ckpt"),
                    "--out", str(results / "side" / f"{model}_s{seed}.json")])
    full = train.main(["--model", "mpnn", "--epochs", "2", "--eval-every", "1", "--sizes", "8", "4", "4",
                       "--batch-size", "4", "--huber", "0.1", "--cache", str(tmp_path),
                       "--out", str(results / "full" / "mpnn_huber.json")])
    on_egnn_data = train.main(["--model", "mpnn", "--epochs", "2", "--eval-every", "1", "--sizes", "8", "4", "4",
                               "--batch-size", "4", "--stream", "egnn", "--schedule", "constant",
                               "--cache", str(tmp_path), "--out", str(results / "full" / "mpnn_egnn.json")])
    members = [str(tmp_path / f"egnn_s{seed}.ckpt") for seed in (0, 1)]
    mean = ensemble.main(["--model", "egnn", "--checkpoints", *members, "--sizes", "8", "4", "4",
                          "--cache", str(tmp_path), "--out", str(results / "ensemble" / "egnn.json")])
    floor = symmetry.main(["--orientations", "1", "--model", "egnn", "--checkpoints", members[0],
                           "--sizes", "8", "4", "4", "--cache", str(tmp_path), "--out", str(results / "symmetry.json")])
    other = symmetry.main(["--orientations", "1", "--model", "egnn", "--checkpoints", members[1],
                           "--sizes", "1", "4", "6", "--data-seed", "7", "--cache", str(tmp_path),
                           "--out", str(results / "symmetry_other.json")])
    rerun = reference.main(["--model", "egnn", "--checkpoints", members[0], "--sizes", "8", "4", "4", "--stream",
                            "egnn", "--cache", str(tmp_path), "--out", str(results / "reference_egnn.json")])
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text("# Results\n\n## N-body\n\n<!-- nbody:begin -->\nold\n<!-- nbody:end -->\n\nkept\n")
    report.main(["--results", str(results), "--markdown", str(markdown)])
    text = markdown.read_text()
    egnn = [json.loads((results / "side" / f"egnn_s{seed}.json").read_text())["test_mse_at_best_val"]
            for seed in (0, 1)]
    row = next(line for line in text.splitlines() if line.startswith("| egnn |"))
    assert f"| {egnn[0]:.2e}, {egnn[1]:.2e} |" in row and "| 0,1 |" in row and "| 0.0005 |" in row
    assert "| mpnn | 0.0005 | 0 |" in text and "old" not in text and text.endswith("kept\n")
    row = next(line for line in text.splitlines() if line.startswith("| mpnn | Huber 0.1, wd 1e-12, 2 ep | 0 |"))
    assert f"| {full['test_mse_at_best_val']:.2e} |" in row
    assert text.index("Data `43`:") < row_index(text, "| mpnn | Huber 0.1") < text.index("Data `EGNN 43`:")
    row = next(line for line in text.splitlines() if line.startswith("| mpnn | MSE, wd 1e-12, 2 ep, constant lr | 0 |"))
    assert f"| {on_egnn_data['test_mse_at_best_val']:.2e} |" in row
    assert row_index(text, "| mpnn | MSE, wd 1e-12, 2 ep, constant lr") > text.index("Data `EGNN 43`:")
    assert "- `A`: `egnn`" in text  # the legend of checkpoint names
    row = next(line for line in text.splitlines() if line.startswith("| A s0,1 |"))
    assert f"| {mean['test_mse']:.2e} |" in row and f"| {statistics.mean(mean['members_test_mse']):.2e} |" in row
    row = next(line for line in text.splitlines() if line.startswith("| 43 | test | 4 |"))
    assert f"| {floor['test']['mse']:.2e} |" in row
    row = next(line for line in text.splitlines() if line.startswith("| 7 | test | 6 |"))
    assert f"| {other['test']['mse']:.2e} |" in row
    row = next(line for line in text.splitlines() if line.startswith("| 43: 4 | A s0 |"))
    assert f"| {floor['networks'][members[0]]['mse_to_orientation_average']:.2e} |" in row
    row = next(line for line in text.splitlines() if line.startswith("| 7: 6 | A s1 |"))
    assert f"| {other['networks'][members[1]]['mse']:.2e} |" in row
    row = next(line for line in text.splitlines() if line.startswith("| EGNN 43: 4 | target |"))
    assert f"| {100 * rerun['moved_share']['target']['0.1']:.1f} % |" in row
    row = next(line for line in text.splitlines() if line.startswith("| EGNN 43: 4 | A s0 |"))
    measured = rerun["networks"][members[0]]
    assert row.endswith(f"| {measured['mse']:.2e} | {measured['mse_reference']:.2e} |")
    assert_readable(text)
    assert (results / "learning_curves.png").stat().st_size > 0
    assert (results / "full_protocol.png").stat().st_size > 0


def test_ablation_keeps_the_full_recipe_on_egnn_data_and_measures_the_floor_distance():
    def record(model, seed, test, **changes):
        r = {"model": model, "seed": seed, "stream": "egnn", "ema": 0.999, "weight_decay": 1e-4, "epochs": 300,
             "test_mse_at_best_val": test, "params": 10, "seconds_per_epoch": 1.0,
             "history": [{"epoch": 5, "val": test, "train": test}]}
        return {**r, **changes}

    full = {"both-o3-small-moving": [record("both-o3-small-moving", 0, 3e-3), record("both-o3-small-moving", 1, 5e-3),
                                     record("both-o3-small-moving", 2, 1e-3, epochs=60)],
            "implicit-o3-small-moving": [record("implicit-o3-small-moving", 0, 4e-3, stream=None),
                                         record("implicit-o3-small-moving", 1, 4e-3, huber=0.2),
                                         record("implicit-o3-small-moving", 2, 2e-3, time_reversed=True, epochs=200),
                                         record("implicit-o3-small-moving", 3, 6e-3, time_reversed=True, epochs=300)],
            "egnn": [record("egnn", 0, 7e-3)]}
    runs = report.ablation_runs(full)
    assert list(runs) == [("both-o3-small-moving", False), ("implicit-o3-small-moving", True)]
    assert [r["seed"] for r in runs["both-o3-small-moving", False]] == [0, 1]
    assert [r["seed"] for r in runs["implicit-o3-small-moving", True]] == [2]
    rows = report.ablation_table(runs, floor=2e-3).splitlines()[-2:]
    assert rows[0].startswith("| both | the protocol's pairs | `both-o3-small-moving` | 10 | 0,1 | 300 | "
                              "3.00e-03, 5.00e-03 | 4.00e-03 | 2.00e-03 |")
    assert rows[1].startswith("| linear | pairs and time-reversed | `implicit-o3-small-moving` | 10 | 2 | 200 | "
                              "2.00e-03 | 2.00e-03 | 0.00e+00 |")


def test_distillation_trains_towards_the_blend_of_labels_and_teachers(tmp_path):
    """``distilled`` blends the labels with the teachers' mean prediction by the weight (labels at
    0, teachers at 1), and a student trains on it from teacher checkpoints."""
    for seed in (0, 1):
        train.main(["--model", "egnn", "--epochs", "1", "--eval-every", "1", "--sizes", "8", "4", "4",
                    "--batch-size", "4", "--seed", str(seed), "--cache", str(tmp_path),
                    "--checkpoint", str(tmp_path / f"teacher_s{seed}.ckpt")])
    teachers = [str(tmp_path / f"teacher_s{seed}.ckpt") for seed in (0, 1)]
    split = data.load_from_arguments(train.parse_args(["--model", "egnn", "--sizes", "8", "4", "4",
                                                       "--cache", str(tmp_path)]))["train"]
    mean = models.Ensemble([models.load_member("egnn", path) for path in teachers])
    prediction = mean(data.batch_graph(split)).reshape(split.target.shape).detach()
    assert torch.equal(train.distilled(split, mean, 0.0).target, split.target)
    assert torch.allclose(train.distilled(split, mean, 1.0).target, prediction, atol=1e-6)
    halfway = train.distilled(split, mean, 0.5).target
    assert torch.allclose(halfway, (split.target + prediction) / 2, atol=1e-6)
    student = train.main(["--model", "mpnn", "--epochs", "1", "--eval-every", "1", "--sizes", "8", "4", "4",
                          "--batch-size", "4", "--cache", str(tmp_path), "--teacher", *teachers,
                          "--teacher-model", "egnn", "--teacher-weight", "0.5"])
    assert student["teacher"] == teachers and student["teacher_weight"] == 0.5
    with pytest.raises(SystemExit):
        train.parse_args(["--model", "egnn", "--teacher-weight", "0.5"])
