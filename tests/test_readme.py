"""The README's examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run_block(index: int, capsys) -> tuple[str, list[float]]:
    exec(compile(python_blocks()[index], "README.md", "exec"), {})
    printed = capsys.readouterr().out
    return printed, [float(x) for x in re.findall(r"torch\.float(?:32|64): ([0-9.e+-]+)", printed)]


def test_readme_usage_example_runs(capsys):
    printed, errors = run_block(0, capsys)
    assert "torch.Size([100, 7])" in printed and "torch.Size([2, 7, 16, 16, 16])" in printed
    assert len(errors) == 4 and max(errors) < 1e-5


def test_readme_minkowski_example_runs(capsys):
    printed, errors = run_block(1, capsys)
    assert "torch.Size([1, 8, 8, 32, 32])" in printed and "torch.Size([200, 8])" in printed
    assert len(errors) == 4 and max(errors) < 1e-4


def test_readme_own_group_example_runs(capsys):
    printed, errors = run_block(2, capsys)
    assert "torch.Size([64, 12])" in printed and "torch.Size([1, 12, 12, 12, 12])" in printed
    assert len(errors) == 4 and max(errors) < 1e-5


def test_readme_analytic_kernel_example_runs(capsys):
    _, errors = run_block(3, capsys)
    assert len(errors) == 2 and max(errors) < 1e-5
