"""Run the hierarchy study: ``python -m benchmarks.density.study``.

Trains (:mod:`benchmarks.density.train`) the implicit-kernel network for every hidden degree
``l_max`` in 0..3 and output order in {0, 1, 4} (``l = 0``, ``l <= 1``, all degrees), and e3nn's
network for every hidden ``l_max`` with all output degrees, each for the seeds given, at one
budget; ``--processes`` runs at a time, one thread each, the longest first. A run whose record
exists in ``--results`` is skipped, so the study resumes where it stopped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.density.data import DEFAULT_CACHE
from benchmarks.runs import run_all

RESULTS = Path(__file__).resolve().parent / "results"
OUTPUT_ORDERS = (0, 1, 4)
HIDDEN_LMAX = (0, 1, 2, 3)


def runs(seeds: list[int]) -> list[tuple[str, int, int, int]]:
    """``(model, hidden l_max, output order, seed)`` of the study, the most expensive first."""
    grid = [("implicit", hidden, output, seed) for hidden in HIDDEN_LMAX for output in OUTPUT_ORDERS for seed in seeds]
    grid += [("e3nn", hidden, 4, seed) for hidden in HIDDEN_LMAX for seed in seeds]
    return sorted(grid, key=lambda run: (-run[1], run[0] == "e3nn", -run[2], run[3]))


def record_name(model: str, hidden: int, output: int, seed: int) -> str:
    return f"{model}_h{hidden}_o{output}_s{seed}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.density.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args, train_options = parser.parse_known_args(argv)
    jobs = {}
    for run in runs(args.seeds):
        model, hidden, output, seed = run
        name = record_name(*run)
        if not (args.results / f"{name}.json").exists():
            jobs[name] = ["-m", "benchmarks.density.train", "--model", model, "--hidden-lmax", str(hidden),
                          "--output-lmax", str(output), "--seed", str(seed), "--epochs", str(args.epochs),
                          "--eval-every", "4", "--out", str(args.results / f"{name}.json"),
                          "--checkpoint", str(DEFAULT_CACHE / "checkpoints" / f"{name}.pt"), "--resume",
                          *train_options]
    run_all(jobs, DEFAULT_CACHE / "logs", args.processes, "density study")


if __name__ == "__main__":
    main()
