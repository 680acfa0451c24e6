"""``python -m benchmarks.speed.grids``: ``GridConv`` of every family against the plain convolution.

Each case is one group and field type, the same in and out: our ``GridConv``, a plain
``F.conv2d``/``F.conv3d`` with a free weight of the same shape (what every grid layer pays at
least) and, for the groups escnn has, its ``R2Conv``/``R3Conv`` on the same field types. Times are
medians of interleaved repeats (:func:`benchmarks.speed.cases.time_layers`): inference and a
training step (forward+backward, loss ``sum(y^2)``), with ratios to the plain convolution in the
same run. Writes ``results/grids_cpu.json`` and the ``speed-grids`` section of
``benchmarks/speed/RESULTS.md``.

Options: ``--quick`` (tiny grids, for the smoke test), ``--threads`` (default 1), ``--out``,
``--results`` (``-`` for none).
"""

from __future__ import annotations

import time
from dataclasses import asdict

import torch
from escnn import nn as enn
from torch import nn

from benchmarks.results import run_record, wrap
from benchmarks.speed import command
from benchmarks.speed.cases import time_layers
from benchmarks.speed.peers import OUR_FIELDS, WIDE_FIELDS, PlainConv
from groups import get_group
from groups.compact import CompactGroup
from implicit_kernels import GridConv
from implicit_kernels.rep_strings import parse_rep

SECTION = "speed-grids"
KERNEL_SIZE = 5

# (group, fields): about 40 channels on 2D grids, 18 to 64 on 3D grids
CASES = [
    ("C8", "5*regular"),
    ("D4", "5*regular"),
    ("SO(2)", "8*irrep(0)+8*irrep(1)+8*irrep(2)"),
    ("O(2)", "8*irrep(0,0)+8*irrep(1,1)+8*irrep(1,2)"),
    ("O(3)", OUR_FIELDS),
    ("O(3)", WIDE_FIELDS),
    ("O(3)-mat", "3*T(0,0)+2*T(1,0)+T(2,0)"),
    ("O(3,0)", "2*multivector"),
]


class KernelOnly(nn.Module):
    """The sampled kernel of a grid layer alone (its ``weight()``, the ``(C_out, C_in, k, ..., k)``
    conv weight), whatever the input: what a training step pays on top of the plain convolution."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.layer.weight()


class EscnnConv(nn.Module):
    """escnn's ``R2Conv``/``R3Conv`` on plain tensors (same padding) for our rep's field types."""

    def __init__(self, fields, dim: int):
        super().__init__()
        self.fields = fields
        layer = enn.R2Conv if dim == 2 else enn.R3Conv
        self.conv = layer(fields, fields, kernel_size=KERNEL_SIZE, padding=KERNEL_SIZE // 2)

    def weight(self) -> torch.Tensor:
        """The sampled filter ``(C_out, C_in, k, ..., k)``, as ``GridConv.weight``."""
        return self.conv.expand_parameters()[0]

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.conv(enn.GeometricTensor(f, self.fields)).tensor


def grid_shape(dim: int, quick: bool) -> tuple[int, ...]:
    """Batch and grid: 8 x 64^2 in 2D, 4 x 16^3 in 3D (``quick``: 1 x 8^n)."""
    if quick:
        return (1,) + (8,) * dim
    return (8, 64, 64) if dim == 2 else (4, 16, 16, 16)


def run(quick: bool, repeats: int) -> list[dict]:
    rows = []
    for group, fields in CASES:
        G = get_group(group)
        rep = parse_rep(G, fields)
        batch, *grid = grid_shape(G.n, quick)
        f = torch.randn(batch, rep.size, *grid, generator=torch.Generator().manual_seed(0))
        layers = {"plain conv": lambda n=rep.size, dim=G.n: PlainConv(n, n, KERNEL_SIZE, dim),
                  "ours GridConv": lambda rep=rep: GridConv(rep, rep, KERNEL_SIZE)}
        if isinstance(G, CompactGroup):
            layers["escnn"] = lambda rep=rep, dim=G.n: EscnnConv(rep.field_type(), dim)
        for name in list(layers)[1:]:
            layers[f"{name} kernel"] = lambda build=layers[name]: KernelOnly(build())
        timed = {row.layer: row for row in time_layers("grids", layers, (f,), repeats, torch.device("cpu"))}
        rows.append({"group": group, "fields": fields, "channels": rep.size, "shape": [batch, *grid],
                     **{name: asdict(row) for name, row in timed.items()}})
    return rows


def markdown(results: dict) -> str:
    lines = [
        *command.header(results),
        wrap(f"Kernel {KERNEL_SIZE}^n, same padding; batch and grid "
             f"{' x '.join(map(str, results['rows'][0]['shape']))} in 2D and "
             f"{' x '.join(map(str, results['rows'][-1]['shape']))} in 3D. Ratios: training step "
             "(forward+backward) over the plain convolution's."),
        "",
        wrap("The kernel columns time the sampled kernel (the conv weight) alone, forward+backward: "
             "what a training step pays on top of the plain convolution (escnn: `expand_parameters`)."),
        "",
        "| group | fields (channels) | plain fwd+bwd ms | ours / plain | escnn / plain | ours kernel ms | "
        "escnn kernel ms | ours fwd ms | ours build ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        plain, ours = r["plain conv"], r["ours GridConv"]
        escnn, escnn_kernel = "-", "-"
        if "escnn" in r:
            escnn = f"{r['escnn']['train_ms'] / plain['train_ms']:.2f}x"
            escnn_kernel = f"{r['escnn kernel']['train_ms']:.1f}"
        lines.append(f"| {r['group']} | `{r['fields']}` ({r['channels']}) | {plain['train_ms']:.0f} | "
                     f"{ours['train_ms'] / plain['train_ms']:.2f}x | {escnn} | "
                     f"{r['ours GridConv kernel']['train_ms']:.1f} | {escnn_kernel} | {ours['forward_ms']:.0f} | "
                     f"{ours['construct_ms']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = command.parser("python -m benchmarks.speed.grids", __doc__, "tiny grids (a smoke run)").parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = run(args.quick, 1 if args.quick else 5)
    results = {**run_record("python -m benchmarks.speed.grids", argv, args.threads, start), "rows": rows}
    command.publish(results, markdown(results), args, "grids_cpu", SECTION, "Every family's grid convolution")
    return results


if __name__ == "__main__":
    main()
