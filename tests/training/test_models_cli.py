"""`relatedly models list | publish | rollback`: what is listed, what CURRENT becomes, and the exit codes."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from publishing.train import train_and_publish
from recommender import artifacts
from tests.conftest import SAMPLE_CORPUS
from training.cli import main

N_SAMPLE_ARTICLES = 156


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """`main` reconfigures the root logger (basicConfig(force=True)); put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A models dir holding two trained versions, the newer one current (trained once per module)."""
    models_dir = tmp_path_factory.mktemp("two-versions")
    older = train_and_publish(SAMPLE_CORPUS, models_dir, top_k=10).version
    newer = train_and_publish(SAMPLE_CORPUS, models_dir, top_k=10).version
    return models_dir, older, newer


@pytest.fixture()
def models(tmp_path: Path, two_versions: tuple[Path, str, str]) -> tuple[Path, str, str]:
    """A private copy of the two versions, for tests that switch CURRENT."""
    source, older, newer = two_versions
    copy = tmp_path / "models"
    shutil.copytree(source, copy)
    assert artifacts.read_current(copy) == newer
    return copy, older, newer


def models_cli(models_dir: Path, *action: str) -> int:
    return main(["models", "--models-dir", str(models_dir), *action])


def test_list_shows_versions_oldest_first_and_marks_the_current_one(models, capsys) -> None:
    models_dir, older, newer = models
    assert models_cli(models_dir, "list") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[0].startswith(f"  {older} ")
    assert lines[1].startswith(f"* {newer} ")
    for line in lines:
        assert f"{N_SAMPLE_ARTICLES} articles" in line


def test_list_moves_the_mark_after_a_switch(models, capsys) -> None:
    models_dir, older, newer = models
    artifacts.publish(models_dir, older)
    assert models_cli(models_dir, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line[:2] for line in lines if line.strip()] == ["* ", "  "]
    assert older in lines[0] and newer in lines[1]


def test_list_of_an_empty_dir_says_so(tmp_path: Path, capsys) -> None:
    assert models_cli(tmp_path, "list") == 0
    assert "no versions" in capsys.readouterr().out


def test_publish_switches_current(models, capsys) -> None:
    models_dir, older, newer = models
    assert models_cli(models_dir, "publish", older) == 0
    assert artifacts.read_current(models_dir) == older
    out = capsys.readouterr().out
    assert older in out and newer in out


@pytest.mark.parametrize("version", ["20000101T000000000000Z-000000", "../elsewhere", "latest"])
def test_publishing_an_unknown_version_exits_2_and_keeps_current(models, capsys, version: str) -> None:
    models_dir, _, newer = models
    assert models_cli(models_dir, "publish", version) == 2
    assert artifacts.read_current(models_dir) == newer
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert version in err


def test_rollback_goes_to_the_version_before_the_current_one(models, capsys) -> None:
    models_dir, older, newer = models
    assert models_cli(models_dir, "rollback") == 0
    assert artifacts.read_current(models_dir) == older
    assert f"current model: {older} (was {newer})" in capsys.readouterr().out


def test_rollback_from_the_oldest_version_exits_1_and_keeps_current(models, capsys) -> None:
    models_dir, older, _ = models
    artifacts.publish(models_dir, older)
    assert models_cli(models_dir, "rollback") == 1
    assert artifacts.read_current(models_dir) == older
    assert "no version older than" in capsys.readouterr().err


def test_rollback_with_a_single_version_exits_1_with_a_clear_message(tmp_path: Path, capsys) -> None:
    only = train_and_publish(SAMPLE_CORPUS, tmp_path, top_k=10).version
    assert models_cli(tmp_path, "rollback") == 1
    assert artifacts.read_current(tmp_path) == only
    err = capsys.readouterr().err
    assert err.startswith("error: no version older than")
    assert only in err
    assert "Traceback" not in err


def test_publish_then_publish_back_round_trips(models) -> None:
    models_dir, older, newer = models
    assert models_cli(models_dir, "publish", older) == 0
    assert models_cli(models_dir, "publish", newer) == 0
    assert artifacts.read_current(models_dir) == newer


def test_options_work_after_the_action_too(models, tmp_path: Path, capsys) -> None:
    models_dir, older, newer = models
    assert main(["models", "list", "--models-dir", str(models_dir)]) == 0
    assert newer in capsys.readouterr().out
    assert main(["models", "publish", older, "--models-dir", str(models_dir)]) == 0
    assert artifacts.read_current(models_dir) == older
    assert main(["models", "--models-dir", str(tmp_path), "rollback", "--models-dir", str(models_dir)]) == 1
    assert "no version older" in capsys.readouterr().err  # the later --models-dir wins: it named `models_dir`
    assert main(["models", "list", "--debug", "--log-format", "json", "--models-dir", str(models_dir)]) == 0


def test_log_format_json_writes_the_services_line_shape(tmp_path: Path, capsys, monkeypatch) -> None:
    models_dir = tmp_path / "models"
    assert main(["train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(models_dir), "--top-k", "5",
                 "--log-format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    published = next(line for line in lines if line["event"] == "model_published")
    assert set(published) == {"ts", "level", "event", "version", "models_dir", "seconds"}
    assert (published["level"], published["models_dir"]) == ("info", str(models_dir))
    assert published["version"] == artifacts.read_current(models_dir)
    datetime.fromisoformat(published["ts"])
    monkeypatch.setenv("RELATEDLY_LOG_FORMAT", "json")
    assert main(["models", "rollback", "--models-dir", str(models_dir)]) == 1  # one version: nothing to roll back to
    monkeypatch.setenv("RELATEDLY_LOG_FORMAT", "text")
    assert main(["train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(models_dir), "--top-k", "5"]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    monkeypatch.setenv("RELATEDLY_LOG_FORMAT", "xml")
    assert main(["models", "list", "--models-dir", str(models_dir)]) == 2
    assert "RELATEDLY_LOG_FORMAT must be one of text, json" in capsys.readouterr().err
