"""Every script in ``examples/`` runs with ``--quick``, trains, and reports exact equivariance.

The scripts are found by a glob, so a new example is tested without editing this file. Each runs
in a fresh interpreter (as a reader would run it); the assertions read only what it printed:
``loss: first A, last B`` and lines ``equivariance error (WHAT): float32 E, float64 E``.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import LOOSER_TOLERANCE

from implicit_kernels.equivariance import TOLERANCE

EXAMPLES = sorted(path for path in (Path(__file__).resolve().parents[1] / "examples").glob("*.py")
                  if not path.name.startswith("_"))  # _shared.py is a helper, not an example
DTYPES = {"float32": torch.float32, "float64": torch.float64}
NUMBER = r"([0-9.]+(?:e[+-]?[0-9]+)?)"


def run_quick(script: Path) -> str:
    """The script's standard output for ``--quick``; fails the test on a non-zero exit."""
    done = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{script.name} exited with {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def test_examples_are_found():
    assert len(EXAMPLES) >= 4, [path.name for path in EXAMPLES]


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_trains_and_is_equivariant(script):
    printed = run_quick(script)

    (losses,) = re.findall(rf"loss: first {NUMBER}, last {NUMBER}", printed)
    first, last = (float(x) for x in losses)
    assert last < 0.8 * first, printed

    checks = re.findall(r"equivariance error \((.*?)\): (.*)", printed)
    assert checks, printed
    for what, errors in checks:
        # boosts make rho(g) ill-conditioned: the named looser tolerance of the test suite
        tolerance = LOOSER_TOLERANCE["boosts"] if "boost" in what else TOLERANCE
        measured = {DTYPES[name]: float(value) for name, value in re.findall(rf"(float32|float64) {NUMBER}", errors)}
        assert set(measured) == {torch.float32, torch.float64}, errors
        for dtype, error in measured.items():
            assert error <= tolerance[dtype], f"{script.name}, {what}: {dtype} error {error:.3g}"
