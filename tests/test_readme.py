"""The README's usage example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_usage_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    exec(compile(blocks[0], "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "torch.Size([100, 7])" in printed and "torch.Size([2, 7, 16, 16, 16])" in printed
    errors = [float(x) for x in re.findall(r"torch\.float(?:32|64): ([0-9.e+-]+)", printed)]
    assert len(errors) == 4 and max(errors) < 1e-5
