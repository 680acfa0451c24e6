"""Tables and learning curves of the N-body runs: ``python -m benchmarks.nbody.report``.

Reads the JSON records of :mod:`benchmarks.nbody.train` from ``<results>/full/`` (the full
protocol) and ``<results>/side/`` (all models under one equal budget, ``<model>_s<seed>.json``), and
those of :mod:`benchmarks.nbody.ensemble` from ``<results>/ensemble/``, the symmetry floors of
:mod:`benchmarks.nbody.symmetry` from ``<results>/symmetry.json`` (the benchmark's data) and
``<results>/symmetry_*.json`` (other draws) and the records of :mod:`benchmarks.nbody.reference`
from ``<results>/reference_*.json``; rewrites the marked ``nbody`` section of
``benchmarks/nbody/RESULTS.md`` (the prose around it is kept), a PNG
of the side-by-side validation curves, one of the full-protocol runs' training and validation
curves and one of the ablation's (messages, training samples) validation curves.
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

from benchmarks.results import load_records, records_machine, task_results, update_section, values, wrap  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED = {"EGNN": 0.0071, "SEGNN": 0.0043, "CGENN": 0.0039}  # test MSE reported in the three papers


def weight_decay(record: dict) -> float:
    """The run's Adam weight decay; records from before the field was added ran with the loop's
    default, 1e-12."""
    return record.get("weight_decay", 1e-12)


def ema(record: dict) -> str:
    """The decay of the weights' moving average the run validated, or a dash for the raw weights
    (also for records from before the option existed)."""
    return "-" if record.get("ema") is None else f"{record['ema']}"


def loss(record: dict) -> str:
    """The training loss: ``MSE``, or ``Huber DELTA`` for runs with ``--huber`` (records from
    before the option existed trained on the MSE)."""
    return "MSE" if record.get("huber") is None else f"Huber {record['huber']}"


def draw(record: dict) -> str:
    """The data a record ran on: the data seed, prefixed by ``EGNN`` for the stream of EGNN's
    generator (records from before the fields existed ran on our stream with seed 43)."""
    seed = record.get("data_seed", 43)
    return f"EGNN {seed}" if record.get("stream") == "egnn" else f"{seed}"


def test_systems(record: dict) -> str:
    """``data: size`` of the test split a record measured on, e.g. ``EGNN 43: 2,000``."""
    return f"{draw(record)}: {record['sizes'][2]:,}"


def schedule_note(record: dict) -> str:
    """``, constant lr`` for runs without the default cosine schedule, else nothing."""
    return ", constant lr" if record.get("schedule") == "constant" else ""


def setup(record: dict) -> str:
    """A full-protocol run's training settings: loss, weight decay, time-reversed samples,
    distillation, EMA or SWA, epochs, schedule."""
    parts = [loss(record), f"wd {weight_decay(record):.0e}"]
    if record.get("time_reversed"):
        parts.append("time-reversed samples")
    if record.get("teacher"):
        parts.append(f"distilled from {len(record['teacher'])} (weight {record['teacher_weight']})")
    if record.get("ema") is not None:
        parts.append(f"EMA {record['ema']}")
    if record.get("swa_start") is not None:
        parts.append(f"SWA from ep {record['swa_start']}")
    return ", ".join(parts) + f", {record['epochs']} ep{schedule_note(record)}"


def full_table(runs: dict[str, list[dict]]) -> str:
    """One table per data draw: a row per run."""
    by_draw: dict[str, list[tuple[str, dict]]] = {}
    for model, r in sorted(((model, r) for model, records in runs.items() for r in records),
                           key=lambda item: (draw(item[1]), item[0], setup(item[1]), item[1]["seed"])):
        by_draw.setdefault(draw(r), []).append((model, r))
    lines = []
    for data, rows in by_draw.items():
        lines += [f"Data `{data}`:", "",
                  "| model | setup | seed | best epoch | best val MSE | test MSE at best val | params | s / epoch |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {model} | {setup(r)} | {r['seed']} | {r['best_epoch']} | {r['best_val_mse']:.2e} | "
                  f"{r['test_mse_at_best_val']:.2e} | {r['params']:,} | {r['seconds_per_epoch']:.1f} |"
                  for model, r in rows]
        lines.append("")
    lines.append("Published test MSE on the same task: "
                 + ", ".join(f"{name} {value}" for name, value in PUBLISHED.items()) + ".")
    return "\n".join(lines)


def run_name(checkpoint: str) -> tuple[str, str]:
    """A checkpoint's run name and seed: ``("implicit-o3-moving_300ep", "0")`` for
    ``.../implicit-o3-moving_300ep_s0.ckpt``; the seed is empty for names without a seed suffix."""
    stem = Path(checkpoint).stem
    run, _, seed = stem.rpartition("_s")
    return (run, seed) if run and seed.isdigit() else (stem, "")


class Legend:
    """Short names for checkpoints: one letter per run name, in order of first use."""

    def __init__(self) -> None:
        self.letters: dict[str, str] = {}

    def letter(self, run: str) -> str:
        if run not in self.letters:
            self.letters[run] = chr(ord("A") + len(self.letters)) if len(self.letters) < 26 else run
        return self.letters[run]

    def network(self, checkpoint: str) -> str:
        run, seed = run_name(checkpoint)
        return f"{self.letter(run)} s{seed}" if seed else self.letter(run)

    def members(self, checkpoints: list[str]) -> str:
        """``A s0,1,2`` for checkpoints of one run that differ only in their seed, else each short
        name."""
        names = [run_name(path) for path in checkpoints]
        runs = {run for run, _ in names}
        if len(runs) == 1 and all(seed for _, seed in names):
            return f"{self.letter(runs.pop())} s{','.join(seed for _, seed in names)}"
        return ", ".join(self.network(path) for path in checkpoints)

    def markdown(self) -> str:
        return "\n".join(f"- `{letter}`: `{run}`" for run, letter in self.letters.items())


def ensemble_table(records: list[dict], legend: Legend) -> str:
    lines = ["| members | data: test systems | members' test MSE | members' mean | val MSE | test MSE "
             "| params (all) | rot. / refl. error |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in records:
        scores = r["members_test_mse"]
        lines.append(f"| {legend.members(r['checkpoints'])} | {test_systems(r)} | {values(scores)} | "
                     f"{statistics.mean(scores):.2e} | {r['val_mse']:.2e} | {r['test_mse']:.2e} | {r['params']:,} | "
                     f"{r['rotation_error']:.1e} / {r['reflection_error']:.1e} |")
    return "\n".join(lines)


def network_rows(records: list[dict], columns: tuple[str, ...], legend: Legend) -> list[str]:
    """Table rows ``| data: test systems | network | columns... |`` of the networks measured in
    ``records`` (each record's ``networks``, by checkpoint; a network that is not a checkpoint,
    such as ``ensemble``, keeps its name)."""
    return [f"| {test_systems(record)} | {legend.network(name) if name.endswith('.ckpt') or '/' in name else name} | "
            + " | ".join(f"{r[column]:.2e}" for column in columns) + " |"
            for record in records for name, r in record.get("networks", {}).items()]


def floor_table(records: list[dict], legend: Legend) -> str:
    """The floor of exactly O(3)-equivariant models per data draw and split, and the networks
    measured against it on each draw's test split."""
    lines = ["| data | split | systems | orientations | floor: MSE of the orientation average | standard error "
             "| labels that depend on the orientation |", "|---:|---|---:|---:|---:|---:|---:|"]
    for record in records:
        for split, size in zip(("val", "test"), record["sizes"][1:]):
            floor = record[split]
            lines.append(f"| {draw(record)} | {split} | {size:,} | {record['orientations']} | "
                         f"{floor['mse']:.2e} | {floor['standard_error']:.1e} | "
                         f"{100 * floor['affected_share']:.1f} % |")
    networks = network_rows(records, ("mse", "mse_to_orientation_average"), legend)
    if networks:
        lines += ["", "| data: test systems | network | test MSE | MSE to the orientation average |",
                  "|---:|---|---:|---:|", *networks]
    return "\n".join(lines)


def reference_table(records: list[dict], legend: Legend) -> str:
    """How far re-running the generator's arithmetic moves each draw's test systems, and trained
    networks' test MSE on both versions (records of :mod:`benchmarks.nbody.reference`)."""
    tolerances = list(records[0]["moved_share"]["target"])
    lines = ["Share of test systems moved by more than:", "",
             "| data: test systems | frame | " + " | ".join(f"> {t}" for t in tolerances) + " |",
             "|---:|---|" + "---:|" * len(tolerances)]
    for record in records:
        for frame, shares in record["moved_share"].items():
            lines.append(f"| {test_systems(record)} | {frame} | "
                         + " | ".join(f"{100 * shares[t]:.1f} %" for t in tolerances) + " |")
    lines += ["", "| data: test systems | network | test MSE, our simulation | test MSE, the generator's arithmetic |",
              "|---:|---|---:|---:|"]
    lines += network_rows(records, ("mse", "mse_reference"), legend)
    return "\n".join(lines)


def side_table(runs: dict[str, list[dict]]) -> str:
    lines = ["| model | lr | seeds | test MSE at best val, per seed | params | s / epoch | "
             "rotation error | reflection error |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for model, records in sorted(runs.items(), key=lambda item: statistics.mean(
            r["test_mse_at_best_val"] for r in item[1])):
        lines.append(
            f"| {model} | {records[0].get('lr', '-')} | {','.join(str(r['seed']) for r in records)} | "
            f"{values([r['test_mse_at_best_val'] for r in records])} | {records[0]['params']:,} | "
            f"{statistics.mean(r['seconds_per_epoch'] for r in records):.1f} | "
            f"{max(r['rotation_error'] for r in records):.1e} | {max(r['reflection_error'] for r in records):.1e} |")
    return "\n".join(lines)


# the ablation: the same network with the convolution's messages, linear in the sender's features,
# with tensor-product messages bilinear in both nodes' features instead, or with both
MESSAGES = {"implicit-o3-small-moving": "linear", "product-o3-small-moving": "tensor product",
            "both-o3-small-moving": "both"}
# ... trained on the protocol's input-target pairs (300 epochs) or also on the training trajectories
# run backwards (`--time-reversed`: twice the samples per epoch, 200 epochs)
SAMPLES = {False: "the protocol's pairs", True: "pairs and time-reversed"}
RECIPE_EPOCHS = {False: 300, True: 200}


def ablation_runs(full: dict[str, list[dict]]) -> dict[tuple[str, bool], list[dict]]:
    """The full-protocol runs of the ablation on EGNN's systems (MSE loss, weight decay 1e-4, EMA
    0.999, :data:`RECIPE_EPOCHS`), by model and whether they also trained on time-reversed samples."""
    def kept(r: dict, time_reversed: bool) -> bool:
        return (r.get("stream") == "egnn" and r.get("huber") is None and not r.get("teacher")
                and bool(r.get("time_reversed")) == time_reversed and r.get("ema") == 0.999
                and weight_decay(r) == 1e-4 and r["epochs"] == RECIPE_EPOCHS[time_reversed])
    runs = {(model, time_reversed): [r for r in full.get(model, []) if kept(r, time_reversed)]
            for time_reversed in SAMPLES for model in MESSAGES}
    return {key: records for key, records in runs.items() if records}


def ablation_table(runs: dict[tuple[str, bool], list[dict]], floor: float | None) -> str:
    """Per message form and training samples: test MSE per seed, their mean, and the mean's
    distance to the floor."""
    lines = ["| messages | training samples | model | params | seeds | epochs | test MSE at best val, per seed | "
             "mean | mean - floor | s / epoch |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for (model, time_reversed), records in runs.items():
        scores = [r["test_mse_at_best_val"] for r in records]
        above = "-" if floor is None else f"{statistics.mean(scores) - floor:.2e}"
        lines.append(f"| {MESSAGES[model]} | {SAMPLES[time_reversed]} | `{model}` | {records[0]['params']:,} | "
                     f"{','.join(str(r['seed']) for r in records)} | {RECIPE_EPOCHS[time_reversed]} | "
                     f"{values(scores)} | {statistics.mean(scores):.2e} | {above} | "
                     f"{statistics.mean(r['seconds_per_epoch'] for r in records):.1f} |")
    return "\n".join(lines)


def plot_ablation(runs: dict[tuple[str, bool], list[dict]], path: Path, floor: float | None) -> None:
    """Validation MSE of the ablation's runs (thin: each seed; thick: the mean over seeds), with
    CGENN's published test MSE and the test split's floor."""
    figure, axis = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    for k, ((model, time_reversed), records) in enumerate(runs.items()):
        epochs = [entry["epoch"] for entry in records[0]["history"]]
        curves = [[entry["val"] for entry in r["history"]] for r in records]
        for curve in curves:
            axis.plot(epochs, curve, color=colours(k), linewidth=0.6, alpha=0.5)
        axis.plot(epochs, [statistics.mean(column) for column in zip(*curves)], color=colours(k), linewidth=2,
                  label=f"{MESSAGES[model]} messages, {SAMPLES[time_reversed]} ({len(records)} seeds)")
    last = max(entry["epoch"] for records in runs.values() for r in records for entry in r["history"])
    references = {"CGENN (test, published)": PUBLISHED["CGENN"]}
    if floor is not None:
        references["O(3) floor (test)"] = floor
    for name, value in references.items():
        axis.axhline(value, color="grey", linestyle=":", linewidth=1)
        axis.annotate(name, (last, value), fontsize=7, ha="right", va="bottom")
    axis.set(xlabel="epoch (with time-reversed samples: twice the steps per epoch)", ylabel="validation MSE",
             yscale="log", ylim=(1e-3, 3e-2),
             title="N-body, EGNN's systems: messages linear in the sender, bilinear in both nodes, or both;\n"
                   "trained on the protocol's pairs, or also on the time-reversed trajectories")
    axis.title.set_fontsize(9)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_curves(runs: dict[str, list[dict]], path: Path) -> None:
    """Validation MSE against epochs, the mean over seeds per model, on a log scale; a network and
    its ``-moving`` variant share a colour, the variant dashed."""
    figure, axis = plt.subplots(figsize=(10, 5))
    bases = sorted({model.removesuffix("-moving") for model in runs})
    colours = plt.get_cmap("tab20" if len(bases) > 10 else "tab10")
    for model, records in sorted(runs.items()):
        epochs = [entry["epoch"] for entry in records[0]["history"]]
        curves = [[entry["val"] for entry in r["history"]] for r in records]
        axis.plot(epochs, [statistics.mean(values) for values in zip(*curves)], marker="o", markersize=3,
                  color=colours(bases.index(model.removesuffix("-moving"))),
                  linestyle="--" if model.endswith("-moving") else "-",
                  label=f"{model} ({len(records)} seed{'s' if len(records) > 1 else ''})")
    axis.set(xlabel="epoch", ylabel="validation MSE", yscale="log", title="N-body: validation MSE (mean over seeds)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def configuration(model: str, record: dict) -> str:
    """A full-protocol run's settings apart from its seed."""
    averaged = "" if record.get("ema") is None else " EMA"
    averaged += "" if record.get("swa_start") is None else f" SWA {record['swa_start']}"
    training = "" if record.get("huber") is None else f" Huber {record['huber']}"
    training += f" distilled x{len(record['teacher'])}" if record.get("teacher") else ""
    training += " time-reversed" if record.get("time_reversed") else ""
    return f"{model}{training} wd {weight_decay(record):.0e}{averaged} {record['epochs']} ep{schedule_note(record)}"


def plot_full(runs: dict[str, list[dict]], path: Path, floors: list[dict]) -> None:
    """Training loss (the epoch's mean batch loss of the raw weights: the MSE, or twice the Huber
    loss for ``--huber`` runs) and validation MSE of the full-protocol runs, one panel per data
    draw and one colour per configuration (its seeds share it), with the published test figures
    and, where a floor record of the draw exists, its test split's floor of exactly
    O(3)-equivariant models."""
    panels: dict[str, dict[str, list[dict]]] = {}
    for model, records in sorted(runs.items()):
        for r in records:
            panels.setdefault(draw(r), {}).setdefault(configuration(model, r), []).append(r)
    test_floors = {draw(record): record["test"]["mse"] for record in floors}
    figure, axes = plt.subplots(1, len(panels), figsize=(8 * len(panels), 7), sharey=True, squeeze=False)
    for axis, (data, groups) in zip(axes[0], sorted(panels.items())):
        references = dict(PUBLISHED)
        if data in test_floors:
            references["O(3) floor"] = test_floors[data]
        plot_panel(axis, groups, references)
        axis.set_title(f"data {data}", fontsize=9)
    figure.suptitle("N-body: full protocol (vertical line: best validation)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_panel(axis: plt.Axes, groups: dict[str, list[dict]], references: dict[str, float]) -> None:
    """One panel of :func:`plot_full`: the curves of each configuration's runs and horizontal
    reference lines."""
    colours = plt.get_cmap("tab10")
    for k, (name, records) in enumerate(groups.items()):
        seeds = ",".join(str(r["seed"]) for r in records)
        for i, r in enumerate(records):
            epochs = [entry["epoch"] for entry in r["history"]]
            labelled = i == 0
            axis.plot(epochs, [entry["val"] for entry in r["history"]], color=colours(k % 10), linewidth=1,
                      label=f"{name} (s{seeds}) val" if labelled else None)
            axis.plot(epochs, [entry["train"] for entry in r["history"]], linestyle="--", color=colours(k % 10),
                      linewidth=1, label=f"{name} (s{seeds}) train" if labelled else None)
            axis.axvline(r["best_epoch"], color=colours(k % 10), alpha=0.3)
    # reference lines close together are labelled alternately at the right edge and further left
    left, right = axis.get_xlim()
    for k, (name, value) in enumerate(sorted(references.items(), key=lambda item: item[1])):
        axis.axhline(value, color="grey", linestyle=":", linewidth=1)
        axis.annotate(f"{name} (test)", (right if k % 2 == 0 else left + 0.6 * (right - left), value), fontsize=7,
                      ha="right", va="bottom")
    axis.set(xlabel="epoch", ylabel="MSE", yscale="log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.1))


def egnn_test_floor(floors: list[dict]) -> float | None:
    """The floor of exactly O(3)-equivariant models on EGNN's test systems, if measured."""
    return next((record["test"]["mse"] for record in floors if record.get("stream") == "egnn"), None)


def section(full: dict[str, list[dict]], side: dict[str, list[dict]], ensembles: list[dict], floors: list[dict],
            references: list[dict], plot_link: str, full_link: str, ablation_link: str) -> str:
    legend = Legend()
    threads = {r["threads"] for records in (*full.values(), *side.values()) for r in records}
    per_run = "one torch thread" if threads <= {1} else f"{', '.join(map(str, sorted(threads)))} torch threads"
    runs = [r for records in (*full.values(), *side.values()) for r in records]
    parts = [wrap(f"Machine: {records_machine(runs)}; {per_run} per run "
                  "(`OMP_NUM_THREADS=1`), two (at times three) runs at a time on the two cores. Data: 3000 / 2000 / "
                  "2000 systems (EGNN's sizes) from seed 43, drawn from our random stream (data `43`) or from that "
                  "of EGNN's generator (data `EGNN 43`, `--stream egnn`: the initial states of the systems behind "
                  "the published figures). Adam, batch 100, cosine learning rate unless stated, test MSE at the "
                  "best validation epoch (validation every 5 epochs for the full protocol, every 3 for the "
                  "side-by-side runs)."), ""]
    if full:
        parts += ["### Full protocol", "",
                  wrap("Setup: the training loss, Adam's weight decay (wd), the decay of the weights' moving "
                       "average that was validated and kept (EMA, `--ema`) and the number of epochs (ep)."), "",
                  full_table(full), "", f"![N-body full protocol]({full_link})", ""]
    ablation = ablation_runs(full)
    if ablation:
        parts += ["### Ablation: messages and training samples", "",
                  wrap("The half-width moving network with the convolution's messages (linear in the sender's "
                       "features), with `TensorProduct` messages of both nodes' features instead, or with both "
                       "summed, on EGNN's systems under the full protocol's recipe (the rows above); trained on "
                       "the protocol's input-target pairs, or also on the training trajectories run backwards "
                       "(`--time-reversed`: target frame to input frame, which uses the training trajectories' "
                       "velocities at the target frame; 200 epochs of twice the samples, 12,000 steps against "
                       "9,000). The floor is that of exactly O(3)-equivariant models on the same test systems "
                       "(below)."), "",
                  ablation_table(ablation, egnn_test_floor(floors)), "",
                  f"![N-body ablation]({ablation_link})", ""]
    tables = []
    if ensembles:
        tables += ["### Ensembles", "",
                   wrap("The mean prediction of independently trained networks (each member's best-by-validation "
                        "weights; `python -m benchmarks.nbody.ensemble`), by checkpoint letter and seeds (legend "
                        "above). Rows on other data than the members' measure them on other systems (that data's "
                        "training split is unused); a row with one member is a single network. The errors are "
                        "relative output errors under random rotations and rotation-reflections (float32)."), "",
                   ensemble_table(ensembles, legend), ""]
    if floors:
        tables += ["### Floor of equivariant models", "",
                   wrap("The floor of exactly O(3)-equivariant models: the MSE of the labels' average over random "
                        "orientations of each system (re-simulated from the input frame; "
                        "`python -m benchmarks.nbody.symmetry`). The clipped force makes labels depend on the "
                        "orientation, so no equivariant network can beat it in expectation; a network's MSE is "
                        "about the floor plus its MSE to the orientation average. With K orientations the "
                        "estimate is high by about 1/K of itself."), "", floor_table(floors, legend), ""]
    if references:
        tables += ["### Our simulation against the generator's arithmetic", "",
                   wrap("The generator's formulas re-run one system at a time from the same initial states "
                        "(`python -m benchmarks.nbody.reference`): close encounters amplify rounding "
                        "differences, so some systems end elsewhere. The share of test systems whose input or "
                        "target positions move, and trained networks' test MSE on both versions."), "",
                   reference_table(references, legend), ""]
    if legend.letters:
        parts += ["Checkpoints in the tables below (`egnn-data_...`: trained on data `EGNN 43`, the others on "
                  "`43`):", "", legend.markdown(), ""]
    parts += tables
    if side:
        epochs = sorted({r["epochs"] for records in side.values() for r in records})
        parts += ["### All models under one budget", "",
                  wrap(f"Every model trained for {', '.join(map(str, epochs))} epochs with the same seeds, at its "
                       "default learning rate (lr). The test MSE of each seed is given in seed order. The "
                       "equivariance errors are the trained models' relative output errors under random "
                       "rotations / rotation-reflections and translations of the inputs (float32), the "
                       "largest over seeds."), "", side_table(side), "",
                  f"![N-body validation curves]({plot_link})"]
    return "\n".join(parts).rstrip()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nbody.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(RESULTS), help="folder with full/ and side/ JSON records")
    parser.add_argument("--markdown", default=str(task_results("nbody")), help="results file to update")
    parser.add_argument("--markdown-only", action="store_true",
                        help="rewrite the tables only, leave the PNG plots as they are")
    args = parser.parse_args(argv)
    results = Path(args.results)
    full, side = (load_records(results / part, key=lambda r: r["model"]) for part in ("full", "side"))
    ensembles = [json.loads(path.read_text()) for path in sorted((results / "ensemble").glob("*.json"))]
    # symmetry.json: the benchmark's own data; symmetry_*.json: other draws
    own, others = results / "symmetry.json", sorted(results.glob("symmetry_*.json"))
    floors = [json.loads(path.read_text()) for path in ([own] if own.exists() else []) + others]
    references = [json.loads(path.read_text()) for path in sorted(results.glob("reference_*.json"))]
    plot, full_plot = results / "learning_curves.png", results / "full_protocol.png"
    ablation_plot = results / "message_ablation.png"
    if side and not args.markdown_only:
        plot_curves(side, plot)
    if full and not args.markdown_only:
        plot_full(full, full_plot, floors)
    if ablation_runs(full) and not args.markdown_only:
        plot_ablation(ablation_runs(full), ablation_plot, egnn_test_floor(floors))
    markdown = Path(args.markdown)

    def link(path: Path) -> str:
        return Path(os.path.relpath(path, markdown.resolve().parent)).as_posix()

    update_section(markdown, "nbody", "N-body (charged particles)",
                   section(full, side, ensembles, floors, references, link(plot), link(full_plot),
                           link(ablation_plot)))


if __name__ == "__main__":
    main()
