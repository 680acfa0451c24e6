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
from pathlib import Path

from benchmarks.qm9.data import DEFAULT_CACHE
from benchmarks.runs import run_all

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
    jobs = {}
    checkpoints = DEFAULT_CACHE / "checkpoints"
    for name, seed in runs(args.runs, args.seeds):
        record = f"{name}_s{seed}"
        if not (args.results / f"{record}.json").exists():
            jobs[record] = ["-m", "benchmarks.qm9.train", *RUNS[name][0], "--seed", str(seed),
                            "--sizes", *map(str, args.sizes), "--epochs", str(args.epochs),
                            "--out", str(args.results / f"{record}.json"),
                            "--checkpoint", str(checkpoints / f"{record}_n{args.sizes[0]}_e{args.epochs}.pt"),
                            "--resume",
                            *train_options]
    run_all(jobs, DEFAULT_CACHE / "logs", args.processes, "QM9 study")


if __name__ == "__main__":
    main()
