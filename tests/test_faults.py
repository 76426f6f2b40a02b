"""The fault suite (benchmarks/fault_bench.py), short: a live 2-worker service with Redis keeps answering
every checked request while Redis dies and hangs, versions flip, a corrupt version is published and
publishing jobs are killed."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_no_request_fails_while_things_break(tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fault_bench.py"), "--phase-seconds", "2", "--threads", "4"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "OK: no failed request" in run.stdout
    total = next(line for line in run.stdout.splitlines() if line.startswith("total")).split()
    assert int(total[1]) > 0 and int(total[2]) == int(total[3]) == 0
