"""``python -m benchmarks.speed``: time our layers and the peers on the same inputs in one
process, print the tables, write ``speed.json`` and the section of ``benchmarks/speed/RESULTS.md``.

Options: ``--quick`` (tiny shapes, for the smoke test), ``--threads`` (default: torch's),
``--device`` (``cpu`` or ``cuda``), ``--out`` (folder of the JSON), ``--results`` (the Markdown
file whose speed section is replaced; ``-`` for none).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from benchmarks.results import machine, run_record
from benchmarks.speed import cases, memory, report

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes (a smoke run)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--results", default=str(report.RESULTS_MD))
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is available")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = cases.Sizes.quick() if args.quick else cases.Sizes.full()
    start = time.perf_counter()

    steps = tqdm(total=5, desc="speed", unit="case")
    grid = cases.grid_case(sizes, device)
    steps.update()
    point, edges = cases.point_case(sizes, device)
    steps.update()
    for row in point:
        row.peak_mb = memory.measure(row.layer, sizes.points, args.threads, device)
    steps.update()
    kernel = cases.kernel_case(sizes)
    steps.update()
    clifford = cases.clifford_case(sizes, device)
    steps.update()
    steps.close()

    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    results = {
        **run_record("python -m benchmarks.speed", argv, args.threads, start, machine() + gpu),
        "device": args.device,
        "sizes": asdict(sizes),
        "edges": edges,
        "grid": [asdict(r) for r in grid],
        "point": [asdict(r) for r in point],
        "kernel": kernel,
        "clifford": [asdict(r) for r in clifford],
    }
    section = report.markdown(results)
    print(section)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"speed_{args.device}.json").write_text(json.dumps(results, indent=2))
    if args.results != "-":
        report.update_results(Path(args.results), section)
    return results


if __name__ == "__main__":
    main()
