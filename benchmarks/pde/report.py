"""Tables and curves of the PDE data-efficiency sweeps: ``python -m benchmarks.pde.report``.

Reads the sweep records ``<results>/<task>.json`` written by :mod:`benchmarks.pde.curves` (every
task that has one), rewrites the marked ``pde`` section of ``benchmarks/pde/RESULTS.md`` (the prose
around it is kept) with one table per task, and draws all tasks' curves side by side in
``<results>/data_efficiency.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.pde.curves import RESULTS, draw, summarise, table  # noqa: E402
from benchmarks.pde.data import TASKS  # noqa: E402
from benchmarks.results import machine, task_results, update_section, wrap  # noqa: E402

GROUPS = {"navier_stokes": "O(2,0) on 2D space", "maxwell": "O(3,0) on 3D space",
          "electrodynamics": "O(1,2) on (t, x, y) spacetime"}


def load_sweeps(results: Path) -> dict[str, list[dict]]:
    """``task -> records`` for every task with a sweep file in ``results``, in :data:`TASKS` order."""
    return {task: json.loads((results / f"{task}.json").read_text())
            for task in TASKS if (results / f"{task}.json").exists()}


def section(sweeps: dict[str, list[dict]], plot_link: str) -> str:
    parts = [wrap(f"Machine: {machine()}; one torch thread per run (`OMP_NUM_THREADS=1`), with other runs on the "
             "two cores, so seconds per epoch compare models within a table only. Test relative MSE "
             "(`sum (prediction - target)^2 / sum target^2` per window, averaged) at the best validation epoch; "
             "equivariance errors are the trained models' largest relative errors over all grid-preserving "
             "group elements on two test windows. Each cell is the mean ± standard deviation over seeds, with "
                  "the number of seeds in brackets."), ""]
    for task, records in sweeps.items():
        persistence = statistics.mean(r["persistence_test_rel_mse"] for r in records)
        parts += [f"### {task}", "", wrap(f"{GROUPS[task]}; {records[0]['epochs']} epochs; repeating the last "
                                           f"input frame scores {persistence:.2e}."), "", table(records), ""]
    parts.append(f"![PDE data efficiency]({plot_link})")
    return "\n".join(parts)


def plot(sweeps: dict[str, list[dict]], path: Path) -> None:
    """One log-log panel per task (:func:`benchmarks.pde.curves.draw`)."""
    figure, axes = plt.subplots(1, len(sweeps), figsize=(5 * len(sweeps), 3.8), squeeze=False)
    for axis, (task, records) in zip(axes[0], sweeps.items()):
        draw(axis, task, summarise(records))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pde.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(RESULTS), help="folder with the sweeps' <task>.json records")
    parser.add_argument("--markdown", default=str(task_results("pde")), help="results file to update")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite the tables only, not the plot")
    args = parser.parse_args(argv)
    results, markdown = Path(args.results), Path(args.markdown)
    sweeps = load_sweeps(results)
    if not sweeps:
        parser.error(f"no sweep records (<task>.json) in {results}")
    figure = results / "data_efficiency.png"
    if not args.markdown_only:
        plot(sweeps, figure)
    link = Path(os.path.relpath(figure, markdown.resolve().parent)).as_posix()
    update_section(markdown, "pde", "PDE forecasting", section(sweeps, link))


if __name__ == "__main__":
    main()
