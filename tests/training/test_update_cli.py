"""`relatedly update` and `relatedly remove`: summaries, what `related` serves afterwards, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recommender import artifacts
from tests.conftest import SPACE_STATION_ID
from training.cli import main

RANKED_LINE = re.compile(r"^\s*(\d+)\. (\d\.\d{3})  (\S+)  .+$")
SHENZHOU_ID = "shenzhou-crews-complete-handover-aboard-tiangong"
ASTEROID_ID = "bus-sized-asteroid-passes-closer-than-the-moon"
NEW_STORY = {
    "id": "first-foreign-astronaut-to-fly-to-tiangong",
    "title": "First foreign astronaut selected to fly to China's Tiangong space station",
    "body": (
        "A Pakistani pilot has been chosen as the first foreign astronaut to visit the Tiangong space station, "
        "after China opened its orbital outpost to crews from other countries. The candidate will train in Beijing "
        "with Chinese taikonauts on Shenzhou capsule operations before launching on a Shenzhou mission and docking "
        "with the Tianhe core module. Experiments planned for the Wentian and Mengtian laboratory modules include "
        "microgravity materials science and life-support research."
    ),
    "tags": ["tiangong", "china", "space station", "astronauts"],
    "category": "spaceflight",
    "published_at": "2025-09-01",
}
EDITED_STORY = {
    "id": ASTEROID_ID,
    "title": "Bus-sized asteroid passes closer than the Moon (updated with radar images)",
    "body": "Radar images taken as the asteroid passed show an elongated, slowly tumbling space rock.",
    "category": "astronomy",
}
BAD_ROW = {"title": "A change without an id", "body": "Body."}


def write_changes(path: Path, *rows: dict) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def update(changes: Path, models_dir: Path, *extra: str) -> int:
    return main(["update", "--corpus", str(changes), "--models-dir", str(models_dir), *extra])


def related_ids(article_id: str, models_dir: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The ids `relatedly related` prints for an article, in rank order."""
    capsys.readouterr()
    assert main(["related", article_id, "--models-dir", str(models_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [m.group(3) for m in map(RANKED_LINE.match, lines) if m]


def test_update_adds_and_replaces_and_related_serves_the_new_story(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = artifacts.read_current(models_dir)
    n_before = artifacts.read_manifest(models_dir, previous)["n_articles"]
    assert NEW_STORY["id"] not in related_ids(SPACE_STATION_ID, models_dir, capsys)
    changes = write_changes(tmp_path / "changes.jsonl", NEW_STORY, EDITED_STORY)

    assert update(changes, models_dir) == 0

    out, err = capsys.readouterr()
    current = artifacts.read_current(models_dir)
    assert current != previous
    assert f"published version {current} (was {previous}): 1 added, 1 replaced, 0 removed" in out
    assert f"{n_before + 1} articles" in out
    assert err == ""
    assert related_ids(SPACE_STATION_ID, models_dir, capsys)[0] == NEW_STORY["id"]  # under its older neighbours
    assert NEW_STORY["id"] in related_ids(SHENZHOU_ID, models_dir, capsys)
    assert SPACE_STATION_ID in related_ids(NEW_STORY["id"], models_dir, capsys)[:2]
    capsys.readouterr()
    assert main(["related", ASTEROID_ID, "--limit", "1", "--models-dir", str(models_dir)]) == 0
    assert capsys.readouterr().out.startswith(f"{ASTEROID_ID}: {EDITED_STORY['title']}  [model {current}]")


def test_a_bad_changes_file_exits_2_naming_file_and_line(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = artifacts.read_current(models_dir)
    changes = write_changes(tmp_path / "changes.jsonl", NEW_STORY, BAD_ROW)

    assert update(changes, models_dir) == 2

    assert f"{changes}:2: missing field 'id'" in capsys.readouterr().err
    assert artifacts.read_current(models_dir) == previous


def test_skip_invalid_applies_the_good_rows(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changes = write_changes(tmp_path / "changes.jsonl", BAD_ROW, NEW_STORY)

    assert update(changes, models_dir, "--skip-invalid") == 0

    out = capsys.readouterr().out
    assert "1 added, 0 replaced, 0 removed" in out and "1 invalid rows skipped" in out
    assert related_ids(SPACE_STATION_ID, models_dir, capsys)[0] == NEW_STORY["id"]


def test_remove_takes_a_story_out_of_its_neighbours_lists(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    former_neighbours = related_ids(SHENZHOU_ID, models_dir, capsys)[:4]
    assert SPACE_STATION_ID in former_neighbours
    before = {a: related_ids(a, models_dir, capsys) for a in former_neighbours}
    assert all(SHENZHOU_ID in ids for ids in before.values())

    assert main(["remove", SHENZHOU_ID, "--models-dir", str(models_dir)]) == 0

    assert "0 added, 0 replaced, 1 removed" in capsys.readouterr().out
    for article_id, ids_before in before.items():
        after = related_ids(article_id, models_dir, capsys)
        assert SHENZHOU_ID not in after
        assert len(after) == len(ids_before)  # refilled from further down
    assert main(["related", SHENZHOU_ID, "--models-dir", str(models_dir)]) == 2
    assert SHENZHOU_ID in capsys.readouterr().err


def test_removing_an_unknown_id_exits_2(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    previous = artifacts.read_current(models_dir)

    assert main(["remove", "no-such-article", "--models-dir", str(models_dir)]) == 2

    assert "unknown article id: 'no-such-article'" in capsys.readouterr().err
    assert artifacts.read_current(models_dir) == previous


@pytest.mark.parametrize("command", ["update", "remove"])
def test_update_or_remove_without_a_model_says_to_train(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    changes = write_changes(tmp_path / "changes.jsonl", NEW_STORY)
    argv = ["--corpus", str(changes)] if command == "update" else [SPACE_STATION_ID]

    assert main([command, *argv, "--models-dir", str(empty)]) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: no model published") and "relatedly train" in err
    assert artifacts.read_current(empty) is None
