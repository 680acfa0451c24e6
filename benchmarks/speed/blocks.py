"""``python -m benchmarks.speed.blocks``: our ``implicit_kernels.nn`` blocks against e3nn's on the
same O(3) irreps and batch, in one process; writes ``results/blocks_<device>.json`` and ``.md`` and
the ``speed-blocks`` section of ``benchmarks/speed/RESULTS.md``.

Pairs (fields ``m x (0e + 1o + 2e)``, ours as escnn irreps ``(0,0) (1,1) (0,2)``, whose parity
under ``-I`` is ``(-1)^j``):

* ``Linear`` against ``o3.Linear`` (``m = 32``, two batches);
* ``Gate`` against ``e3nn.nn.Gate``: ours maps ``rep -> rep`` and computes its gates from the
  invariants; e3nn's takes the same scalars and gated fields **plus** the ``64`` gate scalars it
  needs as extra input channels (288 -> 288 for ours, 352 -> 288 for e3nn's);
* ``TensorProduct`` against ``o3.FullyConnectedTensorProduct``: ``m x (0e + 1o + 2e)`` times
  ``0e + 1o + 2e`` (SEGNN-like messages; ``m = 16`` and a wider ``m = 32``), and times
  ``m x (0e + 1o + 2e)`` (both inputs with copies, as in a tensor square; ``m = 8``).

Times are medians of interleaved repeats (:func:`benchmarks.speed.cases.time_layers`), for
inference and for a training step (forward+backward, loss ``sum(y^2)``); the ratio is ours / e3nn.
Construction is timed twice: **cold**, the first build in a fresh process (no solver or escnn
caches; imports excluded), and **warm**, a rebuild in this process.

Options: ``--quick`` (tiny sizes, for the smoke test), ``--threads`` (default 1), ``--no-cold``
(skip the fresh-process builds), ``--out`` (folder of the JSON and Markdown), ``--results`` (the
Markdown file whose section is replaced; ``-`` for none).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import e3nn
import torch
import torch.nn.functional as F
from e3nn import o3
from e3nn.nn import Gate as E3nnGate
from torch import nn

from benchmarks.results import run_record, update_section
from benchmarks.speed import command
from benchmarks.speed.cases import time_layers
from groups import Rep, get_group, solver_cache
from implicit_kernels.nn import Gate, Linear, TensorProduct

HERE = Path(__file__).resolve().parent
SECTION = "speed-blocks"


@dataclass(frozen=True)
class BlockSizes:
    """Multiplicities and batches of the cases (``full()``: the reported ones; ``quick()``: a smoke run)."""

    linear_multiplicity: int
    linear_batches: tuple[int, ...]
    gate_batch: int
    tp_multiplicities: tuple[tuple[int, int], ...]  # (copies in the first input, in the second)
    tp_batch: int
    repeats: int

    @classmethod
    def full(cls) -> BlockSizes:
        return cls(linear_multiplicity=32, linear_batches=(1024, 8192), gate_batch=4096,
                   tp_multiplicities=((16, 1), (32, 1), (8, 8)), tp_batch=4096, repeats=9)

    @classmethod
    def quick(cls) -> BlockSizes:
        return cls(linear_multiplicity=2, linear_batches=(16,), gate_batch=16,
                   tp_multiplicities=((2, 1), (2, 2)), tp_batch=16, repeats=1)


def our_irreps(m: int) -> Rep:
    """``m x (0e + 1o + 2e)`` as escnn's O(3) irreps, grouped by type like e3nn's irreps string."""
    G = get_group("O(3)")
    return m * G.irrep(0, 0) + m * G.irrep(1, 1) + m * G.irrep(0, 2)


def e3nn_irreps(m: int) -> o3.Irreps:
    return o3.Irreps(f"{m}x0e+{m}x1o+{m}x2e")


@dataclass(frozen=True)
class Block:
    """One pair of builders (ours, e3nn's) for one set of irreps."""

    name: str
    irreps: str
    ours: Callable[[], nn.Module]
    e3nn: Callable[[], nn.Module]
    ours_inputs: Callable[[int, torch.Generator], tuple[torch.Tensor, ...]]
    e3nn_inputs: Callable[[int, torch.Generator], tuple[torch.Tensor, ...]]


def _features(*sizes: int) -> Callable[[int, torch.Generator], tuple[torch.Tensor, ...]]:
    """Inputs of shapes ``(batch, size)`` for each of ``sizes``."""
    return lambda batch, generator: tuple(torch.randn(batch, n, generator=generator) for n in sizes)


def blocks(sizes: BlockSizes) -> dict[str, Block]:
    """The compared blocks, by name."""
    m = sizes.linear_multiplicity
    size, gates = our_irreps(m).size, 2 * m
    out = {
        "Linear": Block("Linear", f"{e3nn_irreps(m)} -> same",
                        lambda: Linear(our_irreps(m), our_irreps(m)),
                        lambda: o3.Linear(e3nn_irreps(m), e3nn_irreps(m)),
                        _features(size), _features(size)),
        "Gate": Block("Gate", f"{e3nn_irreps(m)} (e3nn: +{gates}x0e gate inputs)",
                      lambda: Gate(our_irreps(m)),
                      lambda: E3nnGate(f"{m}x0e", [F.silu], f"{gates}x0e", [torch.sigmoid], f"{m}x1o+{m}x2e"),
                      _features(size), _features(size + gates)),
    }
    for k, k_b in sizes.tp_multiplicities:
        out[f"TensorProduct {k}x x {k_b}x"] = Block(
            "TensorProduct", f"({e3nn_irreps(k)}) x ({e3nn_irreps(k_b)}) -> {e3nn_irreps(k)}",
            lambda k=k, k_b=k_b: TensorProduct(our_irreps(k), our_irreps(k_b), our_irreps(k)),
            lambda k=k, k_b=k_b: o3.FullyConnectedTensorProduct(e3nn_irreps(k), e3nn_irreps(k_b), e3nn_irreps(k)),
            _features(our_irreps(k).size, our_irreps(k_b).size), _features(our_irreps(k).size, our_irreps(k_b).size))
    return out


def cases(sizes: BlockSizes) -> list[tuple[str, int]]:
    """``(block name, batch)`` of every timed case."""
    named = blocks(sizes)
    out = [("Linear", batch) for batch in sizes.linear_batches] + [("Gate", sizes.gate_batch)]
    return out + [(name, sizes.tp_batch) for name in named if name.startswith("TensorProduct")]


def cold_construct_ms(block: str, library: str, quick: bool) -> float:
    """Milliseconds of the first build of ``block`` (``library`` ``ours`` or ``e3nn``) in a fresh
    process, imports excluded."""
    command = [sys.executable, "-m", "benchmarks.speed.blocks", "--construct", block, library]
    command += ["--quick"] if quick else []
    environment = dict(os.environ, **{solver_cache.ENVIRONMENT: "off"})  # every basis solved
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE.parent.parent, env=environment)
    return float(done.stdout.strip().splitlines()[-1])


def warm_construct_ms(build: Callable[[], nn.Module], repeats: int = 3) -> float:
    """Median milliseconds of rebuilding a block in this process (after one build)."""
    build()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        build()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def run(sizes: BlockSizes, quick: bool, cold: bool) -> list[dict]:
    """Every case's times (ms) for both libraries, with the construction times of its blocks."""
    named = blocks(sizes)
    construct = {}
    for name, block in named.items():
        for library in ("ours", "e3nn"):
            construct[name, library] = {
                "cold_ms": cold_construct_ms(name, library, quick) if cold else None,
                "warm_ms": warm_construct_ms(getattr(block, library)),
            }
    rows = []
    for name, batch in cases(sizes):
        block = named[name]
        generator = torch.Generator().manual_seed(0)
        inputs = {"ours": block.ours_inputs(batch, generator), "e3nn": block.e3nn_inputs(batch, generator)}
        timed = time_layers(name, {"ours": block.ours, "e3nn": block.e3nn}, inputs, sizes.repeats,
                            torch.device("cpu"))
        rows.append({
            "block": name, "irreps": block.irreps, "batch": batch,
            **{row.layer: {"forward_ms": row.forward_ms, "train_ms": row.train_ms, **construct[name, row.layer]}
               for row in timed},
        })
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def markdown(results: dict) -> str:
    """The section: set-up, the table of training steps and ratios, then construction times."""
    lines = [
        *command.header(results, f", e3nn {results['e3nn']}"),
        "Training step = forward+backward with loss `sum(y^2)` (gradients for the input features and all "
        "parameters); medians of interleaved repeats. e3nn's Gate takes the gate scalars as extra input "
        "channels; ours computes its gates from the invariants of the fields.",
        "",
        "| block | irreps | batch | ours fwd+bwd ms | e3nn fwd+bwd ms | ours / e3nn | ours fwd ms | e3nn fwd ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        ours, e3nn = r["ours"], r["e3nn"]
        lines.append(
            f"| {r['block']} | {r['irreps']} | {r['batch']} | {_ms(ours['train_ms'])} | {_ms(e3nn['train_ms'])} | "
            f"{ours['train_ms'] / e3nn['train_ms']:.2f}x | {_ms(ours['forward_ms'])} | {_ms(e3nn['forward_ms'])} |"
        )
    lines += ["", "Construction (ms): cold = first build in a fresh process, warm = rebuild in the same process.",
              "", "| block | ours cold | ours warm | e3nn cold | e3nn warm |", "|---|---:|---:|---:|---:|"]
    seen = {}
    for r in results["rows"]:
        seen.setdefault(r["block"], r)
    for name, r in seen.items():
        lines.append(f"| {name} | {_ms(r['ours']['cold_ms'])} | {_ms(r['ours']['warm_ms'])} | "
                     f"{_ms(r['e3nn']['cold_ms'])} | {_ms(r['e3nn']['warm_ms'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.blocks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-cold", dest="cold", action="store_false", help="skip the fresh-process builds")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--construct", nargs=2, metavar=("BLOCK", "LIBRARY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = BlockSizes.quick() if args.quick else BlockSizes.full()
    if args.construct:
        build = getattr(blocks(sizes)[args.construct[0]], args.construct[1])
        start = time.perf_counter()
        build()
        print(1000 * (time.perf_counter() - start))
        return None
    start = time.perf_counter()
    rows = run(sizes, args.quick, args.cold)
    results = {
        **run_record("python -m benchmarks.speed.blocks", argv, args.threads, start),
        "e3nn": e3nn.__version__,
        "sizes": asdict(sizes),
        "rows": rows,
    }
    section = markdown(results)
    print(section)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "blocks_cpu.json").write_text(json.dumps(results, indent=2))
    (args.out / "blocks_cpu.md").write_text(section + "\n")
    if args.results != "-":
        update_section(Path(args.results), SECTION, "Blocks of implicit_kernels.nn against e3nn", section)
    return results


if __name__ == "__main__":
    main()
