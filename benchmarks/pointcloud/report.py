"""The point-cloud results table: ``python -m benchmarks.pointcloud.report``.

Reads the JSON records of :mod:`benchmarks.pointcloud.train` in ``--results`` and rewrites the
marked ``pointcloud`` section of ``benchmarks/pointcloud/RESULTS.md`` (one table per protocol, a row
per model, accuracies as mean ± standard deviation over seeds; the prose around it is kept).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks.results import load_records, mean_std, records_machine, task_results, update_section, values, wrap

RESULTS = Path(__file__).resolve().parent / "results"
PAIR = "helix_right<->helix_left"


def table(runs: dict[tuple[str, str], list[dict]]) -> str:
    """One table per protocol, a row per model (best test accuracy first)."""
    lines = []
    for protocol in sorted({protocol for _, protocol in runs}):
        rows = sorted(((model, records) for (model, p), records in runs.items() if p == protocol),
                      key=lambda item: -statistics.mean(r["test_accuracy_at_best_val"] for r in item[1]))
        lines += [f"Protocol `{protocol}`:", "",
                  "| model | val accuracy (training rotations) | test accuracy (SO(3) rotations) | "
                  "helix pair confusion, per seed | params | s / epoch | rotation error | reflection error |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for model, records in rows:
            lines.append(
                f"| {model} | {mean_std([1 - r['best_val_error'] for r in records], '.3f')} | "
                f"{mean_std([r['test_accuracy_at_best_val'] for r in records], '.3f')} | "
                f"{values([r['chiral_confusion'][PAIR] for r in records], '.2f')} | {records[0]['params']:,} | "
                f"{statistics.mean(r['seconds_per_epoch'] for r in records):.1f} | "
                f"{max(r['rotation_error'] for r in records):.1e} | "
                f"{max(r['reflection_error'] for r in records):.1e} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def section(runs: dict[tuple[str, str], list[dict]]) -> str:
    sizes = {(r["sizes"]["train"], r["points"], r["epochs"]) for records in runs.values() for r in records}
    settings = "; ".join(f"{train} training clouds of {points} points, {epochs} epochs" for train, points, epochs
                         in sorted(sizes))
    seeds = sorted({tuple(r["seed"] for r in records) for records in runs.values()})
    seed_text = " or ".join(", ".join(map(str, s)) for s in seeds)
    return "\n".join([wrap(
        f"Machine: {records_machine([r for records in runs.values() for r in records])}; one torch thread per run. "
        f"Runs: {settings}; seeds {seed_text} for every row. "
        "Accuracies are the mean ± standard deviation over the seeds. The helix pair confusion is the "
        "fraction of `helix_right` and `helix_left` test clouds predicted as the other helix (0.5 is chance), "
        "one value per seed in seed order; the error columns are the largest relative changes of the trained "
        "models' logits under random rotations and the mirror `x -> -x` (float32)."), "", table(runs)])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pointcloud.report",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(RESULTS), help="folder with the JSON records")
    parser.add_argument("--markdown", default=str(task_results("pointcloud")), help="results file to update")
    args = parser.parse_args(argv)
    runs = load_records(Path(args.results), key=lambda r: (r["model"], r["protocol"]))
    update_section(Path(args.markdown), "pointcloud", "Point-cloud classification", section(runs))


if __name__ == "__main__":
    main()
