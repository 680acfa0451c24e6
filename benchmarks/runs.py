"""Run a benchmark's training runs as subprocesses: a few at a time, one thread each, every run's
output in its own log file."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm


def run_all(jobs: dict[str, list[str]], logs: Path, processes: int, desc: str) -> None:
    """Run ``python ARGS`` for every ``name -> ARGS`` of ``jobs`` (in their order), ``processes`` at
    a time with ``OMP_NUM_THREADS=1``, the output of each in ``logs/name.log``; ``SystemExit``
    naming the runs that failed."""
    logs.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def run(name: str) -> int:
        with open(logs / f"{name}.log", "w") as log:
            return subprocess.run([sys.executable, *jobs[name]], stdout=log, stderr=subprocess.STDOUT,
                                  env=environment).returncode

    with ThreadPoolExecutor(processes) as pool:
        codes = list(tqdm(pool.map(run, jobs), total=len(jobs), desc=desc))
    failed = [name for name, code in zip(jobs, codes) if code != 0]
    if failed:
        raise SystemExit(f"runs failed (logs in {logs}): {', '.join(failed)}")
