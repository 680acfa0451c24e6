"""Evaluate the mean prediction of trained N-body networks of one kind:
``python -m benchmarks.nbody.ensemble --model implicit-o3-small-moving --checkpoints A.ckpt B.ckpt``.

Each member holds the best-by-validation weights of a checkpoint of :mod:`benchmarks.nbody.train`
(seeds trained independently); the JSON record has the ensemble's validation and test MSE, its
members' test MSEs, parameters (all members together), equivariance errors and test error profile.
With ``--data-seed`` and ``--sizes`` the networks can also be measured on freshly simulated systems
(e.g. a test split ten times the usual one, for a smaller standard error).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.nbody.data import add_data_arguments, data_fields, load_from_arguments
from benchmarks.nbody.models import MODELS, Ensemble, load_member
from benchmarks.nbody.train import equivariance_error, error_profile, mse
from benchmarks.training import Distributed, parameter_count, write_json


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nbody.ensemble", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True, help="the members' model")
    parser.add_argument("--checkpoints", nargs="+", required=True, help="checkpoints written by the training script")
    add_data_arguments(parser)
    parser.add_argument("--out", help="JSON results file")
    return parser.parse_args(argv)


def add_network_arguments(parser: argparse.ArgumentParser, measured: str) -> None:
    """``--model`` and ``--checkpoints``: trained networks a measuring script also evaluates
    (``measured`` says on what, for the help)."""
    parser.add_argument("--model", choices=sorted(MODELS), help="the networks' model, with --checkpoints")
    parser.add_argument("--checkpoints", nargs="*", default=[],
                        help=f"trained networks (training checkpoints) to measure {measured}, each and, when several, "
                             "their ensemble")


def networks_from_arguments(args: argparse.Namespace) -> dict[str, torch.nn.Module]:
    """The networks of :func:`add_network_arguments` by checkpoint path, and their ``ensemble``
    when there are several."""
    if args.checkpoints and args.model is None:
        raise ValueError("--checkpoints needs --model")
    networks = {path: load_member(args.model, path) for path in args.checkpoints}
    if len(networks) > 1:
        networks["ensemble"] = Ensemble(list(networks.values()))
    return networks


def main(argv=None) -> dict:
    args = parse_args(argv)
    data = load_from_arguments(args)
    ensemble = Ensemble([load_member(args.model, path) for path in args.checkpoints]).eval()
    result = {
        "model": args.model, "checkpoints": args.checkpoints, **data_fields(args),
        "params": parameter_count(ensemble),
        "members_test_mse": [mse(member, data["test"]) for member in ensemble.members],
        "val_mse": mse(ensemble, data["val"]), "test_mse": mse(ensemble, data["test"]),
        "rotation_error": equivariance_error(ensemble, data["test"], improper=False),
        "reflection_error": equivariance_error(ensemble, data["test"], improper=True),
        "test_error_profile": error_profile(ensemble, data["test"]),
    }
    write_json(args.out, result, Distributed())
    print({key: value for key, value in result.items() if key != "test_error_profile"})
    return result


if __name__ == "__main__":
    main()
