"""Run the hierarchy study: ``python -m benchmarks.density.study``.

Trains (:mod:`benchmarks.density.train`) the implicit-kernel network for every hidden degree
``l_max`` in 0..3 and output order in {0, 1, 4} (``l = 0``, ``l <= 1``, all degrees), and e3nn's
network for every hidden ``l_max`` with all output degrees, each for the seeds given, at one
budget; ``--processes`` runs at a time, one thread each, the longest first. A run whose record
exists in ``--results`` is skipped, so the study resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from benchmarks.density.data import DEFAULT_CACHE

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
    logs = DEFAULT_CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    todo = [run for run in runs(args.seeds) if not (args.results / f"{record_name(*run)}.json").exists()]
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def train(run: tuple[str, int, int, int]) -> int:
        model, hidden, output, seed = run
        name = record_name(*run)
        command = [sys.executable, "-m", "benchmarks.density.train", "--model", model, "--hidden-lmax", str(hidden),
                   "--output-lmax", str(output), "--seed", str(seed), "--epochs", str(args.epochs),
                   "--eval-every", "4", "--out", str(args.results / f"{name}.json"),
                   "--checkpoint", str(DEFAULT_CACHE / "checkpoints" / f"{name}.pt"), "--resume", *train_options]
        with open(logs / f"{name}.log", "w") as log:
            return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment).returncode

    with ThreadPoolExecutor(args.processes) as pool:
        codes = list(tqdm(pool.map(train, todo), total=len(todo), desc="density study"))
    failed = [record_name(*run) for run, code in zip(todo, codes) if code != 0]
    if failed:
        raise SystemExit(f"runs failed (logs in {logs}): {', '.join(failed)}")


if __name__ == "__main__":
    main()
