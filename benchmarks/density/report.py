"""The density results: ``python -m benchmarks.density.report``.

Reads the JSON records of :mod:`benchmarks.density.train` in ``--results`` and rewrites the marked
``density`` section of ``benchmarks/density/RESULTS.md`` (the percent density error ``eps`` by
hidden ``l_max`` and output order, ``eps`` per degree, the peer, parameters and time) and the two
plots beside the records: ``eps_by_lmax.png`` and ``feature_sizes.png`` (the root-mean-square size
of the hidden features per degree over training, from :class:`~implicit_kernels.nn.FeatureMonitor`).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from benchmarks.results import load_records, mean_std, records_machine, task_results, update_section, wrap

RESULTS = Path(__file__).resolve().parent / "results"
OUTPUT_NAMES = {0: "l = 0", 1: "l <= 1", 4: "all (l <= 4)"}
DEGREES = range(5)
HIDDEN_MODULE = "gate"  # the gated hidden features after every convolution


def mean(records: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in records)


def eps_table(runs: dict[tuple, list[dict]], key: str, degree: int) -> str:
    """``key`` (an error that needs the degrees up to ``degree`` predicted) by hidden ``l_max``
    (rows) and output order (columns, those that predict ``degree``), with e3nn's network beside
    the implicit one for all output degrees."""
    hidden = sorted({h for _, h, _ in runs})
    outputs = sorted({o for model, _, o in runs if model == "implicit" and o >= degree})
    head = ["hidden l_max", *(f"implicit, output {OUTPUT_NAMES[o]}" for o in outputs), "e3nn, output all"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for h in hidden:
        groups = [runs.get(("implicit", h, o)) for o in outputs] + [runs.get(("e3nn", h, 4))]
        cells = [mean_std([r[key] for r in records], ".2f") if records else "-" for records in groups]
        lines.append(f"| {h} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def degree_table(runs: dict[tuple, list[dict]]) -> str:
    """``eps_l`` per degree of every run (means over seeds), with parameters, time and equivariance."""
    head = ["model", "hidden l_max", "output", *(f"eps_l{l}" for l in DEGREES), "eps", "coefficient MSE",
            "params", "s / epoch", "equivariance error"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|" + "---:|" * (len(head) - 3)]
    for (model, h, o), records in sorted(runs.items(), key=lambda item: (item[0][0] != "implicit", item[0][2],
                                                                         item[0][1])):
        per_degree = [f"{mean(records, f'test_eps_l{l}'):.2f}" + ("" if l <= o else " (not predicted)")
                      for l in DEGREES]
        lines.append(
            f"| {model} | {h} | {OUTPUT_NAMES[o]} | " + " | ".join(per_degree) +
            f" | {mean(records, 'test_eps'):.2f} | {mean(records, 'test_mse_at_best_val'):.3f} | "
            f"{records[0]['params']:,} | {mean(records, 'seconds_per_epoch'):.1f} | "
            f"{max(r['equivariance_error'] for r in records):.1e} |")
    return "\n".join(lines)


def feature_series(record: dict, module: str = HIDDEN_MODULE) -> dict[str, tuple[list[int], list[float]]]:
    """``label -> (steps, rms)`` of one module's recorded feature sizes."""
    series: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for row in record["feature_sizes"] or []:
        if row["module"] == module:
            series[row["label"]][0].append(row["step"])
            series[row["label"]][1].append(row["rms"])
    return dict(series)


def final_sizes_table(runs: dict[tuple, list[dict]]) -> str:
    """The hidden features' size per degree at the end of training (seed means), implicit runs."""
    lines = ["| hidden l_max | output | " + " | ".join(f"l = {l}" for l in range(4)) + " |",
             "|---:|---|" + "---:|" * 4]
    for (model, h, o), records in sorted(runs.items(), key=lambda item: (item[0][1], item[0][2])):
        if model != "implicit" or h == 0:
            continue
        finals = defaultdict(list)
        for record in records:
            for label, (_, rms) in feature_series(record).items():
                finals[label].append(rms[-1])
        cells = [f"{statistics.mean(finals[f'l={l}']):.3f}" if f"l={l}" in finals else "-" for l in range(4)]
        lines.append(f"| {h} | {OUTPUT_NAMES[o]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: dict[tuple, list[dict]], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hidden = sorted({h for model, h, _ in runs if model == "implicit"})
    outputs = sorted({o for model, _, o in runs if model == "implicit"})
    fig, axes = plt.subplots(1, len(outputs), figsize=(4.2 * len(outputs), 3.4), sharey=True)
    for ax, o in zip(axes, outputs):
        for l in range(o + 1):
            means = [mean(runs[("implicit", h, o)], f"test_eps_l{l}") for h in hidden if ("implicit", h, o) in runs]
            ax.plot(hidden[: len(means)], means, marker="o", label=f"eps_l{l}")
        if o == max(outputs):  # with degrees left out, the total is mostly the missing part
            totals = [mean(runs[("implicit", h, o)], "test_eps") for h in hidden if ("implicit", h, o) in runs]
            ax.plot(hidden[: len(totals)], totals, marker="s", color="black", label="eps (all l)")
            peer = [mean(runs[("e3nn", h, 4)], "test_eps") for h in hidden if ("e3nn", h, 4) in runs]
            ax.plot(hidden[: len(peer)], peer, marker="s", color="black", linestyle="--", label="e3nn: eps (all l)")
        ax.set(title=f"output {OUTPUT_NAMES[o]}", xlabel="hidden l_max", xticks=hidden, yscale="log")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("test density error (%)")
    fig.tight_layout()
    fig.savefig(directory / "eps_by_lmax.png", dpi=110)
    plt.close(fig)

    shown = [h for h in hidden if h > 0]
    fig, axes = plt.subplots(len(outputs), len(shown), figsize=(3.6 * len(shown), 2.8 * len(outputs)),
                             sharex=True, squeeze=False)
    for row, o in enumerate(outputs):
        for col, h in enumerate(shown):
            ax = axes[row][col]
            for record in runs.get(("implicit", h, o), []):
                for l, (label, (steps, rms)) in enumerate(sorted(feature_series(record).items())):
                    ax.plot(steps, rms, color=f"C{l}", alpha=1.0 if record["seed"] == 0 else 0.45,
                            label=label if record["seed"] == 0 else None)
            ax.set(title=f"hidden l_max {h}, output {OUTPUT_NAMES[o]}", yscale="log")
            if row == len(outputs) - 1:
                ax.set_xlabel("epoch")
            if col == 0:
                ax.set_ylabel("rms of hidden features")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(directory / "feature_sizes.png", dpi=110)
    plt.close(fig)


def section(runs: dict[tuple, list[dict]]) -> str:
    records = [r for group in runs.values() for r in group]
    settings = sorted({(tuple(r["sizes"]), r["epochs"], r["batch_size"], r["level"]["basis"]) for r in records})
    seeds = sorted({r["seed"] for r in records})
    text = "; ".join(f"{s[0]} training, {s[1]} validation and {s[2]} test clusters, {epochs} epochs of batches of "
                     f"{batch}, densities at PBE0/{basis}" for s, epochs, batch, basis in settings)
    return "\n".join([
        wrap(f"Machine: {records_machine(records)}; one torch thread per run. Runs: {text}; "
             f"seeds {', '.join(map(str, seeds))} "
             "for every row, cells are the mean ± standard deviation over them. eps is the percent error of the "
             "density on pyscf's integration grid (level 1) against the fitted density of the test cluster, averaged "
             "over the test clusters; a model that predicts fewer degrees counts the missing ones as error."),
        "", "eps_l0, the error of the l = 0 part of the density, by hidden l_max and output order:", "",
        eps_table(runs, "test_eps_l0", 0), "",
        "eps_l1, the error of the l = 1 part:", "", eps_table(runs, "test_eps_l1", 1), "",
        "eps, the error of the whole density, for the models that predict every degree:", "",
        eps_table(runs, "test_eps", 4), "",
        "eps per degree (seed means; `not predicted`: the error of leaving that degree out):", "",
        degree_table(runs), "",
        wrap("Root-mean-square size of the hidden features per degree at the end of training (the gated "
             "features after every convolution, on the validation clusters):"), "", final_sizes_table(runs), "",
        "![eps by hidden l_max](results/eps_by_lmax.png)", "",
        "![hidden feature sizes over training](results/feature_sizes.png)"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.density.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(RESULTS), help="folder with the JSON records")
    parser.add_argument("--markdown", default=str(task_results("density")), help="results file to update")
    args = parser.parse_args(argv)
    runs = load_records(Path(args.results), key=lambda r: (r["model"], r["hidden_lmax"], r["output_lmax"]))
    update_section(Path(args.markdown), "density", "Electron densities of water clusters", section(runs))
    plot(runs, Path(args.results))


if __name__ == "__main__":
    main()
