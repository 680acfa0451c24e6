"""Run the QM9 study: ``python -m benchmarks.qm9.study``.

Every run trains one model (:mod:`benchmarks.qm9.train`) at one budget (``--sizes`` and
``--epochs``, the same for all):

* the kernel ablation on HOMO: escnn's analytic kernels, implicit kernels, implicit kernels with
  bond features, and with bond features and both atoms' elements (``O(3)``), and the last with
  ``SO(3)``;
* the peers on HOMO: EGNN and the non-equivariant message passing;
* every target at once (HOMO, LUMO, gap, U0, alpha, the dipole vector and the polarizability
  tensor) with the last network of the ablation.

Each for the seeds given; ``--processes`` runs at a time, one thread each, the longest first. A
run whose record exists in ``--results`` is skipped, so the study resumes where it stopped; extra
options go to every run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from benchmarks.qm9.data import DEFAULT_CACHE

RESULTS = Path(__file__).resolve().parent / "results" / "runs"
ALL_TASKS = ("homo", "lumo", "gap", "u0", "alpha", "dipole", "polarizability")
# name -> (options, relative cost per molecule, measured: for the order of the runs)
RUNS = {
    "analytic_none_homo": (["--model", "analytic"], 12),
    "implicit_none_homo": (["--model", "implicit"], 5),
    "implicit_edge_homo": (["--model", "implicit", "--features", "edge"], 5),
    "implicit_atom_homo": (["--model", "implicit", "--features", "atom"], 5),
    "implicit-so3_atom_homo": (["--model", "implicit", "--group", "SO(3)", "--features", "atom"], 5),
    "egnn_homo": (["--model", "egnn"], 3.5),
    "mpnn_homo": (["--model", "mpnn"], 3.5),
    "implicit_atom_all": (["--model", "implicit", "--features", "atom", "--tasks", *ALL_TASKS], 6),
}
SEEDS = {"implicit-so3_atom_homo": (0,)}  # runs with fewer seeds than the others


def runs(names: list[str], seeds: list[int]) -> list[tuple[str, int]]:
    """``(run, seed)`` pairs, the most expensive first."""
    pairs = [(name, seed) for name in names for seed in seeds if seed in SEEDS.get(name, seeds)]
    return sorted(pairs, key=lambda pair: (-RUNS[pair[0]][1], pair[1]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.qm9.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--sizes", type=int, nargs=3, default=[10_000, 1_000, 13_083])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args, train_options = parser.parse_known_args(argv)
    logs = DEFAULT_CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    todo = [run for run in runs(args.runs, args.seeds) if not (args.results / f"{run[0]}_s{run[1]}.json").exists()]
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def train(run: tuple[str, int]) -> int:
        name, seed = run
        record = f"{name}_s{seed}"
        command = [sys.executable, "-m", "benchmarks.qm9.train", *RUNS[name][0], "--seed", str(seed),
                   "--sizes", *map(str, args.sizes), "--epochs", str(args.epochs),
                   "--out", str(args.results / f"{record}.json"),
                   "--checkpoint", str(DEFAULT_CACHE / "checkpoints" / f"{record}.pt"), "--resume", *train_options]
        with open(logs / f"{record}.log", "w") as log:
            return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment).returncode

    with ThreadPoolExecutor(args.processes) as pool:
        codes = list(tqdm(pool.map(train, todo), total=len(todo), desc="QM9 study"))
    failed = [f"{name}_s{seed}" for (name, seed), code in zip(todo, codes) if code != 0]
    if failed:
        raise SystemExit(f"runs failed (logs in {logs}): {', '.join(failed)}")


if __name__ == "__main__":
    main()
