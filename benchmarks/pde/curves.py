"""Data-efficiency sweep: ``python -m benchmarks.pde.curves --task navier_stokes --models clifford resnet
--sizes 8 16 32 64 --seeds 0 1 2 [training options]``.

Trains every model on every training-set size (``--train-trajectories``) with every seed, one run
after the other in this process (:func:`benchmarks.pde.train.main`); seed ``s`` sets both the
initialisation and the training trajectories (``--seed s --data-seed s``), while the validation and
test sets stay fixed. Options the sweep does not know (``--epochs 20 --grid 16 ...``) go to every
run. Writes, in ``--out-dir``: ``<task>.json`` (one record per run, after every run; a rerun skips
the runs recorded there), ``<task>.md`` (:func:`table`: test relative
MSE, mean ± sample standard deviation over seeds, per model and size, with parameters, time and
trained equivariance error) and ``<task>.png`` (the same, log-log).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.pde import train
from benchmarks.pde.models import MODELS

RESULTS = Path(__file__).resolve().parent / "results"
RECORD_KEYS = ("task", "model", "train_trajectories", "seed", "data_seed", "epochs", "params", "test_rel_mse",
               "val_rel_mse", "persistence_test_rel_mse", "seconds_per_epoch", "equivariance_error")
PER_RUN_OPTIONS = ("--out", "--checkpoint", "--resume", "--seed", "--data-seed", "--train-trajectories", "--model")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """The sweep's options and the rest (passed to every training run)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pde.curves", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(train.PROTOCOLS), required=True)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["clifford", "resnet"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64], help="training trajectories")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out-dir", default=str(RESULTS))
    args, rest = parser.parse_known_args(argv)
    clashes = [option for option in rest if option.split("=")[0] in PER_RUN_OPTIONS]
    if clashes:
        parser.error(f"the sweep sets {clashes} itself")
    return args, rest


def sweep(args: argparse.Namespace, options: list[str], path: Path) -> list[dict]:
    """One record (:data:`RECORD_KEYS`) per model x size x seed, written to ``path`` after every run;
    runs already recorded there are skipped, so an interrupted sweep resumes where it stopped."""
    records = json.loads(path.read_text()) if path.exists() else []
    done = {(r["model"], r["train_trajectories"], r["seed"]) for r in records}
    for model in args.models:
        for size in args.sizes:
            for seed in args.seeds:
                if (model, size, seed) in done:
                    continue
                result = train.main(["--task", args.task, "--model", model, "--train-trajectories", str(size),
                                     "--seed", str(seed), "--data-seed", str(seed), *options])
                records.append({key: result[key] for key in RECORD_KEYS})
                path.write_text(json.dumps(records, indent=2))
    return records


def summarise(records: list[dict]) -> dict[str, dict[int, tuple[float, float, int]]]:
    """``model -> size -> (mean, sample standard deviation (0 for one run), runs)`` of the test
    relative MSE."""
    values: dict[str, dict[int, list[float]]] = {}
    for record in records:
        values.setdefault(record["model"], {}).setdefault(record["train_trajectories"], []).append(
            record["test_rel_mse"])
    return {model: {size: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
                    for size, v in sorted(sizes.items())}
            for model, sizes in values.items()}


def table(records: list[dict]) -> str:
    """Rows: training-set sizes (test relative MSE, mean ± sample std over seeds, runs in brackets),
    then parameters, seconds per epoch at the largest size and the largest trained equivariance
    error; one column per model."""
    summary = summarise(records)
    models = list(summary)
    sizes = sorted({r["train_trajectories"] for r in records})
    by_model = {model: [r for r in records if r["model"] == model] for model in models}
    lines = ["| training trajectories | " + " | ".join(models) + " |", "|---:|" + "---:|" * len(models)]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(model) for model in models) + " |")

    def score(model: str, size: int) -> str:
        if size not in summary[model]:
            return "-"
        mean, std, runs = summary[model][size]
        return f"{mean:.2e}" + (f" ± {std:.1e}" if runs > 1 else "") + f" ({runs})"

    for size in sizes:
        row(str(size), lambda model, size=size: score(model, size))
    row("parameters", lambda model: f"{by_model[model][0]['params']:,}")
    largest = {model: max(r["train_trajectories"] for r in by_model[model]) for model in models}
    seconds = {model: statistics.mean(r["seconds_per_epoch"] for r in by_model[model]
                                      if r["train_trajectories"] == largest[model]) for model in models}
    row("s / epoch at the largest size", lambda model: f"{seconds[model]:.1f}")
    row("equivariance error (trained, float32, largest over runs)",
        lambda model: f"{max(r['equivariance_error'] for r in by_model[model]):.1e}")
    return "\n".join(lines)


def markdown(task: str, records: list[dict]) -> str:
    """:func:`table` under a title."""
    return f"Test relative MSE on `{task}` (mean ± sample std over seeds, runs in brackets)\n\n{table(records)}\n"


def draw(axes, task: str, summary: dict[str, dict[int, tuple[float, float, int]]]) -> None:
    """Test relative MSE against training trajectories on ``axes``, log-log, error bars one standard
    deviation."""
    from matplotlib.ticker import NullLocator

    for model, by_size in summary.items():
        sizes = list(by_size)
        means, stds = [by_size[s][0] for s in sizes], [by_size[s][1] for s in sizes]
        # one colour per model, the same in every panel and figure
        colour = f"C{list(MODELS).index(model)}"
        axes.errorbar(sizes, means, yerr=stds, marker="o", capsize=3, label=model, color=colour)
    axes.set(xscale="log", yscale="log", xlabel="training trajectories", ylabel="test relative MSE", title=task)
    sizes = sorted({size for by_size in summary.values() for size in by_size})
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.xaxis.set_minor_locator(NullLocator())
    axes.legend(fontsize=8)


def plot(task: str, summary: dict[str, dict[int, tuple[float, float, int]]], path: Path) -> None:
    """:func:`draw` as a PNG of its own."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.5))
    draw(axes, task, summary)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> list[dict]:
    args, options = parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = sweep(args, options, out / f"{args.task}.json")
    summary = summarise(records)
    (out / f"{args.task}.md").write_text(markdown(args.task, records))
    plot(args.task, summary, out / f"{args.task}.png")
    return records


if __name__ == "__main__":
    main()
