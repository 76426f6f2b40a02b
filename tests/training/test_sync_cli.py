"""`relatedly sync URL` against fake-but-real sites on a loopback port (`tests/fake_sites.py`): WordPress's REST
API, Ghost's Content API, RSS and Atom; what the served model holds afterwards, the cursor, the failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import select

from recommender import artifacts
from storage import Database, default_database_url
from storage.schema import sync_sources
from tests.conftest import ROOT, SPACE_STATION_ID, free_port
from tests.fake_sites import GHOST_KEY, FakeSite
from tests.training.test_update_cli import RANKED_LINE
from training.cli import main

TIANGONG = ("First foreign astronaut selected to fly to China's Tiangong space station",
            "A Pakistani pilot has been chosen as the first foreign astronaut to visit the Tiangong space station, "
            "after China opened its orbital outpost to crews from other countries. The candidate will train in "
            "Beijing with Chinese taikonauts on Shenzhou capsule operations before docking with the Tianhe core "
            "module. Experiments planned for the Wentian and Mengtian laboratory modules include microgravity "
            "materials science.", ["tiangong", "space station", "astronauts"])
CORAL = ("Heat-tolerant corals spread on a reef that bleached twice",
         "Marine biologists found that corals surviving two marine heatwaves now dominate a reef that bleached "
         "in consecutive summers. Coral bleaching struck most reefs during the global event, but heat-tolerant "
         "colonies recovered and spawned, offering hope for restoration of coral reefs as oceans warm.",
         ["coral reefs", "coral bleaching", "ocean warming"])
FUSION = ("Laser fusion shot repeats ignition with a higher yield",
          "A second laser fusion experiment at the ignition facility produced more energy than the lasers "
          "delivered to the fuel capsule, confirming inertial confinement fusion ignition and raising the energy "
          "gain record for nuclear fusion.", ["nuclear fusion", "lasers", "ignition"])


@pytest.fixture()
def site(serve_app: Callable[..., AbstractContextManager[str]]) -> Iterator[tuple[FakeSite, str]]:
    """A fake site with three published posts, served on a loopback port."""
    fake = FakeSite()
    for post_id, (title, body, tags) in zip((101, 102, 103), (TIANGONG, CORAL, FUSION), strict=True):
        fake.publish(post_id, title, body, tags)
    with serve_app(fake.app) as base:
        yield fake, base


def sync(url: str, models_dir: Path, *extra: str) -> int:
    return main(["sync", url, "--once", "--models-dir", str(models_dir), "--retries", "0", *extra])


def related_ids(article_id: str, models_dir: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["related", article_id, "--models-dir", str(models_dir)]) == 0
    return [m.group(3) for m in map(RANKED_LINE.match, capsys.readouterr().out.splitlines()) if m]


def served_ids(models_dir: Path) -> set[str]:
    return set(artifacts.read_article_ids(models_dir, artifacts.read_current(models_dir)))


def test_wordpress_posts_are_served_edited_withdrawn_and_served_again(
    site: tuple[FakeSite, str], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, base = site
    before = artifacts.read_current(models_dir)

    assert sync(base, models_dir) == 0
    out = capsys.readouterr().out
    first = artifacts.read_current(models_dir)
    assert first != before
    assert f"synced {base}: 3 fetched, 3 added or edited, 0 withdrawn" in out
    assert {"101", "102", "103"} <= served_ids(models_dir)  # the post IDs, as `relatedly import` gives them
    assert SPACE_STATION_ID in related_ids("101", models_dir, capsys)[:3]
    assert "101" in related_ids(SPACE_STATION_ID, models_dir, capsys)  # inside its older neighbours' lists

    fake.requests.clear()
    assert sync(base, models_dir) == 0  # the cursor persisted: nothing new, nothing published
    assert "0 added or edited, 0 withdrawn, 3 unchanged" in capsys.readouterr().out  # the last minute, read again
    assert any("modified_after=" in request for request in fake.requests)
    assert artifacts.read_current(models_dir) == first

    fake.edit(101, title="Tiangong welcomes its first foreign astronaut")
    fake.edit(102, status="draft")
    assert sync(base, models_dir) == 0
    assert "1 added or edited, 1 withdrawn" in capsys.readouterr().out
    assert "102" not in served_ids(models_dir)
    assert "102" not in related_ids("103", models_dir, capsys) + related_ids(SPACE_STATION_ID, models_dir, capsys)
    main(["related", "101", "--limit", "1", "--models-dir", str(models_dir)])
    assert capsys.readouterr().out.startswith("101: Tiangong welcomes its first foreign astronaut")

    fake.edit(102, status="publish")  # the CMS publishing it again: not an editor's permanent remove
    assert sync(base, models_dir) == 0
    assert "102" in served_ids(models_dir)
    manifest = artifacts.read_manifest(models_dir, artifacts.read_current(models_dir))
    assert "102" not in manifest["takedowns"]


def test_a_site_without_pretty_permalinks_is_followed_through_rest_route(
    site: tuple[FakeSite, str], models_dir: Path
) -> None:
    fake, base = site
    fake.pretty_permalinks = False  # WordPress names `/index.php?rest_route=/` in its Link header
    assert sync(base, models_dir) == 0
    assert {"101", "102", "103"} <= served_ids(models_dir)
    assert all("rest_route=/wp/v2/posts" in request for request in fake.requests if "posts" in request)
    fake.edit(102, status="trash")
    assert sync(base, models_dir) == 0
    assert "102" not in served_ids(models_dir)


@pytest.mark.parametrize("status", ["private", "trash", "deleted"])
def test_a_post_leaving_publish_without_a_new_modification_time_is_withdrawn(
    site: tuple[FakeSite, str], models_dir: Path, status: str
) -> None:
    fake, base = site
    assert sync(base, models_dir) == 0
    fake.posts[103].status = status  # a delete leaves no modified post to list: only the count tells
    assert sync(base, models_dir) == 0
    assert "103" not in served_ids(models_dir)
    assert {"101", "102"} <= served_ids(models_dir)


def test_a_password_protected_post_is_withdrawn(site: tuple[FakeSite, str], models_dir: Path) -> None:
    fake, base = site
    assert sync(base, models_dir) == 0
    fake.edit(101, password="secret")
    assert sync(base, models_dir) == 0
    assert "101" not in served_ids(models_dir)


def test_an_editors_remove_stays_permanent(
    site: tuple[FakeSite, str], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, base = site
    assert sync(base, models_dir) == 0
    assert main(["remove", "103", "--models-dir", str(models_dir)]) == 0
    fake.edit(103, title="Laser fusion shot repeats ignition (corrected)")
    capsys.readouterr()
    assert sync(base, models_dir) == 0
    out = capsys.readouterr().out
    assert "1 refused as taken down" in out and "refused (taken down by 'relatedly remove'" in out
    assert "103" not in served_ids(models_dir)


def import_rest_dump(base: str, models_dir: Path, tmp_path: Path) -> int:
    """The site's posts as a REST dump, imported by `relatedly update`; the model's article count after it."""
    dump = tmp_path / "posts.json"
    with urllib.request.urlopen(f"{base}/wp-json/wp/v2/posts?per_page=100&_embed=1") as reply:
        dump.write_bytes(reply.read())
    assert main(["update", "--corpus", str(dump), "--models-dir", str(models_dir)]) == 0
    return artifacts.read_manifest(models_dir, artifacts.read_current(models_dir))["n_articles"]


def test_an_imported_rest_dump_and_the_synced_site_are_one_catalogue(
    site: tuple[FakeSite, str], models_dir: Path, tmp_path: Path
) -> None:
    fake, base = site
    n_imported = import_rest_dump(base, models_dir, tmp_path)
    fake.publish(104, "Another station story", TIANGONG[1], TIANGONG[2])

    assert sync(base, models_dir) == 0
    manifest = artifacts.read_manifest(models_dir, artifacts.read_current(models_dir))
    assert manifest["n_articles"] == n_imported + 1  # 101-103 replaced in place, 104 added
    assert manifest["changes"]["added"] == 1


def test_since_starts_after_the_export_and_an_imported_post_that_leaves_publish_is_withdrawn(
    site: tuple[FakeSite, str], models_dir: Path, tmp_path: Path
) -> None:
    fake, base = site
    n_imported = import_rest_dump(base, models_dir, tmp_path)
    exported_at = fake.tick().strftime("%Y-%m-%dT%H:%M:%SZ")
    fake.publish(104, "Another station story", TIANGONG[1], TIANGONG[2])
    fake.edit(102, password="members only")

    assert sync(base, models_dir, "--since", exported_at) == 0
    ids = served_ids(models_dir)
    assert "104" in ids and "102" not in ids and {"101", "103"} <= ids
    assert artifacts.read_manifest(models_dir, artifacts.read_current(models_dir))["n_articles"] == n_imported


def test_more_changes_than_max_posts_continue_at_the_next_polls(
    serve_app: Callable[..., AbstractContextManager[str]], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeSite()
    for post_id in range(1, 251):
        fake.publish(post_id, f"Story number {post_id} about {TIANGONG[2][post_id % 3]}", CORAL[1], CORAL[2])
    with serve_app(fake.app) as base:
        assert sync(base, models_dir, "--max-posts", "100") == 0
        assert "more changes than --max-posts" in capsys.readouterr().out
        assert len({str(i) for i in range(1, 251)} & served_ids(models_dir)) == 100
        assert sync(base, models_dir, "--max-posts", "100") == 0
        fake.publish(251, "A story published during the backlog", FUSION[1], FUSION[2])
        assert sync(base, models_dir, "--max-posts", "100") == 0
        assert sync(base, models_dir, "--max-posts", "100") == 0
        assert {str(i) for i in range(1, 252)} <= served_ids(models_dir)
        capsys.readouterr()
        assert sync(base, models_dir, "--max-posts", "100") == 0
        assert "0 added or edited, 0 withdrawn" in capsys.readouterr().out


@pytest.mark.parametrize("path", ["/feed/", "/atom/"])
def test_feeds_are_followed_with_conditional_gets(
    site: tuple[FakeSite, str], models_dir: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    fake, base = site
    assert sync(base + path, models_dir) == 0
    ids = served_ids(models_dir)
    item_id = f"{base}/?p=101" if path == "/feed/" else "tag:fake,2026:101"
    assert item_id in ids
    version = artifacts.read_current(models_dir)
    capsys.readouterr()
    assert sync(base + path, models_dir) == 0  # 304 Not Modified
    assert "0 fetched" in capsys.readouterr().out
    assert artifacts.read_current(models_dir) == version
    fake.publish(104, "Another station story", TIANGONG[1], TIANGONG[2])
    assert sync(base + path, models_dir) == 0
    assert "1 added or edited" in capsys.readouterr().out
    fake.edit(101, status="draft")  # leaving a feed is not leaving publish: a feed holds only its latest items
    assert sync(base + path, models_dir) == 0
    assert item_id in served_ids(models_dir)


def test_ghost_posts_are_served_and_withdrawn(
    site: tuple[FakeSite, str], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, base = site
    assert sync(base, models_dir, "--ghost-key", GHOST_KEY) == 0
    ghost_ids = {post.ghost_id for post in fake.posts.values()}
    assert ghost_ids <= served_ids(models_dir)
    assert SPACE_STATION_ID in related_ids(fake.posts[101].ghost_id, models_dir, capsys)[:3]
    fake.edit(102, status="draft")
    assert sync(base, models_dir, "--ghost-key", GHOST_KEY) == 0
    assert fake.posts[102].ghost_id not in served_ids(models_dir)
    fake.edit(102, status="publish")
    assert sync(base, models_dir, "--ghost-key", GHOST_KEY) == 0
    assert fake.posts[102].ghost_id in served_ids(models_dir)


def test_a_wrong_ghost_key_is_a_clear_failure(
    site: tuple[FakeSite, str], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, base = site
    assert sync(base, models_dir, "--ghost-key", "wrong") == 1
    assert "HTTP 401" in capsys.readouterr().err


@pytest.mark.parametrize("failure, message", [
    ("down", "cannot connect"),
    ("500", "HTTP 500"),
    ("garbage", "the answer is not JSON"),
    ("huge", "over the 1048576-byte limit"),
    ("slow", "within 0.5 s"),
])
def test_a_broken_site_leaves_the_served_model_untouched(
    site: tuple[FakeSite, str], models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    failure: str, message: str,
) -> None:
    fake, base = site
    assert sync(base, models_dir) == 0
    fake.publish(104, "Another station story", TIANGONG[1], TIANGONG[2])
    version = artifacts.read_current(models_dir)
    url = f"http://127.0.0.1:{free_port()}" if failure == "down" else base
    fake.fail = None if failure == "down" else failure
    metrics = tmp_path / "sync.prom"

    code = main(["sync", url, "--once", "--models-dir", str(models_dir), "--retries", "1", "--timeout", "0.5",
                 "--max-response-mb", "1", "--metrics-file", str(metrics)])

    out, err = capsys.readouterr()
    assert code == 1
    assert message in err and "the served model is unchanged" in err
    assert "sync_failed" in out and message in out
    assert ("sync_request_retry" in out) == (failure in ("down", "500", "slow"))  # what may pass is retried
    assert artifacts.read_current(models_dir) == version
    assert f'relatedly_sync_failures_total{{source="{url}"}} 1.0' in metrics.read_text()
    fake.fail = None
    assert sync(base, models_dir) == 0  # the cursor did not move: the post missed comes now
    assert "104" in served_ids(models_dir)


def test_state_and_counters_are_in_the_database(site: tuple[FakeSite, str], models_dir: Path) -> None:
    _, base = site
    assert sync(base, models_dir) == 0
    database = Database.from_url(default_database_url(models_dir))
    with database.engine.connect() as conn:
        row = conn.execute(select(sync_sources).where(sync_sources.c.source == base)).mappings().one()
    database.dispose()
    assert row["cursor"] is not None and row["polls"] == 1 and row["failures"] == 0 and row["posts_upserted"] == 3
    assert row["last_version"] == artifacts.read_current(models_dir)


def test_the_interval_loop_polls_until_sigterm(site: tuple[FakeSite, str], models_dir: Path, tmp_path: Path) -> None:
    fake, base = site
    log = tmp_path / "sync.log"
    env = {**os.environ, "RELATEDLY_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    with log.open("w") as output:
        job = subprocess.Popen([sys.executable, "-m", "training", "sync", base, "--interval", "0.3"], env=env,
                               stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_for(lambda: "101" in _served_or_empty(models_dir), job, log)
            fake.publish(104, "Another station story", TIANGONG[1], TIANGONG[2])
            _wait_for(lambda: "104" in _served_or_empty(models_dir), job, log)
            job.send_signal(signal.SIGTERM)
            assert job.wait(timeout=15) == 0
        finally:
            if job.poll() is None:
                job.kill()
                job.wait()
    text = log.read_text()
    assert "sync_stop_requested signal=SIGTERM" in text and "sync_stopped" in text


def _served_or_empty(models_dir: Path) -> set[str]:
    try:
        return served_ids(models_dir)
    except (OSError, json.JSONDecodeError):
        return set()


def _wait_for(condition: Callable[[], bool], job: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if job.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"sync never got there:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
