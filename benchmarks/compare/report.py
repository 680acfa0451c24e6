"""Tables of the implicit-vs-analytic comparison: ``python -m benchmarks.compare.report``.

Reads the rows that ``python -m implicit_kernels compare --all --report benchmarks/compare`` wrote
to ``compare.json`` and rewrites the marked ``compare`` section of ``benchmarks/compare/RESULTS.md``
(the prose around it is kept). Nothing is run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.results import task_results, update_section

HERE = Path(__file__).resolve().parent


def fields(row: dict) -> tuple[str, str]:
    """The rep pair of a row and its options (``default`` for none)."""
    pair = f"`{row['rep_in']}` -> `{row['rep_out']}`"
    options = ", ".join(f"{key}={value}" for key, value in row["options"].items()) or "default"
    return pair, options


def section(rows: list[dict]) -> str:
    letters: dict[str, str] = {}
    for row in rows:
        letters.setdefault(fields(row)[0], chr(ord("A") + len(letters)))

    def label(row: dict) -> str:
        pair, options = fields(row)
        return letters[pair] if options == "default" else f"{letters[pair]}, {options}"

    lines = ["Rep pairs (`fields` column; an option after the letter picks an incomplete variant):", ""]
    lines += [f"- `{letter}`: {pair}" for pair, letter in letters.items()]
    lines += ["", "Exactness:", "",
              "| group | fields | equiv. f32 implicit / analytic | equiv. f64 implicit / analytic | span residual |",
              "|---|---|---|---|---:|"]
    lines += [f"| {r['group']} | {label(r)} | {r['implicit_error_f32']:.1e} / {r['analytic_error_f32']:.1e} | "
              f"{r['implicit_error_f64']:.1e} / {r['analytic_error_f64']:.1e} | {r['span_residual']:.1e} |"
              for r in rows]
    lines += ["", "Completeness and fit:", "",
              "| group | fields | rank implicit / analytic / dim Hom_H | coverage | fit error | params / basis size |",
              "|---|---|---|---:|---:|---|"]
    lines += [f"| {r['group']} | {label(r)} | {r['implicit_rank']} / {r['analytic_rank']} / {r['hom_dim']} | "
              f"{r['coverage']:.3f} | {r['fit_error']:.3f} | {r['implicit_params']} / {r['analytic_basis_size']} |"
              for r in rows]
    costs = [(r, c) for r in rows for c in r.get("cost", [])]
    if costs:
        lines += ["", "Cost of evaluating a kernel at m points:", "",
                  "| group | fields | points | implicit ms | analytic ms | implicit MB | analytic MB |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['group']} | {label(r)} | {c['points']} | {c['implicit_ms']:.1f} | {c['analytic_ms']:.1f} | "
                  f"{c['implicit_mb']:.0f} | {c['analytic_mb']:.0f} |" for r, c in costs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=Path, default=HERE / "compare.json", help="compare.json of a --report run")
    parser.add_argument("--markdown", type=Path, default=task_results("compare"), help="results file to update")
    args = parser.parse_args(argv)
    update_section(args.markdown, "compare", "Implicit vs analytic kernels", section(json.loads(args.rows.read_text())))


if __name__ == "__main__":
    main()
