"""The QM9 results: ``python -m benchmarks.qm9.report``.

Reads the JSON records of :mod:`benchmarks.qm9.train` in ``--results`` and rewrites the marked
``qm9`` section of ``benchmarks/qm9/RESULTS.md``: the kernel ablation on HOMO, all models side
by side on HOMO, every target of the multi-task network, with parameters, time per epoch and the
trained models' equivariance errors, runs at larger budgets beside those of the main one, and
the plot ``results/learning_curves.png`` (validation HOMO MAE over the molecules seen).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks.qm9.data import TARGETS, load_splits
from benchmarks.results import load_records, machine, mean_std, task_results, update_section, values, wrap

RESULTS = Path(__file__).resolve().parent / "results"
RECORDS = (RESULTS / "runs", RESULTS / "runs_long")  # the study's budget, larger budgets
# the implicit-kernel paper's HOMO ablation on QM9 (meV, read off its figure; O(3), far longer training)
PAPER_ABLATION = {("analytic", "none"): "~43", ("implicit", "none"): "~37.8", ("implicit", "edge"): "~35.1",
                  ("implicit", "atom"): "~30.6"}
# EGNN's published test MAEs on the same split (Satorras et al. 2021, table 3; 1000 epochs, all 100k)
EGNN_PUBLISHED = {"homo": 29, "lumo": 25, "gap": 48, "u0": 11, "alpha": 0.071, "mu": 0.029}
ABLATION = (("analytic", "O(3)", "none"), ("implicit", "O(3)", "none"), ("implicit", "O(3)", "edge"),
            ("implicit", "O(3)", "atom"), ("implicit", "SO(3)", "atom"))
KERNELS = {"none": "offset only", "edge": "+ bond features", "atom": "+ bond features + both atoms' elements"}
UNITS = {**{name: unit for name, (_, unit, _) in TARGETS.items()}, "polarizability": "bohr^3",
         "alpha_trace": "bohr^3"}


def run_key(record: dict) -> tuple:
    """``(model, group, features, tasks, training molecules, epochs)``."""
    return (record["model"], record["group"], record["features"], tuple(record["tasks"]), record["sizes"][0],
            record["epochs"])


def budgets(runs: dict[tuple, list[dict]]) -> list[tuple[int, int]]:
    """The ``(training molecules, epochs)`` of the records, the one with the most runs first."""
    count: dict[tuple[int, int], int] = {}
    for key, records in runs.items():
        count[key[4:]] = count.get(key[4:], 0) + len(records)
    return sorted(count, key=lambda budget: (-count[budget], budget))


def cell(records: list[dict], key: str, digits: str) -> str:
    """``mean ± std (per-seed values)`` of ``key``."""
    numbers = [r[key] for r in records]
    if len(numbers) == 1:
        return f"{numbers[0]:{digits}}"
    return f"{mean_std(numbers, digits)} ({values(numbers, digits)})"


def costs(records: list[dict]) -> str:
    """Parameters, seconds per epoch and the largest equivariance error of the trained models."""
    return (f"{records[0]['params']:,} | {statistics.mean(r['seconds_per_epoch'] for r in records):.0f} | "
            f"{max(r['equivariance_error'] for r in records):.1e}")


def model_name(model: str, group: str | None, features: str) -> str:
    if model in ("egnn", "mpnn"):
        return {"egnn": "EGNN (ours)", "mpnn": "message passing, not equivariant"}[model]
    kernels = "escnn analytic kernels" if model == "analytic" else "implicit kernels"
    return f"{group} {kernels}, {KERNELS[features]}"


def ablation_table(runs: dict[tuple, list[dict]], budget: tuple[int, int]) -> str:
    head = ["kernels", "HOMO MAE (meV)", "paper (meV)", "params", "s / epoch", "equivariance error"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---:|---:|---:|---:|"]
    for model, group, features in ABLATION:
        records = runs.get((model, group, features, ("homo",), *budget))
        if records:
            paper = PAPER_ABLATION.get((model, features), "-") if group == "O(3)" else "-"
            lines.append(f"| {model_name(model, group, features)} | {cell(records, 'test_homo', '.1f')} | {paper} | "
                         f"{costs(records)} |")
    return "\n".join(lines)


def side_by_side_table(runs: dict[tuple, list[dict]], budget: tuple[int, int]) -> str:
    head = ["model", "HOMO MAE (meV)", "published (meV)", "params", "s / epoch", "equivariance error"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---:|---:|---:|---:|"]
    rows = [("implicit", "O(3)", "atom"), ("analytic", "O(3)", "none"), ("egnn", "O(3)", "none"),
            ("mpnn", None, "none")]
    published = {"implicit": "~30.6 (implicit-kernel paper)", "egnn": "29 (EGNN paper)"}
    for model, group, features in rows:
        records = runs.get((model, group, features, ("homo",), *budget))
        if records:
            lines.append(f"| {model_name(model, group, features)} | {cell(records, 'test_homo', '.1f')} | "
                         f"{published.get(model, '-')} | {costs(records)} |")
    return "\n".join(lines)


def training_spread(sizes: list[int]) -> dict[str, float]:
    """Standard deviation of every target over the training molecules of ``sizes`` (the
    polarizability's components and its trace against that of ``alpha``)."""
    train = load_splits(tuple(sizes))["train"]
    spread = {name: float(train.target(name).std()) for name in TARGETS}
    return {**spread, "polarizability": spread["alpha"], "alpha_trace": spread["alpha"]}


def targets_table(records: list[dict]) -> str:
    keys = [key[len("test_"):] for key in records[0] if key.startswith("test_") and key != "test_loss"]
    head = ["target", "unit", "test MAE", "EGNN published", "training std"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|---:|"]
    names = {"mu": "mu (size of the predicted dipole vector)",
             "polarizability": "polarizability tensor (mean over its 9 components, principal axes)",
             "alpha_trace": "alpha from the tensor's trace"}
    spread = training_spread(records[0]["sizes"])
    for key in keys:
        lines.append(f"| {names.get(key, key)} | {UNITS[key]} | {cell(records, f'test_{key}', '.3g')} | "
                     f"{EGNN_PUBLISHED.get(key, '-')} | {spread[key]:.3g} |")
    return "\n".join(lines)


def plot(runs: dict[tuple, list[dict]], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    shown = [key for key in runs if key[3] == ("homo",)]
    main_budget = budgets(runs)[0]
    for k, key in enumerate(sorted(shown, key=str)):
        for record in runs[key]:
            # epochs in molecules seen, so that runs on more molecules share the axis
            seen = [h["epoch"] * key[4] for h in record["history"]]
            name = model_name(*key[:3]) + ("" if key[4:] == main_budget else f", {budget_text(key[4:])}")
            ax.plot(seen, [h["val_homo"] for h in record["history"]], color=f"C{k}", marker="o", markersize=3,
                    linestyle="-" if key[4:] == main_budget else "--",
                    alpha=1.0 if record["seed"] == runs[key][0]["seed"] else 0.45,
                    label=name if record is runs[key][0] else None)
    ax.set(xlabel="training molecules seen", ylabel="validation HOMO MAE (meV)", xscale="log", yscale="log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    fig.savefig(directory / "learning_curves.png", dpi=110)
    plt.close(fig)


def budget_text(budget: tuple[int, int]) -> str:
    return f"{budget[0]:,} training molecules, {budget[1]} epochs"


def larger_budget_table(runs: dict[tuple, list[dict]], main_budget: tuple[int, int]) -> str:
    """HOMO runs at the other budgets, beside the same model's run at the main budget."""
    head = ["model", "budget", "HOMO MAE (meV)", f"at {budget_text(main_budget)}", "params", "s / epoch",
            "equivariance error"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|---:|---:|---:|"]
    for key, records in sorted(runs.items(), key=lambda item: (item[0][4:], str(item[0][:3]))):
        if key[3] != ("homo",) or key[4:] == main_budget:
            continue
        reference = runs.get((*key[:4], *main_budget))
        lines.append(f"| {model_name(*key[:3])} | {budget_text(key[4:])} | {cell(records, 'test_homo', '.1f')} | "
                     f"{'-' if reference is None else cell(reference, 'test_homo', '.1f')} | {costs(records)} |")
    return "\n".join(lines)


def section(runs: dict[tuple, list[dict]]) -> str:
    records = [r for group in runs.values() for r in group]
    main_budget, *others = budgets(runs)
    settings = sorted({(tuple(r["sizes"][1:]), r["batch_size"], r["lr"]) for r in records})
    text = "; ".join(f"the first {s[0]:,} validation and {s[1]:,} test molecules of Cormorant's split, batches of "
                     f"{batch}, Adam at {lr:g} with cosine decay" for s, batch, lr in settings)
    everything = [key for key in runs if len(key[3]) > 1 and key[4:] == main_budget]
    parts = [
        wrap(f"Machine: {machine()}; one torch thread per run, two runs at a time. Runs: {text}; the first "
             "molecules of the training split, as stated per table. Cells are the mean ± standard deviation over "
             "the seeds with every seed's value in brackets; test MAEs on all test molecules at the epoch of the "
             "best validation. Published figures come from far larger budgets (all 100,000 training molecules, "
             "hundreds of epochs)."),
        "", f"Kernel ablation on HOMO ({budget_text(main_budget)}):", "", ablation_table(runs, main_budget), "",
        f"All models on HOMO ({budget_text(main_budget)}):", "", side_by_side_table(runs, main_budget), "",
    ]
    for key in everything:
        parts += [wrap(f"Every target at once ({model_name(*key[:3])}, one network, the tasks' standardised "
                       f"errors averaged; {budget_text(main_budget)}):"), "", targets_table(runs[key]), ""]
    if others:
        parts += ["HOMO at larger budgets:", "", larger_budget_table(runs, main_budget), ""]
    parts.append("![validation HOMO MAE over training](results/learning_curves.png)")
    return "\n".join(parts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.qm9.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", nargs="+", type=Path, default=list(RECORDS),
                        help="folders with the JSON records (missing ones are skipped)")
    parser.add_argument("--markdown", type=Path, default=task_results("qm9"), help="results file to update")
    args = parser.parse_args(argv)
    runs: dict[tuple, list[dict]] = {}
    for folder in (folder for folder in args.results if folder.is_dir()):
        for key, records in load_records(folder, key=run_key).items():
            runs.setdefault(key, []).extend(records)
    update_section(args.markdown, "qm9", "QM9", section(runs))
    plot(runs, args.markdown.parent / "results")


if __name__ == "__main__":
    main()
