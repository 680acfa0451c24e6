"""What every benchmark report shares: the machine line and the marked sections of the results files.

Each benchmark writes its full tables to its own ``benchmarks/<task>/RESULTS.md``
(:func:`task_results`); ``benchmarks/RESULTS.md`` holds only the headline table. A report owns
sections of that file delimited by HTML comment markers (``<!-- name:begin -->`` ...
``<!-- name:end -->``) and rewrites only those, so the prose around them is kept.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import statistics
import sys
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
WIDTH = 100  # line length of the prose the reports write


def task_results(task: str) -> Path:
    """The results file of one benchmark, ``benchmarks/<task>/RESULTS.md``."""
    return RESULTS_MD.parent / task / "RESULTS.md"


def wrap(text: str) -> str:
    """A paragraph of generated prose broken into lines of at most :data:`WIDTH` characters
    (words, code spans and links are not split)."""
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def machine(capability: bool = True) -> str:
    """CPU model with the vector instructions torch's CPU kernels use here (``AVX2``, ``AVX512``:
    machines of the same model name differ in them, and convolutions with them; left out with
    ``capability=False``), cores and memory of this machine."""
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
    if capability:
        model = f"{model} ({torch.backends.cpu.get_cpu_capability()})"
    return f"{model}, {os.cpu_count()} cores{memory}"


def records_machine(records: list[dict]) -> str:
    """The machines named by training ``records`` (their ``machine`` field), with the number of
    runs on each where they differ. Records written before runs named their machine count as this
    machine without its vector instructions (every run of the project was on machines of that
    model name)."""
    unrecorded = f"{machine(capability=False)} (vector instructions not recorded)"
    counts = Counter(r.get("machine", unrecorded) for r in records)
    if len(counts) <= 1:
        return next(iter(counts), machine())
    return "; ".join(f"{name} for {count} run{'s' if count > 1 else ''}" for name, count in sorted(counts.items()))


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


def wrap_prose(markdown: str) -> str:
    """``markdown`` with every long line of prose wrapped by :func:`wrap`; table rows, indented
    code, list items, headings and images are left as they are."""
    kept = ("|", "    ", "!", "-", "#", "<!--")
    return "\n".join(line if len(line) <= WIDTH or line.startswith(kept) else wrap(line)
                     for line in markdown.split("\n"))


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def update_section(path: Path, name: str, title: str, body: str) -> None:
    """Replace the text between the markers of section ``name`` in ``path`` by ``body`` (its long
    lines of prose wrapped, :func:`wrap_prose`); when the markers are missing, append ``## title``
    and the marked section."""
    begin, end = markers(name)
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{wrap_prose(body)}\n{end}"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + f"## {title}\n\n" + block + "\n"
    path.write_text(text)


def load_records(directory: Path, key: Callable[[dict], object]) -> dict[object, list[dict]]:
    """The JSON records in ``directory`` grouped by ``key(record)``, each group sorted by seed."""
    groups: dict[object, list[dict]] = defaultdict(list)
    for path in sorted(directory.glob("*.json")):
        record = json.loads(path.read_text())
        groups[key(record)].append(record)
    return {name: sorted(records, key=lambda r: r["seed"]) for name, records in groups.items()}


def values(numbers: list[float], digits: str = ".2e") -> str:
    """Every run's value, in seed order: ``5.52e-03, 5.88e-03``."""
    return ", ".join(f"{value:{digits}}" for value in numbers)


def mean_std(values: list[float], digits: str = ".2e") -> str:
    """``mean ± sample standard deviation`` (the value alone for one run)."""
    if len(values) == 1:
        return f"{values[0]:{digits}}"
    return f"{statistics.mean(values):{digits}} ± {statistics.stdev(values):{digits}}"
