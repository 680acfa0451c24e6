"""``python -m benchmarks.speed.compiled``: a point network eager and under ``torch.compile``.

The network is ``PointConv -> Gate -> PointConv`` on the point case's fields (O(3),
``2x(0e + 1o + 2e)``) and radius graph. It runs three ways on the same inputs, in one process:

* **eager, edge_index**: every layer derives its neighbour tables from ``edge_index``;
* **eager, tables**: one :class:`~implicit_kernels.NeighbourTables` shared by both layers, with
  :data:`SLOTS` neighbour slots per group;
* **compiled, tables**: ``torch.compile(network, fullgraph=True)`` on the shared tables (the
  first training step and the first inference, which compile, are timed apart).

Times are medians of interleaved repeats (:func:`benchmarks.speed.cases.time_layers`): inference
and a training step (forward+backward, loss ``sum(y^2)``). Writes ``results/compiled_<device>.json``
and the ``speed-compiled`` section of ``benchmarks/speed/RESULTS.md``.

Options: ``--quick`` (tiny sizes, for the smoke test), ``--backend`` (``torch.compile``'s, default
``inductor``; ``eager`` captures the graph without generating code), ``--threads`` (default 1),
``--device``, ``--out``, ``--results`` (``-`` for none).
"""

from __future__ import annotations

import time
from dataclasses import asdict

import torch
from torch import nn

from benchmarks.results import run_record, wrap
from benchmarks.speed import command
from benchmarks.speed.cases import NEIGHBOURS, POINT_RADIUS, point_inputs, time_layers
from benchmarks.speed.peers import our_fields
from implicit_kernels import NeighbourTables, PointConv
from implicit_kernels.nn import Gate

SECTION = "speed-compiled"
# neighbour slots per group of the shared tables: torch.compile traces and generates code for every
# group, so fewer groups compile faster, while very large ones slow the eager backward pass (the
# trade-off is measured in NOTES.md)
SLOTS = 16384


class PointNetwork(nn.Module):
    """``PointConv -> Gate -> PointConv``, fields ``2x(0e + 1o + 2e)`` throughout."""

    def __init__(self, avg_degree: float):
        super().__init__()
        fields = our_fields()
        self.first = PointConv(fields, fields, radius=POINT_RADIUS, avg_degree=avg_degree)
        self.gate = Gate(fields)
        self.second = PointConv(fields, fields, radius=POINT_RADIUS, avg_degree=avg_degree)

    def forward(self, f: torch.Tensor, pos: torch.Tensor, edges: torch.Tensor | NeighbourTables) -> torch.Tensor:
        return self.second(self.gate(self.first(f, pos, edges)), pos, edges)


def run(points: int, repeats: int, device: torch.device, backend: str) -> dict:
    f, pos, edge_index = point_inputs(points, device)
    tables = NeighbourTables(edge_index, points, max_slots=SLOTS)
    network = PointNetwork(edge_index.shape[1] / points).to(device)
    compiled = torch.compile(network, fullgraph=True, backend=backend)
    # compile every variant the timing calls: a training step on features that need a gradient,
    # and inference without autograd (grad mode and requires_grad are guarded, so each compiles once)
    start = time.perf_counter()
    compiled.train()
    compiled(f.detach().requires_grad_(), pos, tables).square().sum().backward()
    compiled.eval()
    with torch.no_grad():
        compiled(f, pos, tables)
    compile_s = time.perf_counter() - start
    rows = time_layers("compiled", {"eager, edge_index": lambda: network, "eager, tables": lambda: network,
                                    "compiled, tables": lambda: compiled},
                       {"eager, edge_index": (f, pos, edge_index), "eager, tables": (f, pos, tables),
                        "compiled, tables": (f, pos, tables)}, repeats, device)
    return {"points": points, "edges": edge_index.shape[1], "max_slots": SLOTS, "groups": len(tables.groups),
            "backend": backend, "compile_s": compile_s,
            "rows": [asdict(r) for r in rows]}


def markdown(results: dict) -> str:
    rows, groups = results["rows"], results["groups"]
    reference = next(r for r in rows if r["layer"] == "eager, edge_index")
    lines = [
        *command.header(results),
        wrap(f"`PointConv -> Gate -> PointConv`, O(3) fields 2x(0e+1o+2e), {results['points']} points, "
             f"{results['edges']} edges (about {NEIGHBOURS} neighbours per unit ball), shared tables in "
             f"{groups} group{'s' if groups != 1 else ''} of at most {results['max_slots']} neighbour slots, "
             f"backend `{results['backend']}`. Compiling (the first training step and the first inference) took "
             f"{results['compile_s']:.0f} s."),
        "",
        "| network | forward ms | forward+backward ms | fwd+bwd / eager with edge_index |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['layer']} | {r['forward_ms']:.1f} | {r['train_ms']:.1f} | "
                     f"{r['train_ms'] / reference['train_ms']:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = command.parser("python -m benchmarks.speed.compiled", __doc__, "tiny sizes (a smoke run)")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is available")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    measured = run(64 if args.quick else 4096, 1 if args.quick else 5, torch.device(args.device), args.backend)
    results = {**run_record("python -m benchmarks.speed.compiled", argv, args.threads, start),
               "device": args.device, **measured}
    command.publish(results, markdown(results), args, f"compiled_{args.device}", SECTION, "Eager and compiled")
    return results


if __name__ == "__main__":
    main()
