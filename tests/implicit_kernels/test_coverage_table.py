"""The coverage command: its rows, its table and its JSON."""

import json

import pytest

from implicit_kernels.__main__ import main
from implicit_kernels.coverage_table import clifford_coverage, format_table


def test_rows_cover_both_signs_and_heads():
    rows = clifford_coverage(signatures=((1, 1), (2, 0)))
    assert [(r.signature, r.point, r.head) for r in rows] == [
        ("O(1,1)", "q(x) > 0", "complete"), ("O(1,1)", "q(x) > 0", "single"),
        ("O(1,1)", "q(x) < 0", "complete"), ("O(1,1)", "q(x) < 0", "single"),
        ("O(2,0)", "q(x) > 0", "complete"), ("O(2,0)", "q(x) > 0", "single"),
    ]
    assert all(r.coverage == 1.0 for r in rows if r.head == "complete")
    assert all(r.coverage < 1.0 for r in rows if r.head == "single")
    table = format_table(rows)
    assert table.count("\n") == len(rows) + 1 and "| O(1,1) | single | q(x) < 0 | 7 | 8 | 0.875 |" in table


def test_command_prints_the_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "coverage.json"
    assert main(["coverage", "--signature", "2,0", "--json", str(path)]) == 0
    assert "| O(2,0) | complete | q(x) > 0 | 8 | 8 | 1.000 |" in capsys.readouterr().out
    assert json.loads(path.read_text())[1]["coverage"] == 0.875


def test_bad_signature_is_reported(capsys):
    """As argparse reports its own errors: exit code 2, usage and one error line, no traceback."""
    with pytest.raises(SystemExit) as stop:
        main(["coverage", "--signature", "13"])
    assert stop.value.code == 2
    assert "error: a signature is written p,q (e.g. 1,3), got '13'" in capsys.readouterr().err
