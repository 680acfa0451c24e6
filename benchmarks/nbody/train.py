"""Train an N-body model: ``python -m benchmarks.nbody.train --model implicit-o3``.

Adam (cosine learning rate by default) on the mean squared error of the predicted positions (or,
with ``--huber DELTA``, on twice the Huber loss of their coordinates: the squared error up to
``DELTA``, linear beyond, so that the few systems with close encounters weigh less; with
``--input-noise SIGMA``, on training inputs whose positions carry isotropic Gaussian noise of
standard deviation ``SIGMA``, drawn afresh every step, towards the unchanged labels; with
``--time-reversed``, also on the training trajectories run backwards; with
``--teacher``, towards a blend of the labels and trained networks' mean prediction), through the
shared loop of :mod:`benchmarks.training`: best-by-validation checkpointing, resume
(``--resume``), seeds, DDP under ``torchrun``, and a JSON record with the test MSE at the best
validation epoch and the trained model's equivariance errors.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.nbody.data import (
    NBodySplit,
    add_data_arguments,
    batch_graph,
    data_fields,
    load_from_arguments,
    random_orthogonal,
    time_reversed_from_arguments,
)
from benchmarks.nbody.models import LEARNING_RATES, MODELS, STEERABLE_MODELS, Ensemble, load_member
from benchmarks.training import Distributed, add_training_arguments, fit, parameter_count, write_json


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nbody.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    add_training_arguments(parser, epochs=1000, batch_size=100)
    add_data_arguments(parser)
    parser.add_argument("--dropout", type=float, default=0.0, metavar="P",
                        help="drop each hidden field of every layer's update with probability P in training "
                             "(the steerable models only)")
    parser.add_argument("--huber", type=float, default=None, metavar="DELTA",
                        help="train on the Huber loss of the coordinates' errors with this threshold "
                             "(default: the squared error); validation and test stay MSE")
    parser.add_argument("--input-noise", type=float, default=0.0, metavar="SIGMA",
                        help="add Gaussian noise of standard deviation SIGMA to every training input position, "
                             "drawn afresh each step (labels unchanged; validation and test inputs clean)")
    parser.add_argument("--time-reversed", action="store_true",
                        help="also train on the training trajectories run backwards (target frame to input frame; "
                             "uses the target frame's velocities, see benchmarks.nbody.data.time_reversed_training)")
    parser.add_argument("--teacher", nargs="+", metavar="CKPT",
                        help="distil: train towards a blend of the labels and the mean prediction of these "
                             "trained networks (checkpoints of --teacher-model) on the training systems")
    parser.add_argument("--teacher-model", choices=sorted(MODELS), help="the teachers' model (default: --model)")
    parser.add_argument("--teacher-weight", type=float, default=1.0, metavar="W",
                        help="the teachers' share of the training target: 0 labels only, 1 (default) teachers only")
    args = parser.parse_args(argv)
    if args.dropout and args.model not in STEERABLE_MODELS:
        parser.error(f"--dropout applies to the steerable models only, not {args.model}")
    if args.huber is not None and not args.huber > 0:
        parser.error(f"--huber must be positive, got {args.huber}")
    if not args.input_noise >= 0:
        parser.error(f"--input-noise must be non-negative, got {args.input_noise}")
    if not 0 <= args.teacher_weight <= 1:
        parser.error(f"--teacher-weight must lie in [0, 1], got {args.teacher_weight}")
    if args.teacher is None and (args.teacher_model is not None or args.teacher_weight != 1.0):
        parser.error("--teacher-model and --teacher-weight need --teacher")
    return args


@torch.no_grad()
def distilled(split: NBodySplit, teacher: torch.nn.Module, weight: float, batch_size: int = 500) -> NBodySplit:
    """``split`` with the targets ``(1 - weight) labels + weight teacher(inputs)``. The squared
    error to that blend is the weighted sum of the squared errors to both, up to a constant."""
    predictions = [teacher(batch_graph(part)).reshape(part.target.shape)
                   for part in (split.subset(torch.arange(start, min(start + batch_size, len(split))))
                                for start in range(0, len(split), batch_size))]
    target = (1 - weight) * split.target + weight * torch.cat(predictions)
    return NBodySplit(split.positions, split.velocities, target, split.charges)


def system_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(T,)``: the mean squared error of each system's ``(n, 3)`` positions (``(T, n, 3)`` each)."""
    return (prediction - target).pow(2).mean(dim=(1, 2))


@torch.no_grad()
def system_errors(model: torch.nn.Module, split: NBodySplit, batch_size: int = 500) -> torch.Tensor:
    """``(T,)``: the mean squared error of the predicted positions of every system of a split."""
    errors = []
    for start in range(0, len(split), batch_size):
        part = split.subset(torch.arange(start, min(start + batch_size, len(split))))
        errors.append(system_mse(model(batch_graph(part)).reshape(part.target.shape), part.target))
    return torch.cat(errors)


def mse(model: torch.nn.Module, split: NBodySplit) -> float:
    """Mean squared error of the predicted positions over a split."""
    return float(system_errors(model, split).mean())


def error_profile(model: torch.nn.Module, split: NBodySplit) -> dict[str, float]:
    """How the split's MSE is spread over its systems: the median system's MSE, the share of the
    total squared error held by the worst 1 % of systems, and the standard error of the MSE as an
    estimate from this many systems (the spread of the per-system errors over ``sqrt(T)``)."""
    model.eval()
    errors = system_errors(model, split).sort(descending=True).values
    model.train()
    worst = max(1, len(errors) // 100)
    return {"median_system_mse": float(errors.median()), "worst_1pct_share": float(errors[:worst].sum() / errors.sum()),
            "standard_error": float(errors.std() / len(errors) ** 0.5)}


def equivariance_error(model: torch.nn.Module, split: NBodySplit, improper: bool, seed: int = 0) -> float:
    """Relative error of ``model(g x + t, g v) = g model(x, v) + t`` for random ``g`` and
    translations ``t`` (one per system) on up to 100 systems of ``split``: rotations
    (``improper=False``) or rotations times a reflection (``improper=True``)."""
    generator = torch.Generator().manual_seed(seed)
    part = split.subset(torch.arange(min(100, len(split))))
    q = random_orthogonal(len(part), generator)
    g = q * torch.linalg.det(q)[:, None, None] * (-1.0 if improper else 1.0)
    t = torch.randn(len(part), 1, 3, generator=generator)
    moved = NBodySplit(part.positions @ g.transpose(1, 2) + t, part.velocities @ g.transpose(1, 2), part.target,
                       part.charges)
    model.eval()
    with torch.no_grad():
        expected = model(batch_graph(part)).reshape(len(part), -1, 3) @ g.transpose(1, 2) + t
        actual = model(batch_graph(moved)).reshape(len(part), -1, 3)
    model.train()
    return float((actual - expected).norm() / expected.norm())


def main(argv=None) -> dict:
    args = parse_args(argv)
    processes = Distributed.from_environment()
    torch.manual_seed(args.seed)
    data = load_from_arguments(args)
    model = MODELS[args.model](**({"dropout": args.dropout} if args.dropout else {}))
    lr = args.lr if args.lr is not None else LEARNING_RATES[args.model]
    train = data["train"] + time_reversed_from_arguments(args) if args.time_reversed else data["train"]
    if args.teacher:
        teachers = Ensemble([load_member(args.teacher_model or args.model, path) for path in args.teacher])
        train = distilled(train, teachers, args.teacher_weight)

    def loss(module: torch.nn.Module, indices: torch.Tensor) -> torch.Tensor:
        graph = batch_graph(train.subset(indices))
        if args.input_noise:
            graph["positions"] = graph["positions"] + args.input_noise * torch.randn_like(graph["positions"])
        if args.huber is None:
            return (module(graph) - graph["target"]).pow(2).mean()
        # twice Huber: equal to the squared error below the threshold
        return 2 * torch.nn.functional.huber_loss(module(graph), graph["target"], delta=args.huber)

    def evaluate() -> dict[str, float]:
        return {"val": mse(model, data["val"]), "test": mse(model, data["test"])}

    state = fit(model, args, lr=lr, train_size=len(train), loss=loss, evaluate=evaluate, processes=processes,
                desc=args.model)
    result = {
        "model": args.model, "seed": args.seed, **data_fields(args), "lr": lr, "schedule": args.schedule,
        "optimizer": args.optimizer, "weight_decay": args.weight_decay,
        "ema": args.ema, "swa_start": args.swa_start, "huber": args.huber,
        "input_noise": args.input_noise, "time_reversed": args.time_reversed, "teacher": args.teacher,
        "teacher_weight": args.teacher_weight if args.teacher else None,
        "params": parameter_count(model), "epochs": state["epoch"],
        "world_size": processes.world,
        "threads": torch.get_num_threads(), "best_epoch": state["best_epoch"],
        "best_val_mse": state["at_best"]["val"], "test_mse_at_best_val": state["at_best"]["test"],
        "seconds_per_epoch": state["seconds"] / max(1, state["epoch"]),
        "rotation_error": equivariance_error(model, data["test"], improper=False),
        "reflection_error": equivariance_error(model, data["test"], improper=True),
        "test_error_profile": error_profile(model, data["test"]), "history": state["history"],
    }
    write_json(args.out, result, processes)
    processes.close()
    return result


if __name__ == "__main__":
    main()
