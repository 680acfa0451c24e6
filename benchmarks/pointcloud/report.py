"""The point-cloud results table: ``python -m benchmarks.pointcloud.report``.

Reads the JSON records of :mod:`benchmarks.pointcloud.train` in ``--results`` and rewrites the
table of the point-cloud section of ``benchmarks/RESULTS.md`` (one row per model and protocol,
mean ± standard deviation over seeds; text after the section's end marker is kept).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks.results import RESULTS_MD, load_records, machine, mean_std, update_section

RESULTS = Path(__file__).resolve().parent / "results"
PAIR = "helix_right<->helix_left"


def table(runs: dict[tuple[str, str], list[dict]]) -> str:
    lines = ["| model | protocol | seeds | val accuracy (training rotations) | test accuracy (SO(3) rotations) | "
             "helix pair confusion | params | s / epoch | rotation error | reflection error |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (model, protocol), records in sorted(runs.items(), key=lambda item: (item[0][1], -statistics.mean(
            r["test_accuracy_at_best_val"] for r in item[1]))):
        val_accuracy = mean_std([1 - r["best_val_error"] for r in records], ".3f")
        lines.append(
            f"| {model} | {protocol} | {len(records)} | {val_accuracy} | "
            f"{mean_std([r['test_accuracy_at_best_val'] for r in records], '.3f')} | "
            f"{mean_std([r['chiral_confusion'][PAIR] for r in records], '.2f')} | {records[0]['params']:,} | "
            f"{statistics.mean(r['seconds_per_epoch'] for r in records):.1f} | "
            f"{max(r['rotation_error'] for r in records):.1e} | {max(r['reflection_error'] for r in records):.1e} |")
    return "\n".join(lines)


def section(runs: dict[tuple[str, str], list[dict]]) -> str:
    sizes = {(r["sizes"]["train"], r["points"], r["epochs"]) for records in runs.values() for r in records}
    settings = "; ".join(f"{train} training clouds of {points} points, {epochs} epochs" for train, points, epochs
                         in sorted(sizes))
    return "\n".join([
        f"Machine: {machine()}; one torch thread per run. Runs: {settings}. The helix pair confusion is the "
        "fraction of `helix_right` and `helix_left` test clouds predicted as the other helix (0.5 is chance); "
        "the error columns are the relative changes of the trained models' logits under random rotations and "
        "the mirror `x -> -x` (float32).", "", table(runs)])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pointcloud.report",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(RESULTS), help="folder with the JSON records")
    parser.add_argument("--markdown", default=str(RESULTS_MD), help="RESULTS.md to update")
    args = parser.parse_args(argv)
    runs = load_records(Path(args.results), key=lambda r: (r["model"], r["protocol"]))
    update_section(Path(args.markdown), "pointcloud", "Point-cloud classification", section(runs))


if __name__ == "__main__":
    main()
