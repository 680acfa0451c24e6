"""Running a training script under ``torchrun`` in the tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def two_process_record(module: str, arguments: list[str], tmp_path: Path) -> dict:
    """Run ``python -m module arguments --out <json>`` as two processes under ``torchrun`` (one
    thread each; torchelastic's scratch folders inside ``tmp_path``) and return the record it
    wrote, after checking that both processes took part."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    out = tmp_path / "ddp.json"
    command = [torchrun, "--nproc_per_node=2", "-m", module, *arguments, "--out", str(out)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}
    subprocess.run(command, check=True, timeout=300, capture_output=True, env=environment)
    record = json.loads(out.read_text())
    assert record["world_size"] == 2
    return record
