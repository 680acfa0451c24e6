"""The shared training loop: best-by-validation bookkeeping, and resume that continues exactly."""

import argparse
import json
import math

import pytest
import torch

from benchmarks.results import machine, records_machine
from benchmarks.training import (
    Distributed,
    add_training_arguments,
    cosine_factor,
    fit,
    learning_rate_factor,
    write_json,
)

INPUTS = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
TARGETS = INPUTS @ torch.tensor([1.0, -2.0, 0.5]) + 0.3


def arguments(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, epochs=4, batch_size=16, eval_every=1)
    return parser.parse_args(list(extra))


class Interrupt(Exception):
    pass


def train(args: argparse.Namespace, stop_at_epoch: int | None = None) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    seen = {"batches": 0}

    def loss(module, indices):
        seen["batches"] += 1
        if stop_at_epoch is not None and seen["batches"] > stop_at_epoch * 4:
            raise Interrupt
        return (module(INPUTS[indices])[:, 0] - TARGETS[indices]).pow(2).mean()

    def evaluate():
        return {"val": float((model(INPUTS)[:, 0] - TARGETS).pow(2).mean()), "epoch_seen": seen["batches"] / 4}

    state = fit(model, args, lr=0.05, train_size=len(INPUTS), loss=loss, evaluate=evaluate,
                processes=Distributed(), desc="toy")
    return model, state


def test_cosine_factor():
    factor = cosine_factor(10)
    assert factor(0) == 1.0 and math.isclose(factor(5), 0.5) and factor(10) == 0.0 and factor(12) == 0.0


def test_best_validation_is_recorded_with_its_metrics():
    _, state = train(arguments("--epochs", "4"))
    best = min(state["history"], key=lambda entry: entry["val"])
    assert state["best_epoch"] == best["epoch"] and state["at_best"]["val"] == best["val"]
    assert [entry["epoch"] for entry in state["history"]] == [1, 2, 3, 4]


def test_the_model_ends_with_the_weights_of_its_best_validation():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    snapshots, vals = [], iter([3.0, 1.0, 2.0, 4.0])  # the second validation is the best

    def loss(module, indices):
        return (module(INPUTS[indices])[:, 0] - TARGETS[indices]).pow(2).mean()

    def evaluate():
        snapshots.append(model.weight.clone())
        return {"val": next(vals)}

    state = fit(model, arguments("--epochs", "4"), lr=0.05, train_size=len(INPUTS), loss=loss, evaluate=evaluate,
                processes=Distributed(), desc="toy")
    assert state["best_epoch"] == 2 and not torch.equal(snapshots[1], snapshots[3])
    assert torch.equal(model.weight, snapshots[1])


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_weight_decay_is_a_penalty_for_adam_and_a_shrinkage_for_adamw(optimizer):
    """With a loss that ignores the weights, AdamW's decay shrinks them by ``1 - lr wd`` per step;
    Adam's penalty ``wd w`` enters the adaptive step, which moves each weight by about ``lr``."""
    model = torch.nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[2.0, -3.0, 1.5]]))  # far from 0: Adam's steps keep their sign
    start = model.weight.detach().clone()
    args = arguments("--epochs", "4", "--eval-every", "4", "--schedule", "constant", "--optimizer", optimizer,
                     "--weight-decay", "0.1")
    fit(model, args, lr=0.05, train_size=len(INPUTS), loss=lambda module, indices: 0 * module(INPUTS[indices]).sum(),
        evaluate=lambda: {"val": 0.0}, processes=Distributed(), desc="toy")
    steps = 4 * 4
    if optimizer == "adamw":
        assert torch.allclose(model.weight, start * (1 - 0.05 * 0.1) ** steps, rtol=1e-6, atol=0)
    else:
        moved = start - torch.sign(start) * 0.05 * steps
        assert torch.allclose(model.weight, moved, rtol=0, atol=0.05 * 0.05 * steps)


@pytest.mark.parametrize("ema", [[], ["--ema", "0.9"]])
def test_an_interrupted_run_resumes_to_the_same_model(tmp_path, ema):
    args = arguments("--epochs", "4", "--checkpoint", str(tmp_path / "toy.ckpt"), "--resume", *ema)
    straight, _ = train(arguments("--epochs", "4", *ema))
    with pytest.raises(Interrupt):
        train(args, stop_at_epoch=2)
    resumed, state = train(args)
    assert state["epoch"] == 4 and len(state["history"]) == 4
    assert torch.equal(resumed.weight, straight.weight) and torch.equal(resumed.bias, straight.bias)


def test_a_finished_run_extended_on_resume_keeps_learning(tmp_path):
    checkpoint = str(tmp_path / "toy.ckpt")
    finished, _ = train(arguments("--epochs", "2", "--checkpoint", checkpoint))
    extended, state = train(arguments("--epochs", "3", "--checkpoint", checkpoint, "--resume"))
    # the cosine rate was 0 at the end of the 2-epoch run; the 3-epoch schedule's third epoch runs
    # at a quarter of the base rate
    assert state["epoch"] == 3
    assert not torch.equal(extended.weight, finished.weight)


def recorded_run(epochs: int, *extra: str) -> tuple[torch.nn.Module, list[torch.Tensor], list[torch.Tensor]]:
    """Train the toy model, recording the raw weights each step's loss sees and the weights each
    validation sees (the first validation is made the best)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    at_loss, at_validation = [], []

    def loss(module, indices):
        at_loss.append(model.weight.detach().clone())
        return (module(INPUTS[indices])[:, 0] - TARGETS[indices]).pow(2).mean()

    def evaluate():
        at_validation.append(model.weight.clone())
        return {"val": float(len(at_validation))}

    fit(model, arguments("--epochs", str(epochs), *extra), lr=0.05, train_size=len(INPUTS), loss=loss,
        evaluate=evaluate, processes=Distributed(), desc="toy")
    return model, at_loss, at_validation


def test_ema_validates_the_moving_average_of_the_raw_trajectory():
    """With ``--ema d`` every validation sees ``w_avg(k) = d w_avg(k - 1) + (1 - d) w(k)`` (``w_avg(1)
    = w(1)``) over the raw weights ``w(k)`` after step ``k``, and training goes on from the raw weights,
    so the raw trajectory is the one of a run without averaging."""

    _, raw_at_loss, raw_at_validation = recorded_run(3)
    averaged, ema_at_loss, ema_at_validation = recorded_run(3, "--ema", "0.8")
    assert all(torch.equal(a, b) for a, b in zip(raw_at_loss, ema_at_loss))
    steps = len(raw_at_loss) // 3  # per epoch
    # the raw weights after every step: seen by the next step's loss, or by the validation after the last one
    trajectory = [w for epoch in range(3)
                  for w in raw_at_loss[epoch * steps + 1 : (epoch + 1) * steps] + [raw_at_validation[epoch]]]
    expected, average = [], trajectory[0]
    for k, w in enumerate(trajectory):
        average = w if k == 0 else 0.8 * average + 0.2 * w
        if (k + 1) % steps == 0:
            expected.append(average)
    assert not torch.allclose(expected[-1], raw_at_validation[-1], atol=1e-4)
    for got, want in zip(ema_at_validation, expected):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    # the best validation's weights are the averaged ones
    torch.testing.assert_close(averaged.weight, expected[0], rtol=1e-6, atol=1e-7)


def test_swa_validates_the_mean_of_the_epochs_last_weights_after_its_start():
    """With ``--swa-start 2`` the validations of epochs 1 and 2 see the raw weights, that of epoch
    ``e > 2`` the mean of the raw weights at the end of epochs 3..e; the learning rate stays at its
    epoch-2 value from then on."""
    args = arguments("--epochs", "6", "--swa-start", "2")
    _, at_loss, at_validation = recorded_run(6, "--swa-start", "2")
    steps = len(at_loss) // 6
    raw_at_end = [at_loss[(epoch + 1) * steps] for epoch in range(5)]  # seen by the next epoch's first step
    assert torch.equal(at_validation[0], raw_at_end[0]) and torch.equal(at_validation[1], raw_at_end[1])
    for epoch in range(2, 5):
        torch.testing.assert_close(at_validation[epoch], torch.stack(raw_at_end[2 : epoch + 1]).mean(0),
                                   rtol=1e-6, atol=1e-7)
    assert not torch.allclose(at_validation[4], raw_at_end[4], atol=1e-4)
    factor = learning_rate_factor(args)
    assert [factor(epoch) for epoch in range(7)] == [cosine_factor(6)(min(epoch, 2)) for epoch in range(7)]
    with pytest.raises(ValueError, match="exclude each other"):
        train(arguments("--ema", "0.9", "--swa-start", "2"))


def test_a_run_without_averaging_resumes_with_it(tmp_path):
    """A checkpoint written without ``--ema`` has no average; resumed with ``--ema`` the average
    starts there and counts only the steps after resuming (4 per epoch here)."""
    checkpoint = tmp_path / "toy.ckpt"
    train(arguments("--epochs", "2", "--checkpoint", str(checkpoint)))
    assert torch.load(checkpoint)["average"] is None
    _, state = train(arguments("--epochs", "3", "--checkpoint", str(checkpoint), "--resume", "--ema", "0.5"))
    assert state["epoch"] == 3 and len(state["history"]) == 3
    assert int(torch.load(checkpoint)["average"]["n_averaged"]) == 4


def test_records_name_their_machine_and_reports_name_every_machine(tmp_path):
    """A written record carries the machine it ran on (with torch's CPU capability) unless it names
    one; a report over records of several machines names each with its runs, and records without a
    machine count as this machine's model with the capability unknown."""
    path = tmp_path / "record.json"
    write_json(path, {"seed": 0}, Distributed.from_environment())
    written = json.loads(path.read_text())
    assert written["machine"] == machine() and written["seed"] == 0
    write_json(path, {"machine": "test CPU"}, Distributed.from_environment())
    assert json.loads(path.read_text())["machine"] == "test CPU"
    assert records_machine([{"machine": "test CPU"}] * 2) == "test CPU"
    mixed = records_machine([{"machine": "test CPU"}, {}, {}])
    assert mixed == f"{machine(capability=False)} (vector instructions not recorded) for 2 runs; test CPU for 1 run"
