"""Speed benchmark: a quick run of the whole command, its report, and its peer layers."""

import json
import math

import torch

from benchmarks.speed import __main__ as speed
from benchmarks.speed.cases import point_inputs
from benchmarks.speed.peers import E3nnPointConv
from benchmarks.speed.report import BEGIN, END, update_results
from implicit_kernels.equivariance import TOLERANCE, relative_error


def test_quick_run_writes_every_case_and_replaces_its_section(tmp_path):
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Results\n\nearlier text\n")
    speed.main(["--quick", "--threads", "1", "--out", str(tmp_path), "--results", str(results_md)])
    results = json.loads((tmp_path / "speed_cpu.json").read_text())
    for case in ("grid", "point", "clifford"):
        rows = results[case]
        timings = [r[key] for r in rows for key in ("forward_ms", "train_ms", "construct_ms")]
        assert rows and all(math.isfinite(t) for t in timings)
    assert all(r["peak_mb"] is None or r["peak_mb"] >= 0 for r in results["point"])
    assert [r["points"] for r in results["kernel"]] == [100]
    first = results_md.read_text()
    assert first.startswith("# Results\n\nearlier text") and first.count(BEGIN) == first.count(END) == 1
    update_results(results_md, "new section")
    second = results_md.read_text()
    assert second.count(BEGIN) == 1 and "new section" in second and "earlier text" in second
    assert "**Grid**" not in second


def test_e3nn_peer_is_rotation_equivariant():
    """The e3nn peer must be a working equivariant convolution (else its timings mean nothing):
    rotating positions rotates its outputs by the same Wigner matrices as its inputs."""
    from e3nn import o3

    torch.manual_seed(0)
    f, pos, edges = point_inputs(64, torch.device("cpu"))
    conv = E3nnPointConv(lmax=4, radius=1.0, avg_degree=edges.shape[1] / 64)
    irreps = conv.tp.irreps_out
    R = o3.rand_matrix()
    D = irreps.D_from_matrix(R)
    rotated = conv(f @ D.T, pos @ R.T, edges)
    assert relative_error(rotated, conv(f, pos, edges) @ D.T) <= TOLERANCE[torch.float32]


def test_blocks_quick_run_writes_json_markdown_and_section(tmp_path):
    """The blocks case on tiny sizes: every case has times for both libraries and is written out
    (no timing assertions)."""
    from benchmarks.speed import blocks

    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Results\n")
    blocks.main(["--quick", "--no-cold", "--out", str(tmp_path), "--results", str(results_md)])
    results = json.loads((tmp_path / "blocks_cpu.json").read_text())
    assert [(r["block"], r["batch"]) for r in results["rows"]] == blocks.cases(blocks.BlockSizes.quick())
    for row in results["rows"]:
        for library in ("ours", "e3nn"):
            assert row[library]["train_ms"] > 0 and row[library]["warm_ms"] > 0
    assert (tmp_path / "blocks_cpu.md").read_text().startswith("Machine:")
    assert results_md.read_text().count("<!-- speed-blocks:begin -->") == 1


def test_graphs_quick_run_records_both_libraries(tmp_path):
    """The graph case on small clouds: ours and scipy's k-d tree find the same edges (up to pairs
    within float32 rounding of the radius) and the section is written (no timing assertions)."""
    from benchmarks.speed import graphs

    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Results\n")
    results = graphs.main(["--quick", "--out", str(tmp_path), "--results", str(results_md)])
    assert [(r["graph"], r["points"]) for r in results["rows"]] == [
        (graph, points) for points in (256, 1024) for graph in ("radius", "knn")]
    for row in results["rows"]:
        assert abs(row["edges"] - row["scipy_edges"]) <= 2 and row["ours_ms"] > 0 and row["scipy_ms"] > 0
    assert json.loads((tmp_path / "graphs_cpu.json").read_text()) == results
    assert results_md.read_text().count("<!-- speed-graphs:begin -->") == 1


def test_compiled_quick_run_times_three_ways_of_running_the_network(tmp_path):
    """The eager/compiled case on a tiny cloud, captured by the eager backend (no code generation,
    so the test stays fast): the three rows are timed and the section is written."""
    from benchmarks.speed import compiled

    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Results\n")
    results = compiled.main(["--quick", "--backend", "eager", "--out", str(tmp_path), "--results", str(results_md)])
    assert [r["layer"] for r in results["rows"]] == ["eager, edge_index", "eager, tables", "compiled, tables"]
    assert all(r["train_ms"] > 0 and r["forward_ms"] > 0 for r in results["rows"])
    assert json.loads((tmp_path / "compiled_cpu.json").read_text()) == results
    assert results_md.read_text().count("<!-- speed-compiled:begin -->") == 1


def test_construction_quick_run_builds_in_fresh_processes(tmp_path):
    """The construction case on its small layer: built in a subprocess that reports its time,
    constants and parameters; the section is written (no timing assertions)."""
    from benchmarks.speed import construction

    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Results\n")
    results = construction.main(["--quick", "--out", str(tmp_path), "--results", str(results_md)])
    (row,) = results["rows"]
    assert row["case"] == construction.QUICK[0] and row["channels"] == 13
    assert row["seconds"] > 0 and row["parameter_mb"] > 0 and row["peak_mb"] >= 0
    assert results_md.read_text().count("<!-- speed-construction:begin -->") == 1


def test_families_quick_run_times_every_family_on_its_own_cloud(tmp_path):
    """The families case on a small cloud: one row per family, each timed on a radius graph in its
    own dimension, and the section written (no timing assertions)."""
    from benchmarks.speed import families

    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Results\n")
    results = families.main(["--quick", "--points", "128", "--out", str(tmp_path), "--results", str(results_md)])
    assert [r["layer"] for r in results["rows"]] == [name for name, _, _ in families.CASES]
    assert [r["layer"] for r in results["wide_rows"]] == [name for name, _, _ in families.WIDE_CASES]
    assert [r["channels"] for r in results["wide_rows"]] == [64] * len(families.WIDE_CASES)
    for row in results["rows"] + results["wide_rows"]:
        assert row["train_ms"] > 0 and row["edges"] > 0 and row["peak_mb"] is None
    text = results_md.read_text()
    assert text.count("<!-- speed-families:begin -->") == 1 and "The same at 64 channels on 32 points" in text


def test_grids_quick_run_times_every_case_against_the_plain_convolution(tmp_path, monkeypatch):
    """The grids case on tiny grids (two cases: a 2D escnn group and a 3D matrix group): ours,
    the plain convolution and, where escnn has the group, its layer; the section is written."""
    from benchmarks.speed import grids

    monkeypatch.setattr(grids, "CASES", [("C4", "2*regular"), ("O(3)-mat", "T(0,0)+T(1,0)")])
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Results\n")
    results = grids.main(["--quick", "--out", str(tmp_path), "--results", str(results_md)])
    assert [("escnn" in r, r["channels"]) for r in results["rows"]] == [(True, 8), (False, 4)]
    for row in results["rows"]:
        assert row["plain conv"]["train_ms"] > 0 and row["ours GridConv"]["train_ms"] > 0
    assert results_md.read_text().count("<!-- speed-grids:begin -->") == 1


def test_all_runs_every_speed_command_once_with_the_shared_options(monkeypatch):
    """``benchmarks.speed.all`` calls each command's ``main`` once, passing threads, results file
    (unless it is the default) and output folder, and the smoke options where a command has its own."""
    from benchmarks.speed import all as everything

    calls = []
    for name, module in everything.COMMANDS:
        monkeypatch.setattr(module, "main", lambda argv, name=name: calls.append((name, argv)))
    seconds = everything.main(["--quick", "--threads", "2", "--results", "-", "--out", "/tmp/records"])
    assert [name for name, _ in calls] == [name for name, _ in everything.COMMANDS] == list(seconds)
    for _, argv in calls:
        assert argv[:6] == ["--threads", "2", "--results", "-", "--out", "/tmp/records"] and "--quick" in argv
    assert dict(calls)["compiled"][-2:] == ["--backend", "eager"] and "--no-cold" in dict(calls)["blocks"]
    # with the default results file, each command is called as it would be alone
    calls.clear()
    everything.main(["--quick"])
    assert all("--results" not in argv and argv[:2] == ["--threads", "1"] for _, argv in calls)
