"""Train a density model: ``python -m benchmarks.density.train --model implicit --hidden-lmax 2 --output-lmax 4``.

Adam on the mean squared error of the standardised coefficients of the degrees ``l <= --output-lmax``
(each atom's own shells only), through the shared loop of :mod:`benchmarks.training`
(best-by-validation checkpointing, ``--resume``, seeds, DDP under ``torchrun``). While training, a
:class:`~implicit_kernels.nn.FeatureMonitor` records at every validation the root-mean-square size
of the hidden features per degree ``l`` on the validation clusters (a resumed run records from
its resumption on). The JSON record holds the
test errors at the best validation (coefficient MSE and the percent density error ``eps``, in
total and per degree, :mod:`benchmarks.density.metrics`), the trained model's equivariance error,
the feature sizes and the learning curve.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.density.data import DEFAULT_CACHE, ELEMENTS, SIZES, DensitySet, load_splits
from benchmarks.density.metrics import density_errors
from benchmarks.density.models import DensityNet, E3nnGatePoints
from benchmarks.density.quantum import LEVEL, ShellLayout, shell_layout
from benchmarks.training import Distributed, add_training_arguments, fit, parameter_count, write_json
from groups import get_group
from implicit_kernels.nn import FeatureMonitor

MODELS = {"implicit": DensityNet, "e3nn": E3nnGatePoints}
# the implicit kernel networks narrower than the library's defaults, as in the point-cloud task
IMPLICIT_KERNEL = {"copies": 4, "mlp_width": 16}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.density.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="implicit")
    parser.add_argument("--hidden-lmax", type=int, choices=range(4), default=2,
                        help="highest degree l of the hidden features (0: invariants only)")
    parser.add_argument("--output-lmax", type=int, choices=range(5), default=4,
                        help="the degrees l <= this of the coefficients are predicted")
    parser.add_argument("--sizes", type=int, nargs=3, default=SIZES, metavar=("TRAIN", "VAL", "TEST"),
                        help="clusters per split")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--basis", default=LEVEL["basis"],
                        help="orbital basis of the DFT (e.g. sto-3g for quick checks)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="directory of the cached densities")
    parser.add_argument("--grid-level", type=int, default=1, help="pyscf grid level of the eps integrals")
    add_training_arguments(parser, epochs=100, batch_size=8)
    return parser.parse_args(argv)


@dataclass
class Standardiser:
    """Per element and per entry of the per-atom vector: ``t = (c - mean) / scale``. The mean is that
    of the training atoms for invariant (``l = 0``) entries and zero otherwise (a nonzero mean of a
    ``l > 0`` entry would not be equivariant); the scale is the standard deviation of an invariant
    entry and the root-mean-square size per component of a ``l > 0`` shell, shared by its
    ``2l + 1`` entries. Entries an element does not fill have mean 0 and scale 1."""

    mean: torch.Tensor  # (len(ELEMENTS), size)
    scale: torch.Tensor

    @classmethod
    def fit(cls, train: DensitySet, layout: ShellLayout) -> Standardiser:
        mean = torch.zeros(len(ELEMENTS), layout.size, dtype=torch.float64)
        scale = torch.ones_like(mean)
        for e, element in enumerate(ELEMENTS):
            c = train.coefficients[train.species == e]
            for shell in layout.slots(element):
                block = c[:, shell]
                if block.shape[1] == 1:
                    mean[e, shell] = block.mean()
                    scale[e, shell] = block.std()
                else:
                    scale[e, shell] = block.square().mean().sqrt()
        return cls(mean, scale)

    def normalise(self, c: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return (c - self.mean[species]) / self.scale[species]

    def restore(self, t: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return t * self.scale[species] + self.mean[species]


def build_model(args: argparse.Namespace, layout: ShellLayout) -> torch.nn.Module:
    options = IMPLICIT_KERNEL if args.model == "implicit" else {}
    return MODELS[args.model](layout, args.output_lmax, args.hidden_lmax, **options)


def degree_label(rep) -> str:
    """``l=k`` for an ``O(3)`` irrep of dimension ``2k + 1``."""
    return f"l={(rep.size - 1) // 2}"


def main(argv=None) -> dict:
    args = parse_args(argv)
    processes = Distributed.from_environment()
    torch.set_default_dtype(torch.float32)
    data = processes.rank_zero_first(
        lambda: load_splits(tuple(args.sizes), args.data_seed, dict(LEVEL, basis=args.basis), args.cache))
    layout = shell_layout(list(ELEMENTS))
    standardiser = Standardiser.fit(data["train"], layout)
    torch.manual_seed(args.seed)
    model = build_model(args, layout)
    size = model.rep_out.size
    masks = torch.stack([layout.mask(element)[:size] for element in ELEMENTS])

    def targets(split: DensitySet, index: torch.Tensor) -> dict[str, torch.Tensor]:
        atoms = split.batch(index)
        atoms["target"] = standardiser.normalise(atoms["coefficients"], atoms["species"])[:, :size].float()
        atoms["positions"] = atoms["positions"].float()
        atoms["mask"] = masks[atoms["species"]]
        return atoms

    def squared_error(module: torch.nn.Module, atoms: dict[str, torch.Tensor]) -> torch.Tensor:
        error = (module(atoms) - atoms["target"]).square()
        return error[atoms["mask"]].mean()

    train = data["train"]
    val = targets(data["val"], torch.arange(len(data["val"])))
    test = targets(data["test"], torch.arange(len(data["test"])))
    monitor = FeatureMonitor(model, label=degree_label) if args.model == "implicit" else None
    validations = 0

    def evaluate() -> dict[str, float]:
        nonlocal validations
        validations += 1
        if monitor is None:
            val_error = squared_error(model, val)
        else:
            with monitor.recording(step=validations):
                val_error = squared_error(model, val)
        return {"val": float(val_error), "test": float(squared_error(model, test))}

    state = fit(model, args, lr=args.lr or 3e-3, train_size=len(train),
                loss=lambda module, index: squared_error(module, targets(train, index)),
                evaluate=evaluate, processes=processes,
                desc=f"{args.model} hidden l<={args.hidden_lmax} output l<={args.output_lmax}")
    # the monitor counted this process's validations, the last entries of the history: their epochs
    epochs = [entry["epoch"] for entry in state["history"]][len(state["history"]) - validations:]
    feature_sizes = None if monitor is None else [dict(row, step=epochs[row["step"] - 1]) for row in monitor.table()]
    model.eval()
    with torch.no_grad():
        predicted = torch.zeros_like(data["test"].coefficients)
        predicted[:, :size] = model(test).double()
        coefficients = standardiser.restore(predicted, test["species"])
        coefficients[:, size:] = 0
        errors = density_errors(data["test"], coefficients, layout,
                                grid_level=args.grid_level)
    result = {
        "model": args.model, "hidden_lmax": args.hidden_lmax, "output_lmax": args.output_lmax,
        "seed": args.seed, "data_seed": args.data_seed, "level": dict(LEVEL, basis=args.basis),
        "sizes": list(args.sizes), "lr": args.lr or 3e-3,
        "batch_size": args.batch_size, "params": parameter_count(model), "epochs": state["epoch"],
        "world_size": processes.world, "threads": torch.get_num_threads(), "best_epoch": state["best_epoch"],
        "best_val_mse": state["at_best"]["val"], "test_mse_at_best_val": state["at_best"]["test"],
        **{f"test_{key}": value for key, value in errors.items()},
        "seconds_per_epoch": state["seconds"] / max(1, state["epoch"]),
        "equivariance_error": equivariance_error(model, test),
        "feature_sizes": feature_sizes,
        "history": state["history"],
    }
    write_json(args.out, result, processes)
    processes.close()
    return result


@torch.no_grad()
def equivariance_error(model: torch.nn.Module, atoms: dict[str, torch.Tensor], seed: int = 0) -> float:
    """Largest deviation ``|f(g x + t) - rho_out(g) f(x)|`` over the atoms, for one random element
    ``g`` of ``O(3)`` with a reflection and a random translation ``t``, relative to the largest
    ``|f(x)|`` (the model in float32, as trained)."""
    G = get_group("O(3)")
    generator = torch.Generator().manual_seed(seed)
    g = G.sample(1, generator=generator)[0]
    g = g * torch.det(g) * -1.0  # improper
    moved = dict(atoms, positions=atoms["positions"] @ g.float().T + torch.randn(3, generator=generator))
    expected = model(atoms) @ model.rep_out(g).float().T
    return float((model(moved) - expected).abs().max() / expected.abs().max())


if __name__ == "__main__":
    main()
