"""`relatedly learn` end to end: simulated readers post today's widget events to the app, the CLI learns, the
app serves the learned lists (editorial rules still win), and a new model version keeps the evidence."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import create_app
from service.config import Settings
from service.events.routes import event_writer
from tests.conftest import RELATEDLY, live_service
from training.cli import main

SHOWN = 10
STANDOUT_POSITION = 8  # the story readers prefer sits here in the model's list of LIKED


def examined(position: int) -> float:
    return 1.0 / position


def make_app(models_dir: Path):
    return create_app(Settings(models_dir=str(models_dir), events_per_minute=0, log_level="WARNING"), watch=False)


@pytest.fixture(scope="module")
def site(sample_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A models directory and the events database beside it, read by simulated readers once per module: thirty
    articles read 100 times each with the same taste for every story, LIKED read 500 times with its story at
    position 8 loved by readers, and RARE, whose list was shown only 8 times with position 9 always clicked."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(sample_models_dir, root / "models")
    app = make_app(root / "models")
    client = app.test_client()
    rng = random.Random(7)
    ids = [a for a in article_ids() if len(listed(client, a)) == SHOWN]
    liked, rare, others = ids[0], ids[1], ids[2:32]
    taste = {"liked": liked, "standout": listed(client, liked)[STANDOUT_POSITION - 1], "rare": rare,
             "rare_story": listed(client, rare)[8]}
    for article_id in others:
        read(client, article_id, 100, lambda story: 0.15, rng)
    read(client, rare, 8, lambda story: 1.0 if story == taste["rare_story"] else 0.0, rng)
    read_liked(app, client, taste, rng)
    event_writer(app).close()
    yield root, taste


@pytest.fixture()
def readership(site: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """Who liked what (see `site`)."""
    return site[1]


@pytest.fixture()
def models_dir(site: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    """This test's copy of the site: models and events."""
    shutil.copytree(site[0], tmp_path / "site")
    return tmp_path / "site" / "models"


@pytest.fixture()
def app(models_dir: Path):
    app = make_app(models_dir)
    yield app
    event_writer(app).close()


@pytest.fixture()
def client(app):
    return app.test_client()


def article_ids() -> list[str]:
    ids = []
    with open(Path(__file__).resolve().parents[2] / "data" / "sample" / "articles.jsonl", encoding="utf-8") as fh:
        for line in fh:
            ids.append(json.loads(line)["id"])
    return ids


def listed(client, article_id: str, query: str = "") -> list[str]:
    return [s["id"] for s in client.get(f"/v1/articles/{article_id}/related{query}").get_json()["related"]]


def read(client, article_id: str, views: int, attractiveness, rng: random.Random) -> None:
    """`views` list views of the article's served list in today's widget format (no arm, no exploration flag);
    a reader clicks position k with probability examined(k) × attractiveness(story)."""
    body = client.get(f"/v1/articles/{article_id}/related").get_json()
    ids, version = [s["id"] for s in body["related"]], body["model_version"]
    for view in range(views):
        list_id = f"{article_id[:40]}-{view}"
        event = {"type": "impression", "list_id": list_id, "article_id": article_id, "model_version": version,
                 "items": ids}
        assert client.post("/v1/events", data=json.dumps(event), content_type="text/plain").status_code == 204
        for k, story in enumerate(ids, start=1):
            if rng.random() < examined(k) * attractiveness(story):
                click = {"type": "click", "list_id": list_id, "article_id": article_id, "model_version": version,
                         "target": story, "position": k}
                assert client.post("/v1/events", data=json.dumps(click), content_type="text/plain").status_code == 204


def read_liked(app, client, taste: dict[str, str], rng: random.Random, views: int = 500) -> None:
    """LIKED's list as served now, read `views` times; readers love its standout story wherever it is."""
    standout = taste["standout"]
    read(client, taste["liked"], views, lambda story: 0.9 if story == standout else 0.15, rng)
    assert event_writer(app).flush()


def learn(app, models_dir: Path, capsys, *extra: str) -> str:
    assert main(["learn", "--once", "--models-dir", str(models_dir), *extra]) == 0
    app.extensions["relatedly_learned"].refresh(app.extensions["relatedly"].store)
    return capsys.readouterr().out


def test_a_story_readers_prefer_from_a_low_slot_moves_up_and_a_rare_one_does_not_jump(
        app, client, models_dir: Path, readership: dict[str, str], capsys) -> None:
    liked, standout = readership["liked"], readership["standout"]
    model_list = listed(client, liked)
    assert model_list.index(standout) == STANDOUT_POSITION - 1
    out = learn(app, models_dir, capsys)
    assert "lists changed" in out and (models_dir / "learned").is_dir()

    assert listed(client, liked).index(standout) < 3  # in the top 3 after 500 views of its article
    read_liked(app, client, readership, random.Random(8))
    learn(app, models_dir, capsys)
    learned = listed(client, liked)
    assert learned.index(standout) < 3  # and still there after 500 more, read where it now stands
    assert len(set(learned) - set(model_list)) <= 2  # re-ranked: at most a story or two from just below the list
    assert listed(client, readership["rare"]).index(readership["rare_story"]) >= 8 - 2
    widget = listed(client, liked, "?limit=5")
    assert widget == learned[:5]  # the widget's request (limit=5) gets the learned order too
    explained = client.get(f"/v1/articles/{liked}/related?explain=true").get_json()["related"]
    evidence = {s["id"]: s["explanation"].get("reader_evidence") for s in explained}
    assert evidence[standout]["moved"] is True
    assert evidence[standout]["model_position"] == STANDOUT_POSITION
    assert evidence[standout]["clicks"] > 2 * evidence[standout]["expected_clicks"]
    assert evidence[model_list[0]] is None or evidence[model_list[0]]["model_position"] == 1
    ready = client.get("/readyz").get_json()["learning"]
    assert ready["lists_changed"] >= 1 and ready["error"] is None and ready["computed_at"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "relatedly_learned_lists " in metrics and "relatedly_evidence_coverage_ratio" in metrics


def test_weight_zero_keeps_the_model_order(app, client, models_dir: Path, readership: dict[str, str],
                                           capsys) -> None:
    model_list = listed(client, readership["liked"])
    assert "0 of" in learn(app, models_dir, capsys, "--weight", "0")
    assert listed(client, readership["liked"]) == model_list


def test_pins_and_blocks_still_win_over_learned_lists(app, client, models_dir: Path, readership: dict[str, str],
                                                      capsys) -> None:
    liked, standout = readership["liked"], readership["standout"]
    model_list = listed(client, liked)
    learn(app, models_dir, capsys)
    pinned = model_list[-1]
    assert main(["pin", liked, pinned, "--models-dir", str(models_dir)]) == 0
    served = listed(client, liked)
    assert served[0] == pinned
    assert served.index(standout) < 4  # the learned order fills the rest
    assert main(["block", liked, standout, "--models-dir", str(models_dir)]) == 0
    assert standout not in listed(client, liked)


def test_a_new_model_version_starts_from_the_old_versions_evidence(
        app, client, models_dir: Path, readership: dict[str, str], capsys) -> None:
    liked, standout = readership["liked"], readership["standout"]
    learn(app, models_dir, capsys)
    gone = listed(client, liked)[-1]
    assert main(["remove", gone, "--models-dir", str(models_dir)]) == 0  # a takedown: a new version
    assert app.extensions["relatedly"].store.refresh()
    assert listed(client, liked).index(standout) == STANDOUT_POSITION - 1  # the model's list until learn runs
    learn(app, models_dir, capsys)
    served = listed(client, liked)
    assert served.index(standout) < 3 and gone not in served


def test_learn_without_events_changes_nothing_and_without_a_model_fails(tmp_path: Path, models_dir: Path,
                                                                        capsys) -> None:
    (models_dir.parent / "relatedly.db").unlink()
    assert main(["learn", "--once", "--models-dir", str(models_dir)]) == 0
    assert "0 of 156 lists changed" in capsys.readouterr().out
    assert main(["learn", "--once", "--models-dir", str(tmp_path / "none")]) == 1
    assert "no model published" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--weight", "2"], ["--interval", "0"], ["--since", "forever"], ["--limit", "x"],
                                  ["--weight", "much"]])
def test_bad_learn_arguments_exit_2(argv: list[str], models_dir: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["learn", "--once", "--models-dir", str(models_dir), *argv])
    assert exit_info.value.code == 2


def test_a_live_service_serves_the_learned_lists_within_10_seconds(models_dir: Path,
                                                                   readership: dict[str, str]) -> None:
    """`relatedly serve` (granian, two workers) and `relatedly learn --once` as a cron job would run them."""
    liked, standout = readership["liked"], readership["standout"]
    env = {"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_LOG_LEVEL": "WARNING"}
    with live_service(env, workers=2) as base:
        def served() -> list[str]:
            with urllib.request.urlopen(f"{base}/v1/articles/{liked}/related", timeout=5) as response:
                return [s["id"] for s in json.load(response)["related"]]

        assert served().index(standout) == STANDOUT_POSITION - 1
        learned = subprocess.run([RELATEDLY, "learn", "--once"], env={**os.environ, **env}, capture_output=True,
                                 text=True, timeout=120)
        assert learned.returncode == 0, learned.stderr
        handed_over, in_a_row = time.monotonic(), 0
        while in_a_row < 12:  # answers in a row with the learned order: from both workers, surely
            assert time.monotonic() - handed_over < 10, "the learned lists were not served within 10 s"
            in_a_row = in_a_row + 1 if served().index(standout) < STANDOUT_POSITION - 1 else 0
            time.sleep(0.05)
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            assert json.load(response)["learning"]["lists_changed"] >= 1


def test_learn_beside_the_service_runs_every_interval_until_stopped(models_dir: Path) -> None:
    env = {**os.environ, "RELATEDLY_MODELS_DIR": str(models_dir)}
    learner = subprocess.Popen([RELATEDLY, "learn", "--interval", "0.5"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (models_dir / "learned").is_dir() or not list((models_dir / "learned").glob("*.json")):
            assert time.monotonic() < deadline and learner.poll() is None, "no learned lists"
            time.sleep(0.1)
    finally:
        learner.terminate()
        out, _ = learner.communicate(timeout=60)
    assert learner.returncode == 0
    assert "lists changed" in out
