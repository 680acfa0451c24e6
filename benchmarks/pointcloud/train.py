"""Train a shape classifier: ``python -m benchmarks.pointcloud.train --model implicit-so3 --protocol z/so3``.

Protocols (``train/test``): ``z/so3`` trains on clouds rotated about ``z`` by fresh random angles in
every batch (the aligned setting: the canonical ``z`` axis is kept, only the azimuth varies) and
tests on clouds rotated by random SO(3) rotations; ``so3/so3`` trains on fresh random SO(3)
rotations and tests on random SO(3) rotations. The validation split (the last ``--val-fraction`` of
the generated training clouds) follows the training distribution, with fixed seeded rotations, so
that model selection never sees the test distribution; the test rotations are fixed and seeded too.

Adam on the cross-entropy through the shared loop of :mod:`benchmarks.training` (cosine schedule,
best-by-validation selection on the validation error rate, checkpoints, ``--resume``, DDP under
``torchrun``). The loop keeps the weights of the best validation (also in the checkpoint), and the
JSON record describes that model: test accuracy, per-class
accuracy, the confusion matrix and the chiral pairs' confusion, and the invariance errors of its
logits under random rotations, rotations about ``z`` and the mirror ``x -> -x``.
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

from benchmarks.pointcloud.data import CHIRAL_PAIRS, CLASSES, DEFAULT_CACHE, PointCloudSplit, load, random_rotations
from benchmarks.pointcloud.models import LEARNING_RATES, MODELS
from benchmarks.training import Distributed, add_training_arguments, fit, parameter_count, write_json

PROTOCOLS = {"z/so3": ("z", "so3"), "so3/so3": ("so3", "so3")}  # rotations of training (and validation), test


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pointcloud.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="z/so3")
    add_training_arguments(parser, epochs=30, batch_size=32, eval_every=2)
    parser.add_argument("--sizes", type=int, nargs=2, default=(10000, 2000), metavar=("TRAIN", "TEST"),
                        help="generated training and test clouds (multiples of the 16 classes)")
    parser.add_argument("--points", type=int, default=512, help="points per cloud")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="part of the training clouds held out")
    parser.add_argument("--train-size", type=int, help="train on the first N clouds only (default: all not held out)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the data and of the fixed rotations")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="dataset cache directory")
    return parser.parse_args(argv)


def subset(split: PointCloudSplit, index: slice) -> PointCloudSplit:
    return PointCloudSplit(split.points[index], split.labels[index])


def rotated(split: PointCloudSplit, group: str, generator: torch.Generator) -> PointCloudSplit:
    """``split`` with every cloud rotated by its own random rotation of ``group`` (``"so3"`` or ``"z"``)."""
    return PointCloudSplit(split.points @ random_rotations(len(split), generator, group).transpose(1, 2), split.labels)


def make_splits(args: argparse.Namespace) -> dict[str, PointCloudSplit]:
    """Training split in canonical pose (rotated per batch), validation and test splits rotated once by
    seeded rotations of the protocol's groups (the test rotations are the same for every protocol)."""
    data = load(tuple(args.sizes), args.points, args.data_seed, args.cache)
    held_out = round(args.val_fraction * len(data["train"]))
    kept = len(data["train"]) - held_out
    if held_out < 1 or kept < 1:
        raise ValueError(f"--val-fraction {args.val_fraction} leaves no validation or no training clouds")
    train_group, test_group = PROTOCOLS[args.protocol]
    return {
        "train": subset(data["train"], slice(0, min(kept, args.train_size or kept))),
        "val": rotated(subset(data["train"], slice(kept, None)), train_group,
                       torch.Generator().manual_seed(args.data_seed + 1)),
        "test": rotated(data["test"], test_group, torch.Generator().manual_seed(args.data_seed)),
    }


@torch.no_grad()
def predict(model: nn.Module, points: Tensor, batch_size: int = 100) -> Tensor:
    """Logits ``(T, classes)`` of the clouds ``points`` ``(T, P, 3)``."""
    return torch.cat([model(points[start : start + batch_size]) for start in range(0, len(points), batch_size)])


def confusion_matrix(logits: Tensor, labels: Tensor) -> Tensor:
    """``(classes, classes)`` counts: entry ``[a, b]`` counts clouds of class ``a`` predicted as ``b``."""
    classes = logits.shape[1]
    return torch.bincount(labels * classes + logits.argmax(1), minlength=classes**2).reshape(classes, classes)


def chiral_confusion(confusion: Tensor) -> dict[str, float]:
    """For every chiral pair ``(a, b)``: the fraction of test clouds of ``a`` predicted as ``b`` and of ``b``
    predicted as ``a``, and of both together."""
    confusion, out = confusion.double(), {}
    for a, b in CHIRAL_PAIRS:
        i, j = CLASSES.index(a), CLASSES.index(b)
        out[f"{a}->{b}"] = float(confusion[i, j] / confusion[i].sum())
        out[f"{b}->{a}"] = float(confusion[j, i] / confusion[j].sum())
        out[f"{a}<->{b}"] = float((confusion[i, j] + confusion[j, i]) / (confusion[i].sum() + confusion[j].sum()))
    return out


def invariance_errors(model: nn.Module, points: Tensor, seed: int = 0) -> dict[str, float]:
    """Relative change ``|f(g x) - f(x)| / |f(x)|`` of the logits of clouds ``points`` ``(T, P, 3)`` under
    random rotations (one per cloud), random rotations about ``z``, and the mirror ``x -> -x``."""
    generator = torch.Generator().manual_seed(seed)
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=points.dtype)).expand(len(points), 3, 3)
    transforms = {"rotation_error": random_rotations(len(points), generator, "so3", points.dtype),
                  "z_rotation_error": random_rotations(len(points), generator, "z", points.dtype),
                  "reflection_error": mirror}
    reference = predict(model, points)
    return {name: float((predict(model, points @ g.transpose(1, 2)) - reference).norm() / reference.norm())
            for name, g in transforms.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    processes = Distributed.from_environment()
    torch.manual_seed(args.seed)
    splits = make_splits(args)
    model = MODELS[args.model]()
    lr = args.lr if args.lr is not None else LEARNING_RATES[args.model]
    train, train_group = splits["train"], PROTOCOLS[args.protocol][0]
    rotations = torch.Generator().manual_seed(args.seed * 1009 + processes.rank)  # each rank draws its own

    def loss(module: nn.Module, indices: Tensor) -> Tensor:
        points = train.points[indices] @ random_rotations(len(indices), rotations, train_group).transpose(1, 2)
        return nn.functional.cross_entropy(module(points), train.labels[indices])

    def evaluate() -> dict[str, float]:
        val_logits, test_logits = predict(model, splits["val"].points), predict(model, splits["test"].points)
        metrics = {"val": float((val_logits.argmax(1) != splits["val"].labels).double().mean()),
                   "val_loss": float(nn.functional.cross_entropy(val_logits, splits["val"].labels)),
                   "test_accuracy": float((test_logits.argmax(1) == splits["test"].labels).double().mean())}
        return metrics

    state = fit(model, args, lr=lr, train_size=len(train), loss=loss, evaluate=evaluate, processes=processes,
                desc=f"{args.model} {args.protocol}")
    model.eval()  # fit leaves the best validation's weights in the model
    confusion = confusion_matrix(predict(model, splits["test"].points), splits["test"].labels)
    result = {
        "model": args.model, "protocol": args.protocol, "seed": args.seed, "lr": lr, "schedule": args.schedule,
        "params": parameter_count(model), "epochs": state["epoch"], "world_size": processes.world,
        "threads": torch.get_num_threads(), "points": args.points,
        "sizes": {name: len(split) for name, split in splits.items()},
        "best_epoch": state["best_epoch"], "best_val_error": state["at_best"]["val"],
        "test_accuracy_at_best_val": state["at_best"]["test_accuracy"],
        "per_class_accuracy": dict(zip(CLASSES, (confusion.diagonal().double() / confusion.sum(1)).tolist())),
        "chiral_confusion": chiral_confusion(confusion), "confusion_matrix": confusion.tolist(),
        "seconds_per_epoch": state["seconds"] / max(1, state["epoch"]),
        **invariance_errors(model, splits["test"].points[:100]), "history": state["history"],
    }
    write_json(args.out, result, processes)
    processes.close()
    return result


if __name__ == "__main__":
    main()
