"""The OpenAPI document and the server agree exactly: schemathesis 4, every check, against `relatedly serve`.

Every documented operation is tested (the admin ones with the token), positive and negative cases,
with a bounded number of examples per operation and a fixed seed so the suite is fast and repeatable.
Any failure — a 5xx, a valid request rejected, an invalid one accepted, an undocumented status,
header or body — fails the test with schemathesis's own report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import live_service

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
ADMIN_TOKEN = "schemathesis-admin-token"
MAX_EXAMPLES = 12
SEED = 14


def test_schemathesis_finds_no_failure_with_every_check(models_dir: Path, tmp_path: Path) -> None:
    env = {"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_ADMIN_TOKEN": ADMIN_TOKEN,
           "RELATEDLY_LOG_LEVEL": "WARNING", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    with live_service(env) as base:
        run = subprocess.run(
            [SCHEMATHESIS, "run", f"{base}/openapi.json", "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
             "--seed", str(SEED), "--header", f"Authorization: Bearer {ADMIN_TOKEN}", "--no-color",
             "--report-dir", str(tmp_path / "report")],
            capture_output=True, text=True, timeout=240, cwd=tmp_path,
        )
    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "Selected: " in summary and " passed" in summary, summary
