"""The `relatedly` CLI: train and related, their output and exit codes, in-process and as the console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recommender import artifacts
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID
from training.cli import main

N_SAMPLE_ARTICLES = 156
RANKED_LINE = re.compile(r"^\s*(\d+)\. (\d\.\d{3})  (\S+)  .+$")
BAD_ROW = b'{"title": "An article without an id", "body": "Body."}\n'


def corpus_with_bad_rows(tmp_path: Path, n_bad: int) -> Path:
    """The sample corpus followed by `n_bad` rows lacking an id (lines 157, 158, …)."""
    path = tmp_path / "articles.jsonl"
    path.write_bytes(SAMPLE_CORPUS.read_bytes() + BAD_ROW * n_bad)
    return path


def train(corpus: Path, models_dir: Path, *extra: str) -> int:
    return main(["train", "--corpus", str(corpus), "--models-dir", str(models_dir), *extra])


# --- train ----------------------------------------------------------------------------------------


def test_train_publishes_and_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models_dir = tmp_path / "models"

    assert train(SAMPLE_CORPUS, models_dir) == 0

    out, err = capsys.readouterr()
    version = artifacts.read_current(models_dir)
    assert version is not None
    manifest = json.loads((models_dir / "versions" / version / "manifest.json").read_text())
    assert manifest["n_articles"] == N_SAMPLE_ARTICLES
    summary = f"trained version {version}: {N_SAMPLE_ARTICLES} articles (0 skipped)"
    assert summary in out
    assert f"vocabulary {manifest['vocabulary_size']} terms" in out
    assert manifest["vocabulary_size"] > 0
    assert "progress stage=neighbours" in out  # plain log lines: stderr is not a terminal
    stages = re.search(r"^stages: (.*)$", out, re.MULTILINE).group(1)
    assert [part.split()[0] for part in stages.split(", ")] == [*manifest["stage_seconds"], "publish"]
    assert list(manifest["stage_seconds"]) == ["load", "languages", "boilerplate", "count", "rows", "lsa", "neighbours",
                                               "check"]
    assert re.search(r"^languages: en \d+$", out, re.MULTILINE)  # the sample is English
    assert re.search(r"^boilerplate: ", out, re.MULTILINE)
    assert "count_seconds=" in out and "neighbours_seconds=" in out  # and in the log line
    assert err == ""


def test_bad_corpus_exits_2_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = corpus_with_bad_rows(tmp_path, 1)

    assert train(corpus, tmp_path / "models") == 2

    err = capsys.readouterr().err
    assert f"{corpus}:157: missing field 'id'" in err
    assert artifacts.read_current(tmp_path / "models") is None


def test_skip_invalid_trains_and_reports_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = corpus_with_bad_rows(tmp_path, 2)

    assert train(corpus, tmp_path / "models", "--skip-invalid") == 0

    assert f"{N_SAMPLE_ARTICLES} articles (2 skipped)" in capsys.readouterr().out


def test_missing_corpus_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.jsonl"

    assert train(missing, tmp_path / "models") == 2

    err = capsys.readouterr().err
    assert err.startswith("error: cannot read corpus") and str(missing) in err


@pytest.mark.parametrize("top_k", ["0", "-3", "abc"])
def test_invalid_top_k_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], top_k: str
) -> None:
    with pytest.raises(SystemExit) as info:
        train(SAMPLE_CORPUS, tmp_path / "models", "--top-k", top_k)

    assert info.value.code == 2
    assert "--top-k" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


def test_unexpected_failure_exits_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_dir = tmp_path / "models"
    not_a_dir.write_text("I am a file\n")

    assert train(SAMPLE_CORPUS, not_a_dir) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not_a_dir.read_text() == "I am a file\n"


def test_failed_training_keeps_the_current_version(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = artifacts.read_current(models_dir)
    versions_before = artifacts.list_versions(models_dir)

    assert train(corpus_with_bad_rows(tmp_path, 1), models_dir) == 2

    assert first is not None and artifacts.read_current(models_dir) == first
    assert artifacts.list_versions(models_dir) == versions_before
    assert main(["related", SPACE_STATION_ID, "--limit", "1", "--models-dir", str(models_dir)]) == 0


# --- related --------------------------------------------------------------------------------------


def test_related_prints_ranked_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models_dir = tmp_path / "models"
    assert train(SAMPLE_CORPUS, models_dir) == 0
    capsys.readouterr()

    assert main(["related", SPACE_STATION_ID, "--limit", "3", "--models-dir", str(models_dir)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{SPACE_STATION_ID}: ")
    assert f"[model {artifacts.read_current(models_dir)}]" in lines[0]
    assert lines[1] == "3 related stories found"
    ranked = [m.groups() for m in map(RANKED_LINE.match, lines[2:]) if m]
    assert len(ranked) == 3 == len(lines) - 2
    assert [rank for rank, _, _ in ranked] == ["1", "2", "3"]
    scores = [float(score) for _, score, _ in ranked]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    ids = [article_id for _, _, article_id in ranked]
    assert SPACE_STATION_ID not in ids and len(set(ids)) == 3
    assert ids[0] == "shenzhou-crews-complete-handover-aboard-tiangong"

    assert main(["related", SPACE_STATION_ID, "--limit", "3", "--models-dir", str(models_dir),
                 "--exclude-category", "spaceflight", "--min-score", "0"]) == 0  # the article's own category
    others = [m.group(3) for m in map(RANKED_LINE.match, capsys.readouterr().out.splitlines()) if m]
    categories = {json.loads(line)["id"]: json.loads(line).get("category") for line in SAMPLE_CORPUS.open()}
    assert others and "spaceflight" not in {categories[i] for i in others}


def test_related_unknown_id_exits_2(sample_models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["related", "no-such-article", "--models-dir", str(sample_models_dir)]) == 2

    assert "unknown article id: 'no-such-article'" in capsys.readouterr().err


def test_related_without_a_model_says_to_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["related", SPACE_STATION_ID, "--models-dir", str(tmp_path / "empty")]) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: no model published") and "relatedly train" in err


# --- the installed console script -----------------------------------------------------------------


def run_console_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`relatedly` as cron would run it: CI=true, no terminal on stdin, stdout or stderr."""
    script = Path(sys.executable).parent / "relatedly"
    return subprocess.run(
        [str(script), *args],
        cwd=cwd,
        env={**os.environ, "CI": "true"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_console_script_trains_with_plain_progress_logs(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"

    result = run_console_script("train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(models_dir),
                                cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert re.search(r"INFO progress stage=neighbours done=\d+ total=156", result.stdout)
    assert f"{N_SAMPLE_ARTICLES} articles (0 skipped)" in result.stdout
    assert "\r" not in result.stderr and "rows/s" not in result.stderr  # no tqdm bar
    assert artifacts.read_current(models_dir) in artifacts.list_versions(models_dir)


def test_console_script_exit_code_for_bad_corpus(tmp_path: Path) -> None:
    corpus = corpus_with_bad_rows(tmp_path, 1)

    result = run_console_script("train", "--corpus", str(corpus), "--models-dir", str(tmp_path / "models"),
                                cwd=tmp_path)

    assert result.returncode == 2
    assert f"{corpus}:157:" in result.stderr
    assert "Traceback" not in result.stderr
