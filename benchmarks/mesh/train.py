"""Train a mesh model: ``python -m benchmarks.mesh.train --model implicit-so2 --task vector --seed 0``.

Tasks: ``vector`` maps a tangent field (frame coordinates, ``Surface.inputs``) to its vector heat flow
(``Surface.targets``); ``scalar`` maps the centred vertex positions (three gauge-invariant scalars per vertex) to
the mean curvature (``Surface.curvature``).

Loss: the area-weighted mean squared error per surface, ``sum_i A_i |pred_i - y_i|^2 / sum_i A_i`` (for vectors
the squared norm of the difference of frame coordinates, which does not depend on the gauge), averaged over the
surfaces of a batch; a batch is several surfaces concatenated into one graph. Metric (validation and test): the
relative error ``sqrt(sum_i A_i |pred_i - y_i|^2 / sum_i A_i |y_i|^2)`` averaged over the surfaces. Adam through
:func:`benchmarks.training.fit` (cosine schedule, best-by-validation weights, checkpoints, ``--resume``, DDP under
``torchrun``). The JSON record describes the best validation's model: test error, parameters, seconds per epoch
and its gauge-equivariance and rotation errors (:func:`gauge_error`, :func:`rotation_error`, float64).
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from benchmarks.mesh.data import DEFAULT_CACHE, SIZES, Surface, load
from benchmarks.mesh.geometry import split_geometries
from benchmarks.mesh.models import GAUGE_GROUPS, LEARNING_RATES, MODELS, TASKS
from benchmarks.results import run_record
from benchmarks.training import Distributed, add_training_arguments, fit, parameter_count, write_json
from groups import get_group
from implicit_kernels import MeshGeometry
from implicit_kernels.mesh_geometry import rotations


@dataclass
class Example:
    """One surface ready for a model: ``inputs`` ``(N, 2)`` frame coordinates or ``(N, 3)`` centred positions,
    ``targets`` ``(N, 2)`` or ``(N, 1)``, ``areas`` ``(N,)``, ``positions`` ``(N, 3)`` centred, ``geometry``."""

    inputs: Tensor
    targets: Tensor
    areas: Tensor
    positions: Tensor
    geometry: MeshGeometry

    def to(self, dtype: torch.dtype) -> Example:
        return Example(self.inputs.to(dtype), self.targets.to(dtype), self.areas.to(dtype),
                       self.positions.to(dtype), self.geometry.to(dtype))


def example(surface: Surface, geometry: MeshGeometry, task: str, dtype: torch.dtype = torch.float32) -> Example:
    """The model's inputs and targets of ``surface`` for ``task`` (float64 data cast to ``dtype``)."""
    positions = surface.vertices - surface.vertices.mean(0)
    if task == "vector":
        inputs, targets = surface.inputs, surface.targets
    else:
        inputs, targets = positions, surface.curvature[:, None]
    return Example(inputs, targets, surface.areas, positions, geometry).to(dtype)


def batch(examples: list[Example]) -> tuple[Example, Tensor]:
    """The examples as one graph (vertices numbered surface by surface) and the surface id ``(N,)`` of each
    vertex."""
    ids = torch.cat([torch.full((len(e.areas),), s) for s, e in enumerate(examples)])
    joined = Example(*(torch.cat([getattr(e, name) for e in examples]) for name in ("inputs", "targets", "areas",
                                                                                     "positions")),
                     MeshGeometry.concatenate([e.geometry for e in examples]))
    return joined, ids


def per_surface(values: Tensor, ids: Tensor, surfaces: int) -> Tensor:
    """Sums of ``values`` ``(N,)`` per surface: ``(surfaces,)``."""
    return values.new_zeros(surfaces).index_add(0, ids, values)


def predict(model: nn.Module, e: Example) -> Tensor:
    return model(e.inputs, e.geometry, e.positions)


def area_mse(pred: Tensor, e: Example, ids: Tensor, surfaces: int) -> Tensor:
    """Mean over surfaces of ``sum_i A_i |pred_i - y_i|^2 / sum_i A_i``."""
    error = per_surface(e.areas * (pred - e.targets).square().sum(1), ids, surfaces)
    return (error / per_surface(e.areas, ids, surfaces)).mean()


def relative_errors(model: nn.Module, examples: list[Example]) -> Tensor:
    """``sqrt(sum_i A_i |pred_i - y_i|^2 / sum_i A_i |y_i|^2)`` per surface ``(S,)``."""
    out = []
    for e in examples:
        pred = predict(model, e)
        out.append(((e.areas * (pred - e.targets).square().sum(1)).sum()
                    / (e.areas * e.targets.square().sum(1)).sum()).sqrt())
    return torch.stack(out)


def identity_error(examples: list[Example]) -> float:
    """The vector task's reference: the mean relative error of predicting the input field itself (no flow)."""
    return float(torch.stack([((e.areas * (e.inputs - e.targets).square().sum(1)).sum()
                               / (e.areas * e.targets.square().sum(1)).sum()).sqrt() for e in examples]).mean())


def gauge_error(model: nn.Module, e: Example, group_name: str | None, task: str, seed: int = 0) -> float:
    """Relative error ``|f(g . x, geometry g) - g . f(x, geometry)| / |f(x, geometry)|`` of a float64 copy of
    ``model`` for a random change of gauge ``e'_i = e_i g_i`` (``g_i`` uniform in ``SO(2)``, or elements of
    ``group_name`` such as ``C8``): vectors' coordinates become ``g_i^-1 c_i``, scalars stay."""
    model = _float64(model)
    e = e.to(torch.float64)
    n = len(e.areas)
    generator = torch.Generator().manual_seed(seed)
    if group_name is None or group_name == "SO(2)":
        g = rotations(2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64))
    else:
        g = get_group(group_name).sample(n, generator=generator).to(torch.float64)
    inverse = g.transpose(1, 2)
    inputs = torch.einsum("nab,nb->na", inverse, e.inputs) if task == "vector" else e.inputs
    with torch.no_grad():
        reference = predict(model, e)
        moved = model(inputs, e.geometry.change_gauge(g), e.positions)
    expected = torch.einsum("nab,nb->na", inverse, reference) if task == "vector" else reference
    return float((moved - expected).norm() / reference.norm())


def rotation_error(model: nn.Module, e: Example, seed: int = 0) -> float:
    """Relative change of a float64 copy's output when the surface is rotated rigidly by a random ``R`` in
    ``SO(3)`` (positions ``x R^T``, frames ``X R^T``; the intrinsic geometry and the frame coordinates of the
    vectors are unchanged, the scalar task's position inputs rotate). An intrinsic model with intrinsic inputs
    gives 0; the ambient baseline does not."""
    model = _float64(model)
    e = e.to(torch.float64)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    rotation = q * torch.sign(torch.diagonal(r))
    rotation = rotation * torch.sign(torch.linalg.det(rotation))
    geometry = MeshGeometry(e.geometry.edge_index, e.geometry.log_map, e.geometry.transport,
                            e.geometry.frames @ rotation.T)
    positions = e.positions @ rotation.T
    inputs = positions if e.inputs.shape[1] == 3 else e.inputs
    with torch.no_grad():
        reference = predict(model, e)
        moved = model(inputs, geometry, positions)
    return float((moved - reference).norm() / reference.norm())


def _float64(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` in eval mode."""
    return copy.deepcopy(model).double().eval()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mesh.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--task", choices=TASKS, default="vector")
    add_training_arguments(parser, epochs=20, batch_size=4, eval_every=5)
    parser.add_argument("--sizes", type=int, nargs=3, default=SIZES, metavar=("TRAIN", "VAL", "TEST"),
                        help="generated surfaces per split (the cached dataset)")
    parser.add_argument("--train-size", type=int, help="use the first N training surfaces (default: all)")
    parser.add_argument("--val-size", type=int, help="use the first N validation surfaces (default: all)")
    parser.add_argument("--test-size", type=int, help="use the first N test surfaces (default: all)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="dataset and geometry cache directory")
    parser.add_argument("--save-model", help="write the best validation's weights (state dict) here")
    return parser.parse_args(argv)


def make_examples(args: argparse.Namespace, progress: bool = True) -> dict[str, list[Example]]:
    """The float32 examples of every split (geometry from the cache, computed when missing)."""
    splits = load(tuple(args.sizes), args.data_seed, args.cache, progress=progress)
    limits = {"train": args.train_size, "val": args.val_size, "test": args.test_size}
    out = {}
    for name, split in splits.items():
        surfaces = list(split)[: limits[name]]
        geometries = split_geometries(surfaces, args.cache, desc=f"{name} geometry", progress=progress)
        out[name] = [example(s, g, args.task) for s, g in zip(surfaces, geometries)]
    return out


def main(argv=None) -> dict:
    start = time.perf_counter()
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    processes = Distributed.from_environment()
    torch.manual_seed(args.seed)
    examples = make_examples(args, progress=processes.rank == 0)
    model = MODELS[args.model](args.task)
    lr = args.lr if args.lr is not None else LEARNING_RATES[args.model]
    train = examples["train"]

    def loss(module: nn.Module, indices: Tensor) -> Tensor:
        joined, ids = batch([train[int(i)] for i in indices])
        return area_mse(predict(module, joined), joined, ids, len(indices))

    def evaluate() -> dict[str, float]:
        return {"val": float(relative_errors(model, examples["val"]).mean()),
                "test": float(relative_errors(model, examples["test"]).mean())}

    state = fit(model, args, lr=lr, train_size=len(train), loss=loss, evaluate=evaluate, processes=processes,
                desc=f"{args.model} {args.task}")
    model.eval()  # fit leaves the best validation's weights in the model
    with torch.no_grad():
        test_errors = relative_errors(model, examples["test"])
    probe = examples["test"][0]
    result = {
        **run_record("python -m benchmarks.mesh.train", argv, torch.get_num_threads(), start),
        "model": args.model, "task": args.task, "seed": args.seed, "lr": lr, "schedule": args.schedule,
        "batch_size": args.batch_size, "params": parameter_count(model), "epochs": state["epoch"],
        "world_size": processes.world, "sizes": {name: len(split) for name, split in examples.items()},
        "vertices": {name: sum(len(e.areas) for e in split) for name, split in examples.items()},
        "edges": {name: sum(e.geometry.num_edges for e in split) for name, split in examples.items()},
        "best_epoch": state["best_epoch"], "best_val_error": state["at_best"]["val"],
        "test_error": float(test_errors.mean()), "test_errors": test_errors.tolist(),
        "identity_test_error": identity_error(examples["test"]) if args.task == "vector" else None,
        "seconds_per_epoch": state["seconds"] / max(1, state["epoch"]),
        "gauge_group": GAUGE_GROUPS[args.model] or "SO(2)",
        "gauge_error": gauge_error(model, probe, GAUGE_GROUPS[args.model], args.task),
        "rotation_error": rotation_error(model, probe),
        "history": state["history"],
    }
    write_json(args.out, result, processes)
    if args.save_model is not None and processes.rank == 0:
        torch.save(model.state_dict(), args.save_model)
    processes.close()
    return result


if __name__ == "__main__":
    main()
