"""The mesh results tables and figure: ``python -m benchmarks.mesh.report``.

Reads the JSON records of :mod:`benchmarks.mesh.train` in ``--results`` and rewrites the marked ``mesh`` section
of ``benchmarks/mesh/RESULTS.md`` (one table per task, a row per model, the test errors of every seed, and the
geometry precomputation record ``results/geometry/precompute.json`` when present; the prose around it is kept).
With the saved weights of the vector task's ``implicit-so2`` and ``ambient-mpnn`` runs of seed
0 (``--save-model``) it also draws ``results/vector_field.png``: one test surface with the true flowed field and
the models' predictions as 3D arrows.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from benchmarks.results import load_records, records_machine, task_results, update_section, values, wrap

RESULTS = Path(__file__).resolve().parent / "results"
FIGURE_MODELS = ("implicit-so2", "ambient-mpnn")
TASK_TEXT = {"vector": "Vector task (tangent field -> its vector heat flow, `t = 0.15`)",
             "scalar": "Scalar task (centred vertex positions -> mean curvature)"}


def table(task: str, runs: dict[tuple[str, str], list[dict]]) -> str:
    """A row per model of ``task``, lowest mean test error first."""
    rows = sorted(((model, records) for (model, t), records in runs.items() if t == task),
                  key=lambda item: statistics.mean(r["test_error"] for r in item[1]))
    records = [r for _, group in rows for r in group]
    settings = sorted({(r["sizes"]["train"], r["sizes"]["val"], r["sizes"]["test"], r["epochs"], r["batch_size"])
                       for r in records})
    setting_text = "; ".join(f"{a} training, {b} validation and {c} test surfaces, {e} epochs, batches of {k}"
                             for a, b, c, e, k in settings)
    seeds = " or ".join(sorted({", ".join(str(r["seed"]) for r in group) for _, group in rows}))
    lines = [wrap(f"{TASK_TEXT.get(task, task)}: {setting_text}; seeds {seeds}."), "",
             "| model | params | test rel. error, per seed | val rel. error, per seed | gauge error (group) | "
             "rotation error | s / epoch |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for model, records in rows:
        lines.append(
            f"| {model} | {records[0]['params']:,} | {values([r['test_error'] for r in records], '.4f')} | "
            f"{values([r['best_val_error'] for r in records], '.4f')} | "
            f"{max(r['gauge_error'] for r in records):.1e} ({records[0]['gauge_group']}) | "
            f"{max(r['rotation_error'] for r in records):.1e} | "
            f"{statistics.mean(r['seconds_per_epoch'] for r in records):.1f} |")
    return "\n".join(lines)


def geometry_text(record: dict) -> str:
    """A sentence on the precomputed geometry: neighbours per vertex and time per split."""
    splits = record["splits"]
    parts = ", ".join(f"{name} {s['surfaces']} surfaces ({s['vertices']:,} vertices) {s['seconds']:.1f} s"
                      for name, s in splits.items())
    low = min(s["neighbours_min"] for s in splits.values())
    high = max(s["neighbours_max"] for s in splits.values())
    surfaces = sum(s["surfaces"] for s in splits.values())
    mean = sum(s["neighbours_mean"] * s["surfaces"] for s in splits.values()) / surfaces
    return wrap(f"Geometry (`python -m benchmarks.mesh.geometry`, radius {record['radius_edges']:g} mean edge "
                f"lengths): "
                f"{mean:.1f} neighbours per vertex on average (surface means {low:.1f}-{high:.1f}); precomputed "
                f"once and cached, {record['threads']} torch thread(s): {parts}.")


def section(runs: dict[tuple[str, str], list[dict]], geometry: dict | None = None) -> str:
    records = [r for group in runs.values() for r in group]
    threads = sorted({r["threads"] for r in records})
    identity = [r["identity_test_error"] for r in records if r.get("identity_test_error") is not None]
    parts = [wrap(
        f"Machine: {records_machine(records)}; {'/'.join(map(str, threads))} torch thread(s) per run, two runs at a "
        "time. Errors are the relative errors "
        "`sqrt(sum_i A_i |pred_i - y_i|^2 / sum_i A_i |y_i|^2)` averaged over the surfaces, of the weights with "
        "the best validation error, one value per seed in seed order. The gauge error is the relative change of "
        "a float64 copy of the trained model under a random change of frame at every vertex (elements of the "
        "group in brackets) with the inputs transformed accordingly; the rotation error its relative change "
        "when the first test surface is rotated rigidly in R^3 (frames and positions rotated).")]
    if identity:
        parts.append(wrap(f"Reference for the vector task: predicting the input field itself (no flow) has test "
                          f"error {statistics.mean(identity):.4f}."))
    if geometry is not None:
        parts.append(geometry_text(geometry))
    for task in sorted({t for _, t in runs}, key=lambda t: (t != "vector", t)):
        parts.append(table(task, runs))
    commands = sorted({r["command"] for r in records})
    parts.append("Commands:\n\n" + "\n".join(f"    {c}" for c in commands))
    return "\n\n".join(parts)


def draw_figure(results: Path, path: Path, index: int = 1) -> bool:
    """Test surface ``index`` (odd indices are tori) with the true flowed field and the predictions of the saved
    seed-0 vector models (:data:`FIGURE_MODELS`) as arrows in R^3, a panel per model; ``False`` when weights or
    records are missing."""
    checkpoints = {m: results / f"{m}_vector_s0.pt" for m in FIGURE_MODELS}
    records = {m: results / f"{m}_vector_s0.json" for m in FIGURE_MODELS}
    if not all(p.exists() for p in (*checkpoints.values(), *records.values())):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.mesh.data import load
    from benchmarks.mesh.geometry import surface_geometry
    from benchmarks.mesh.models import MODELS
    from benchmarks.mesh.train import example, predict

    record = json.loads(records[FIGURE_MODELS[0]].read_text())
    surface = load(progress=False)["test"][index]
    e = example(surface, surface_geometry(surface), "vector")
    frames = surface.frames[:, :2].float()
    lift = lambda c: torch.einsum("na,nax->nx", c, frames).numpy()  # noqa: E731
    x = surface.vertices.numpy()
    fig = plt.figure(figsize=(6 * len(FIGURE_MODELS), 6))
    for k, name in enumerate(FIGURE_MODELS):
        model = MODELS[name]("vector")
        model.load_state_dict(torch.load(checkpoints[name]))
        model.eval()
        with torch.no_grad():
            pred = predict(model, e)
        error = float(((e.areas * (pred - e.targets).square().sum(1)).sum()
                       / (e.areas * e.targets.square().sum(1)).sum()).sqrt())
        ax = fig.add_subplot(1, len(FIGURE_MODELS), k + 1, projection="3d")
        ax.plot_trisurf(x[:, 0], x[:, 1], x[:, 2], triangles=surface.faces.numpy(), color="0.85", alpha=0.35,
                        linewidth=0)
        scale = 0.12
        for field, colour, label in ((lift(e.targets), "tab:blue", "target (heat flow)"),
                                     (lift(pred), "tab:red", f"{name} prediction")):
            ax.quiver(x[:, 0], x[:, 1], x[:, 2], field[:, 0], field[:, 1], field[:, 2], length=scale,
                      color=colour, linewidth=0.8, arrow_length_ratio=0.3, label=label)
        ax.set_title(f"{name}: relative error {error:.3f} on this surface")
        ax.set_box_aspect(tuple(x.max(0) - x.min(0)))
        ax.set_axis_off()
        ax.legend(loc="lower left")
    fig.suptitle(f"test surface {index} ({len(x)} vertices), weights of seed 0, {record['epochs']} epochs")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mesh.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(RESULTS), help="folder with the JSON records")
    parser.add_argument("--markdown", default=str(task_results("mesh")), help="results file to update")
    parser.add_argument("--no-figure", action="store_true", help="do not draw results/vector_field.png")
    args = parser.parse_args(argv)
    runs = load_records(Path(args.results), key=lambda r: (r["model"], r["task"]))
    geometry_path = Path(args.results) / "geometry" / "precompute.json"
    geometry = json.loads(geometry_path.read_text()) if geometry_path.exists() else None
    update_section(Path(args.markdown), "mesh", "Mesh benchmark", section(runs, geometry))
    if not args.no_figure:
        draw_figure(Path(args.results), Path(args.results) / "vector_field.png")


if __name__ == "__main__":
    main()
