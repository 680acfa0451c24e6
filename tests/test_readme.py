"""The README's examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run_block(marker: str, capsys) -> tuple[str, list[float]]:
    """Run the one block containing ``marker``; return what it printed and the errors it printed."""
    (block,) = [block for block in python_blocks() if marker in block]
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    return printed, [float(x) for x in re.findall(r"torch\.float(?:32|64): ([0-9.e+-]+)", printed)]


def losses(printed: str) -> list[float]:
    return [float(x) for x in re.findall(r"step \d+: (?:relative )?loss ([0-9.e+-]+)", printed)]


def test_readme_usage_example_runs(capsys):
    printed, errors = run_block("radius_graph(pos, r=1.0)          #", capsys)
    assert "torch.Size([100, 7])" in printed and "torch.Size([2, 7, 16, 16, 16])" in printed
    assert len(errors) == 4 and max(errors) < 1e-5


def test_readme_minkowski_example_runs(capsys):
    printed, errors = run_block("O(1,2)", capsys)
    assert "torch.Size([1, 8, 8, 32, 32])" in printed and "torch.Size([200, 8])" in printed
    assert len(errors) == 4 and max(errors) < 1e-4


def test_readme_own_group_example_runs(capsys):
    printed, errors = run_block("SpinningDisc", capsys)
    assert "torch.Size([64, 12])" in printed and "torch.Size([1, 12, 12, 12, 12])" in printed
    assert len(errors) == 4 and max(errors) < 1e-5


def test_readme_mesh_example_runs(capsys):
    """The mesh network on an icosphere follows a random C8 gauge field exactly."""
    pytest.importorskip("potpourri3d")
    printed, errors = run_block("MeshGeometry.from_mesh", capsys)
    assert "torch.Size([162, 2])" in printed
    (gauge_error,) = [float(x) for x in re.findall(r"gauge error ([0-9.e+-]+)", printed)]
    assert gauge_error < 1e-12 and len(errors) == 2 and max(errors) < 1e-5


def test_readme_analytic_kernel_example_runs(capsys):
    _, errors = run_block('basis="analytic"', capsys)
    assert len(errors) == 2 and max(errors) < 1e-5


@pytest.mark.parametrize("marker, errors_printed, tolerance", [
    ("the cloud's dipole moment", 2, 1e-5),  # O(3) point-cloud network
    ("its invariant mass^2", 4, 1e-3),          # Lorentz: float32 M^2 = E^2 - |p|^2 cancels (measured up to 1.3e-4)
    ("an anisotropic dipole response", 2, 1e-5),      # D3h from generators
])
def test_readme_whole_networks_train_and_are_equivariant(marker, errors_printed, tolerance, capsys):
    printed, errors = run_block(marker, capsys)
    first, last = losses(printed)
    assert last < 0.1 * first
    assert len(errors) == errors_printed and max(errors) < tolerance
