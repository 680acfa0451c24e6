"""The study runner: every job runs with one thread, writes its own log, and failures are named."""

import pytest

from benchmarks.runs import run_all


def test_jobs_log_their_output_and_failures_are_named(tmp_path):
    jobs = {"fine": ["-c", "import os; print('threads', os.environ['OMP_NUM_THREADS'])"],
            "broken": ["-c", "raise SystemExit(3)"],
            "also-fine": ["-c", "print('done')"]}
    with pytest.raises(SystemExit, match=r"runs failed .*: broken$"):
        run_all(jobs, tmp_path / "logs", processes=2, desc="test")
    assert (tmp_path / "logs" / "fine.log").read_text() == "threads 1\n"
    assert (tmp_path / "logs" / "also-fine.log").read_text() == "done\n"


def test_no_failure_no_exit(tmp_path):
    run_all({"fine": ["-c", "pass"]}, tmp_path, processes=1, desc="test")
    assert (tmp_path / "fine.log").exists()
