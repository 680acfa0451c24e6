"""The comparison metrics on known cases, the rep-string syntax and the compare command."""

import json
import math
import subprocess
import sys

import pytest
import torch
from conftest import LOOSER_TOLERANCE

from groups import get_group
from implicit_kernels import ImplicitKernel
from implicit_kernels.__main__ import main
from implicit_kernels.compare import (
    analytic_equivariance_error,
    compare,
    coverage_ranks,
    fit_error,
    format_markdown,
    kernel_span_residual,
)
from implicit_kernels.equivariance import TOLERANCE
from implicit_kernels.rep_strings import parse_rep

POINT = torch.tensor([0.43, -0.71, 0.55], dtype=torch.float64)


@pytest.mark.parametrize("name, rep_in, rep_out", [
    ("O(3)", "irrep(1,1)", "irrep(0,0)+irrep(0,2)"),
    ("O(3,0)", "grade(0)+grade(1)", "multivector"),
    ("O(3)-mat", "T(0,0)+T(1,0)", "T(1,0)+T(2,0)"),
    ("D4", "2*trivial+standard", "trivial+2*standard"),
])
def test_default_kernels_are_complete_and_in_the_analytic_span(name, rep_in, rep_out):
    G = get_group(name)
    kernel = ImplicitKernel(parse_rep(G, rep_in), parse_rep(G, rep_out))
    ours, analytic, hom_dim = coverage_ranks(kernel, POINT[: G.n])
    assert ours == analytic == hom_dim > 0
    assert kernel_span_residual(kernel) <= 1e-6


@pytest.mark.parametrize("name, rep_in, rep_out, option, expected", [
    ("O(3)", "irrep(1,1)", "irrep(0,0)+irrep(0,2)", {"harmonic_degree": 1}, (2, 3)),  # gated MLP fed with x
    ("O(3,0)", "multivector", "multivector", {"head": "single"}, (10, 12)),  # CS-CNN head
])
def test_incomplete_options_show_coverage_below_one(name, rep_in, rep_out, option, expected):
    G = get_group(name)
    kernel = ImplicitKernel(parse_rep(G, rep_in), parse_rep(G, rep_out), **option)
    ours, analytic, hom_dim = coverage_ranks(kernel, POINT)
    assert (ours, hom_dim) == expected and analytic == hom_dim
    assert kernel_span_residual(kernel) <= 1e-6  # incomplete, but still exactly equivariant


@pytest.mark.parametrize("name", ["O(2)", "SO(3)", "O(3,0)"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_analytic_basis_equivariance_error_is_small(name, dtype):
    G = get_group(name)
    tolerance = LOOSER_TOLERANCE["escnn_basis_3d"] if G.n == 3 else TOLERANCE
    assert analytic_equivariance_error(G.trivial + G.standard, G.standard, dtype) <= tolerance[dtype]


def test_fit_reproduces_analytic_basis_elements():
    G = get_group("SO(2)")
    assert fit_error(G.trivial, G.standard, elements=2, steps=150) < 0.1


def test_compare_row_and_table():
    row = compare("C4", "trivial+standard", "standard", cost_points=(100,), fit_steps=20)
    assert row.coverage == 1.0 and row.implicit_error_f64 <= TOLERANCE[torch.float64] and row.span_residual < 1e-6
    assert row.cost[0]["points"] == 100 and math.isfinite(row.cost[0]["implicit_ms"])
    table = format_markdown([row])
    assert "| C4 | `trivial+standard` -> `standard` | default |" in table and "| 100 |" in table


def test_rep_strings():
    G = get_group("O(3)")
    assert parse_rep(G, "2*trivial + irrep(1,1)").size == 5
    assert parse_rep(get_group("O(1,3)"), "grades(0,2)+multivector").size == 7 + 16
    assert parse_rep(get_group("SO+(1,3)-mat"), "T(1,1)+dual(standard)").size == 20
    with pytest.raises(ValueError, match="unknown rep atom"):
        parse_rep(G, "vector")
    with pytest.raises(ValueError, match="has no 'grade' reps"):
        parse_rep(G, "grade(1)")
    with pytest.raises(ValueError, match="empty term"):
        parse_rep(G, "trivial++standard")


def test_command_writes_report_and_plot(tmp_path, capsys):
    args = ["compare", "--group", "SO(2)", "--in", "trivial", "--out", "standard", "--fit-steps", "10", "--no-cost",
            "--report", str(tmp_path), "--plot", str(tmp_path / "plots")]
    assert main(args) == 0
    assert "| SO(2) | `trivial` -> `standard` |" in capsys.readouterr().out
    rows = json.loads((tmp_path / "compare.json").read_text())
    assert rows[0]["coverage"] == 1.0
    assert len(list((tmp_path / "plots").glob("*.png"))) == 1
    with pytest.raises(SystemExit):
        main(["compare", "--group", "SO(2)"])


@pytest.mark.parametrize("text, message", [
    ("0*trivial", "multiplicities must be positive, got '0*trivial'"),
    ("standard+0*trivial", "multiplicities must be positive, got '0*trivial'"),
    ("irrep(9,9)", "bad rep atom 'irrep(9,9)' for O(3): O(3) has no such rep"),
    ("irrep(1)", "bad rep atom 'irrep(1)' for O(3): "),
])
def test_rep_strings_refuse_zero_multiplicities_and_irreps_escnn_lacks(text, message):
    with pytest.raises(ValueError) as refused:
        parse_rep(get_group("O(3)"), text)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("arguments, message", [
    (["--group", "O(3)", "--in", "vector", "--out", "standard"], "unknown rep atom 'vector'"),
    (["--group", "O(3)", "--in", "0*trivial", "--out", "standard"], "multiplicities must be positive"),
    (["--group", "O(3)", "--in", "trivial", "--out", "irrep(9,9)"], "bad rep atom 'irrep(9,9)' for O(3)"),
    (["--group", "Q(7)", "--in", "trivial", "--out", "standard"], "unknown group 'Q(7)'"),
    (["--group", "O(3)", "--in", "trivial", "--out", "standard", "--option", "copies"], "written key=value"),
    (["--group", "O(3)", "--in", "trivial", "--out", "standard", "--option", "foo=1"], "keyword argument 'foo'"),
    (["--group", "O(3)"], "compare needs --group, --in and --out, or --all"),
])
def test_command_reports_bad_input_as_one_usage_error(arguments, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["compare", *arguments, "--fit-steps", "0", "--no-cost"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("python -m implicit_kernels compare: error: ") and message in last
    assert captured.out == ""


def test_command_line_error_has_no_traceback():
    command = [sys.executable, "-m", "implicit_kernels", "compare", "--group", "O(3)", "--in", "irrep(9,9)",
               "--out", "standard"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("python -m implicit_kernels compare: error: bad rep")
