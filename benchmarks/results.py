"""What every benchmark report shares: the machine line and the sections of ``benchmarks/RESULTS.md``.

Each benchmark owns one section of ``RESULTS.md``, delimited by HTML comment markers
(``<!-- name:begin -->`` ... ``<!-- name:end -->``), and rewrites only that section, so reports of
different benchmarks can be regenerated independently.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """CPU model, cores and memory of this machine."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        model = names[0] if names else model
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f", {total_kb / 2**20:.0f} GB"
    return f"{model}, {os.cpu_count()} cores{memory}"


def run_record(command: str, argv: list[str] | None, threads: int, start: float,
               machine_name: str | None = None) -> dict:
    """The fields every speed record starts with: machine (``machine_name`` or :func:`machine`),
    torch version, threads, date, the command line (``command`` and ``argv``, default
    ``sys.argv[1:]``) and the wall time since ``start`` (a ``time.perf_counter()`` value)."""
    return {
        "machine": machine_name or machine(),
        "torch": torch.__version__,
        "threads": threads,
        "date": datetime.date.today().isoformat(),
        "command": " ".join([command, *(sys.argv[1:] if argv is None else argv)]),
        "wall_s": time.perf_counter() - start,
    }


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def update_section(path: Path, name: str, title: str, body: str) -> None:
    """Replace the text between the markers of section ``name`` in ``path``; when they are missing,
    append ``## title`` and the marked section."""
    begin, end = markers(name)
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n## {title}\n\n" + block + "\n"
    path.write_text(text)


def load_records(directory: Path, key: Callable[[dict], object]) -> dict[object, list[dict]]:
    """The JSON records in ``directory`` grouped by ``key(record)``, each group sorted by seed."""
    groups: dict[object, list[dict]] = defaultdict(list)
    for path in sorted(directory.glob("*.json")):
        record = json.loads(path.read_text())
        groups[key(record)].append(record)
    return {name: sorted(records, key=lambda r: r["seed"]) for name, records in groups.items()}


def mean_std(values: list[float], digits: str = ".2e") -> str:
    """``mean ± sample standard deviation`` (the value alone for one run)."""
    if len(values) == 1:
        return f"{values[0]:{digits}}"
    return f"{statistics.mean(values):{digits}} ± {statistics.stdev(values):{digits}}"
