"""Tables of the speed benchmark: Markdown for ``benchmarks/speed/RESULTS.md`` and the terminal.

``python -m benchmarks.speed.report`` rewrites the marked ``speed`` and ``speed-blocks`` sections
of ``benchmarks/speed/RESULTS.md`` from the recorded ``speed_cpu.json`` and ``results/blocks_cpu.json``
without running anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.results import markers, task_results, update_section, wrap
from benchmarks.speed.cases import Row

BEGIN, END = markers("speed")
HERE = Path(__file__).resolve().parent
RESULTS_MD = task_results("speed")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _ratio(value: float | None, reference: float | None) -> str:
    return "-" if value is None or not reference else f"{value / reference:.2f}x"


def layer_table(rows: list[Row], reference: str, memory: bool = False) -> str:
    """One case's rows, with times (and memory) as multiples of the ``reference`` row."""
    ref = next(r for r in rows if r.layer == reference)
    head = "| layer | construct ms | forward ms | forward+backward ms | fwd+bwd / ref |"
    rule = "|---|---:|---:|---:|---:|"
    if memory:
        head += " peak MB (fwd+bwd) | memory / ref |"
        rule += "---:|---:|"
    lines = [head, rule]
    for r in rows:
        name = f"**{r.layer}** (ref)" if r.layer == reference else r.layer
        line = (f"| {name} | {_ms(r.construct_ms)} | {_ms(r.forward_ms)} | {_ms(r.train_ms)} | "
                f"{_ratio(r.train_ms, ref.train_ms)} |")
        if memory:
            line += f" {_ms(r.peak_mb)} | {_ratio(r.peak_mb, ref.peak_mb)} |"
        lines.append(line)
    return "\n".join(lines)


def kernel_table(rows: list[dict]) -> str:
    lines = ["| points | ours ms | escnn basis ms | escnn / ours | ours MB | escnn MB |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['points']} | {_ms(r['implicit_ms'])} | {_ms(r['analytic_ms'])} | "
            f"{_ratio(r['analytic_ms'], r['implicit_ms'])} | {_ms(r['implicit_mb'])} | {_ms(r['analytic_mb'])} |"
        )
    return "\n".join(lines)


def clifford_table(rows: list[Row]) -> str:
    lines = ["| space | ours forward ms | ours fwd+bwd ms | conv fwd+bwd ms | ours / conv (fwd+bwd) "
             "| ours construct ms |",
             "|---|---:|---:|---:|---:|---:|"]
    for group in dict.fromkeys(r.layer.rsplit(" ", 1)[1] for r in rows):
        ours = next(r for r in rows if r.layer == f"ours GridConv {group}")
        conv = next(r for r in rows if r.layer.startswith("F.conv3d") and r.layer.endswith(group))
        lines.append(f"| {group} | {_ms(ours.forward_ms)} | {_ms(ours.train_ms)} | {_ms(conv.train_ms)} | "
                     f"{_ratio(ours.train_ms, conv.train_ms)} | {_ms(ours.construct_ms)} |")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """The whole section: set-up, then one table per case."""
    s = results["sizes"]
    grid = [Row(**r) for r in results["grid"]]
    point = [Row(**r) for r in results["point"]]
    clifford = [Row(**r) for r in results["clifford"]]
    return "\n".join([
        wrap(f"Machine: {results['machine']}; device {results['device']}; torch {results['torch']}, "
             f"{results['threads']} thread(s); {results['date']}. Command ({results['wall_s']:.0f} s wall):"),
        "",
        f"    {results['command']}",
        "",
        f"**Grid**: batch {s['grid_batch']} x {s['grid_side']}^3, kernel {s['kernel_size']}^3, "
        "O(3) fields 2x(0e+1o+2e), 18 -> 18 channels.",
        "",
        layer_table(grid, "F.conv3d (same weight shape)"),
        "",
        f"**Point**: {s['points']} points, radius graph with {results['edges']} edges "
        f"({results['edges'] / s['points']:.1f} per point), same fields.",
        "",
        layer_table(point, "ours PointConv", memory=True),
        "",
        wrap("**Kernel evaluation** alone (no autograd, on the CPU) at m points in the ball of radius 1.5, same "
             "fields: ours against sampling escnn's analytic basis and contracting it with one weight per element "
             "(in chunks of 10^3 points"
             + (f"; up to {s['analytic_limit']} points, since the chunks make its time linear in the points"
                if s.get("analytic_limit") else "") + ")."),
        "",
        kernel_table(results["kernel"]),
        "",
        wrap(f"**Clifford GridConv**, `2*multivector` fields (16 channels), batch {s['grid_batch']} x "
             f"{s['grid_side']}^3, kernel {s['kernel_size']}^3, against a plain conv3d of the same weight shape."),
        "",
        clifford_table(clifford),
    ])


def update_results(path: Path, section: str) -> None:
    """Replace the speed section of ``path`` (appending it if missing)."""
    update_section(path, "speed", "Speed and memory", section)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.report",
                                     description="Rewrite the speed sections of the results file from the records.")
    parser.add_argument("--speed", type=Path, default=HERE / "speed_cpu.json",
                        help="record of python -m benchmarks.speed")
    parser.add_argument("--blocks", type=Path, default=HERE / "results" / "blocks_cpu.json",
                        help="record of python -m benchmarks.speed.blocks")
    parser.add_argument("--markdown", type=Path, default=RESULTS_MD, help="results file to update")
    args = parser.parse_args(argv)
    from benchmarks.speed import blocks  # imports e3nn

    if args.speed.exists():
        update_results(args.markdown, markdown(json.loads(args.speed.read_text())))
    if args.blocks.exists():
        update_section(args.markdown, blocks.SECTION, "Blocks of implicit_kernels.nn against e3nn",
                       blocks.markdown(json.loads(args.blocks.read_text())))


if __name__ == "__main__":
    main()
