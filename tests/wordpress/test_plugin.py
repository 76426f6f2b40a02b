"""The WordPress plugin against a real WordPress (Debian's package, MariaDB, `php -S`) and a real Relatedly.

Posts are changed the way WordPress changes them (`wp_insert_post`, `wp_update_post`, `wp_trash_post`,
`wp_delete_post` in php-cli inside the site); what counts is what the service then serves and what the
site's post pages show. The delays are measured from the start of the change to the first answer
showing it, and printed at the end of the run.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from recommender.corpus import parse_article
from tests.conftest import RELATEDLY, SAMPLE_CORPUS
from tests.wordpress.conftest import TIMINGS, RelatedlyService
from tests.wordpress.site import PLUGIN_DIR, WordPressSite

pytestmark = pytest.mark.wordpress

TARGET_SECONDS = 10.0  # publish, edit and takedown reach every list within this
PAGE_SECONDS = 2.0  # a page never waits longer on Relatedly

SPACE = {
    "title": "Tiangong welcomes its first crew from abroad",
    "content": "<!-- wp:paragraph --><p>China&#8217;s Tiangong space station welcomed astronauts from other"
               " countries for the first time, opening the orbiting laboratory and its crew handover to"
               " international crews of astronauts.</p><!-- /wp:paragraph -->",
    "category": "Spaceflight",
    "tags": ["space station", "China"],
}
SPACE_FOLLOW_UP = {
    "title": "International astronauts take over Tiangong after a crew handover",
    "content": "<p>The first crew with astronauts from abroad took over China's Tiangong station after an in-orbit"
               " handover, and will run experiments for six months.</p>",
    "category": "Spaceflight",
    "tags": ["space station", "Tiangong"],
}
OCEANS = {
    "title": "Coral reefs bleach again as the ocean heatwave lingers",
    "content": "<p>Divers report a fourth global coral bleaching event: reefs across the tropics turned white"
               " as a marine heatwave kept sea temperatures high, and many corals may not recover.</p>",
    "category": "Oceans",
    "tags": ["coral", "heatwave"],
}
SAMPLE_IDS = [json.loads(line)["id"] for line in SAMPLE_CORPUS.read_text().splitlines() if line.strip()]


def get(url: str, *, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def related_ids(relatedly: RelatedlyService, article_id: str, limit: int = 10) -> list[str] | None:
    """The ids in an article's list, None when the service does not know it."""
    status, body = get(f"{relatedly.url}/v1/articles/{article_id}/related?limit={limit}")
    return [item["id"] for item in json.loads(body)["related"]] if status == 200 else None


def lists_holding(relatedly: RelatedlyService, story_id: str, article_ids: list[str]) -> list[str]:
    """The articles among `article_ids` whose default list names `story_id`."""
    holding = []
    for start in range(0, len(article_ids), 100):
        results = post_json(f"{relatedly.url}/v1/related:batch", {"ids": article_ids[start:start + 100]})["results"]
        holding += [r["article_id"] for r in results
                    if any(item["id"] == story_id for item in r.get("related", []))]
    return holding


def wait_until(name: str, condition: Callable[[], bool], started: float, *, limit: float = TARGET_SECONDS,
               report: bool = True) -> float:
    """Seconds from `started` until `condition()` held (kept for the timings report); fails past `limit`."""
    while not condition():
        if time.monotonic() - started > limit:
            pytest.fail(f"{name}: not within {limit} s")
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    if report:
        TIMINGS.append((name, elapsed))
    return elapsed


def wait_served(relatedly: RelatedlyService, post_id: int) -> None:
    """Set-up: the post is served (not a measurement)."""
    wait_until(f"post {post_id} served", lambda: served(relatedly, post_id), time.monotonic(), report=False)


Publish = Callable[..., int]


@pytest.fixture()
def publish(site: WordPressSite) -> Iterator[Publish]:
    """Writes posts as an editor would (title, content, a category, tags); deletes them after the test, so
    no test's posts crowd another's lists (near-copies are left out of a list)."""
    created: list[int] = []

    def write(story: dict[str, Any], *, meta: dict[str, str] | None = None) -> int:
        post_id = site.php(f"""
            $story = json_decode({php_json(story)}, true);
            $term = term_exists($story['category'], 'category') ?: wp_insert_term($story['category'], 'category');
            return wp_insert_post(['post_title' => $story['title'], 'post_content' => $story['content'],
                                   'post_status' => 'publish', 'post_category' => [(int) $term['term_id']],
                                   'tags_input' => $story['tags'],
                                   'meta_input' => json_decode({php_json(meta or {})}, true)], true);
        """)
        created.append(post_id)
        return post_id

    yield write
    site.php(f"foreach ({created} as $id) {{ wp_delete_post($id, true); }} return true;")


def php_string(text: str) -> str:
    """A PHP string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def php_json(value: Any) -> str:
    """A PHP string literal holding `value` as JSON."""
    return php_string(json.dumps(value))


def served(relatedly: RelatedlyService, post_id: int) -> bool:
    ids = related_ids(relatedly, str(post_id))
    return bool(ids)


def page(site: WordPressSite, post_id: int) -> tuple[int, str, float]:
    started = time.monotonic()
    status, html = get(f"{site.url}/?p={post_id}", timeout=30)
    return status, html, time.monotonic() - started


def forget_outage(site: WordPressSite) -> None:
    """Pages skip a service that just failed for a while; the tests that stop it start afresh."""
    site.php("delete_transient('relatedly_unreachable'); return true;")


def test_every_php_file_passes_php_lint() -> None:
    files = sorted(PLUGIN_DIR.rglob("*.php"))
    assert len(files) >= 8
    for path in files:
        done = subprocess.run(["php", "-l", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_published_post_is_served_with_related_stories_and_enters_older_lists(
        site: WordPressSite, relatedly: RelatedlyService, publish: Publish) -> None:
    started = time.monotonic()
    post_id = publish(SPACE)
    wait_until("publish: served with related stories", lambda: served(relatedly, post_id), started)

    status, body = get(f"{relatedly.url}/v1/articles/{post_id}")
    article = json.loads(body)["article"]
    permalink = site.php(f"return get_permalink({post_id});")
    assert (status, article["title"], article["url"], article["category"]) == (
        200, SPACE["title"], permalink, "Spaceflight")
    assert sorted(article["tags"]) == sorted(SPACE["tags"])
    nearest = related_ids(relatedly, str(post_id), limit=3)
    assert nearest[0] == "china-space-station-opens-to-international-crews"
    # the nearest older stories list the new one (the reverse update), within the same 10 s
    wait_until("publish: in the lists of its 3 nearest older stories",
               lambda: all(str(post_id) in (related_ids(relatedly, story) or []) for story in nearest), started)


def test_the_plugin_sends_a_post_as_relatedly_import_reads_it_from_the_sites_wxr_export(
        site: WordPressSite, publish: Publish, tmp_path: Path) -> None:
    """One catalogue: the record the plugin sends, cleaned as the admin API cleans it, is the article
    `relatedly import` makes of the same post in WordPress's own export (export_wp()). The body holds no
    markup, only shortcodes, blank-line paragraphs and an embed line, which an import cleans."""
    post_id = publish({"title": "Caf&eacute; &amp; orbit: [gallery] the station&#8217;s crews",
                       "content": "A classic-editor post.\n\nIts second paragraph [caption id=\"c\"]"
                                  "A caption[/caption] and an embed:\n\n"
                                  "https://www.youtube.com/watch?v=abc\n\nThe end.",
                       "category": "Spaceflight", "tags": ["space station", "Café"]})
    sent, export = site.php(f"""
        $image = wp_insert_attachment(['post_mime_type' => 'image/jpeg', 'post_title' => 'Tiangong',
                                       'post_status' => 'inherit'], 'tiangong.jpg', {post_id});
        set_post_thumbnail({post_id}, $image);
        wp_set_post_categories({post_id}, [(int) wp_insert_term('Astronomy', 'category')['term_id']], true);
        require_once ABSPATH . 'wp-admin/includes/export.php';
        ob_start();
        export_wp(['content' => 'all']);
        return [Relatedly_Article::record(get_post({post_id})), ob_get_clean()];
    """)
    (tmp_path / "export.xml").write_text(export)
    subprocess.run([RELATEDLY, "import", str(tmp_path / "export.xml"), "--out", str(tmp_path / "corpus.jsonl")],
                   check=True, capture_output=True, timeout=120)
    imported = {record["id"]: record for record in map(json.loads, (tmp_path / "corpus.jsonl").open())}
    assert parse_article(sent) == parse_article(imported[str(post_id)], body_format="text")
    assert sent["image"].endswith("/tiangong.jpg") and sent["categories"] == ["Astronomy", "Spaceflight"]


def test_an_edit_is_served_within_10_s(site: WordPressSite, relatedly: RelatedlyService, publish: Publish) -> None:
    post_id = publish(SPACE)
    wait_served(relatedly, post_id)
    started = time.monotonic()
    site.php(f"""
        $term = term_exists('Oceans', 'category') ?: wp_insert_term('Oceans', 'category');
        return wp_update_post(['ID' => {post_id}, 'post_title' => {php_string(OCEANS['title'])},
                               'post_content' => {php_string(OCEANS['content'])},
                               'post_category' => [(int) $term['term_id']]], true);
    """)

    def edited() -> bool:
        status, body = get(f"{relatedly.url}/v1/articles/{post_id}")
        ids = related_ids(relatedly, str(post_id), limit=3) or []
        return status == 200 and json.loads(body)["article"]["title"] == OCEANS["title"] and \
            "fourth-global-coral-bleaching-event-reaches-most-of-the" in ids

    wait_until("edit: new title and list served", edited, started)
    assert json.loads(get(f"{relatedly.url}/v1/articles/{post_id}")[1])["article"]["category"] == "Oceans"


def test_a_post_published_through_the_rest_api_is_served_with_its_terms(
        site: WordPressSite, relatedly: RelatedlyService) -> None:
    """The block editor's path: the REST API writes the post, then its terms (`wp_after_insert_post` sees both)."""
    password, category, tags = site.php("""
        $created = WP_Application_Passwords::create_new_application_password(1, ['name' => 'relatedly-test']);
        $term = term_exists('Spaceflight', 'category') ?: wp_insert_term('Spaceflight', 'category');
        $tag = term_exists('space station', 'post_tag') ?: wp_insert_term('space station', 'post_tag');
        return [$created[0], (int) $term['term_id'], [(int) $tag['term_id']]];
    """)
    credentials = base64.b64encode(f"admin:{password}".encode()).decode()
    body = {"title": SPACE["title"], "content": SPACE["content"], "status": "publish",
            "categories": [category], "tags": tags}
    started = time.monotonic()
    request = urllib.request.Request(f"{site.url}/?rest_route=/wp/v2/posts", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Authorization": f"Basic {credentials}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        post_id = json.loads(response.read())["id"]
    try:
        wait_until("publish through the REST API: served", lambda: served(relatedly, post_id), started)
        article = json.loads(get(f"{relatedly.url}/v1/articles/{post_id}")[1])["article"]
        assert (article["category"], article["tags"]) == ("Spaceflight", ["space station"])
    finally:
        site.php(f"wp_delete_post({post_id}, true); return true;")


@pytest.mark.parametrize("change", [
    "wp_trash_post({id});",
    "wp_update_post(['ID' => {id}, 'post_status' => 'draft']);",
    "wp_update_post(['ID' => {id}, 'post_status' => 'private']);",
    "wp_update_post(['ID' => {id}, 'post_password' => 'secret']);",
    "wp_delete_post({id}, true);",
], ids=["trash", "draft", "private", "password", "delete"])
def test_a_post_leaving_publish_is_gone_from_every_list_within_10_s(
        relatedly: RelatedlyService, site: WordPressSite, publish: Publish, change: str,
        request: pytest.FixtureRequest) -> None:
    post_id = publish(SPACE)
    wait_served(relatedly, post_id)
    holders = lists_holding(relatedly, str(post_id), SAMPLE_IDS)
    assert holders, "the new post should be in some older stories' lists before it is taken down"
    started = time.monotonic()
    site.php(change.format(id=post_id) + " return true;")
    wait_until(f"unpublish ({request.node.callspec.id}): gone from the API and from every list",
               lambda: related_ids(relatedly, str(post_id)) is None
               and not lists_holding(relatedly, str(post_id), SAMPLE_IDS), started)


def test_changes_the_service_answers_202_to_are_delivered(
        site: WordPressSite, relatedly: RelatedlyService, publish: Publish) -> None:
    """A publish that outlasts RELATEDLY_ADMIN_WAIT_SECONDS is answered 202 and runs on as a job: delivered."""
    relatedly.stop()
    relatedly.env["RELATEDLY_ADMIN_WAIT_SECONDS"] = "0"
    relatedly.start()
    try:
        request = urllib.request.Request(
            f"{relatedly.url}/v1/admin/articles", method="POST",
            data=json.dumps({"articles": [{"id": "test-202", "title": "Zymurgy ledger", "body": ""}]}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {relatedly.env['RELATEDLY_ADMIN_TOKEN']}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
        started = time.monotonic()
        post_id = publish(SPACE_FOLLOW_UP)
        wait_until("publish answered 202: served", lambda: served(relatedly, post_id), started)
        started = time.monotonic()
        site.php(f"wp_trash_post({post_id}); return true;")
        wait_until("trash answered 202: gone", lambda: related_ids(relatedly, str(post_id)) is None, started)
        assert site.php("return Relatedly_Sync::queue();") == []
    finally:
        relatedly.stop()
        del relatedly.env["RELATEDLY_ADMIN_WAIT_SECONDS"]
        relatedly.start()
        forget_outage(site)


def test_a_post_unpublished_and_published_again_is_served_again(
        site: WordPressSite, relatedly: RelatedlyService, publish: Publish) -> None:
    post_id = publish(SPACE)
    wait_served(relatedly, post_id)
    site.php(f"wp_update_post(['ID' => {post_id}, 'post_status' => 'draft']); return true;")
    wait_until("taken down", lambda: related_ids(relatedly, str(post_id)) is None, time.monotonic(), report=False)
    started = time.monotonic()
    site.php(f"wp_update_post(['ID' => {post_id}, 'post_status' => 'publish']); return true;")
    wait_until("republish: served again", lambda: served(relatedly, post_id), started)


def test_a_publish_while_relatedly_is_down_arrives_after_it_comes_back_at_the_next_wp_cron_run(
        site: WordPressSite, relatedly: RelatedlyService, publish: Publish) -> None:
    relatedly.stop()
    try:
        started = time.monotonic()
        post_id = publish(SPACE)
        TIMINGS.append(("publish while Relatedly is stopped: the editor's request", time.monotonic() - started))
        waiting = site.php("return ['queue' => array_keys(Relatedly_Sync::queue()),"
                           " 'due' => wp_next_scheduled('relatedly_deliver_queue'), 'now' => time()];")
        assert post_id in waiting["queue"] and waiting["due"] <= waiting["now"], waiting  # due at once
        assert get(f"{site.url}/wp-cron.php", timeout=60)[0] == 200  # a run while it is still down
        still = site.php("return ['queue' => array_keys(Relatedly_Sync::queue()),"
                         " 'due' => wp_next_scheduled('relatedly_deliver_queue'), 'now' => time()];")
        assert post_id in still["queue"] and still["due"] <= still["now"], still  # kept, and due again
    finally:
        relatedly.start()
    assert related_ids(relatedly, str(post_id)) is None  # nothing delivered it yet
    started = time.monotonic()
    assert get(f"{site.url}/wp-cron.php", timeout=60)[0] == 200
    TIMINGS.append(("the wp-cron.php run", time.monotonic() - started))
    wait_until("queued publish: served after one wp-cron.php run", lambda: served(relatedly, post_id), started)
    after = site.php("return ['queue' => Relatedly_Sync::queue(),"
                     " 'due' => wp_next_scheduled('relatedly_deliver_queue')];")
    assert after == {"queue": [], "due": False}
    forget_outage(site)


def test_a_scheduled_post_is_sent_by_the_wp_cron_run_that_publishes_it(
        site: WordPressSite, relatedly: RelatedlyService) -> None:
    post_id = site.php(f"""
        return wp_insert_post(['post_title' => {php_string(SPACE['title'])},
                               'post_content' => {php_string(SPACE['content'])}, 'post_status' => 'future',
                               'post_date_gmt' => gmdate('Y-m-d H:i:s', time() + 3600)]);
    """)
    try:
        assert related_ids(relatedly, str(post_id)) is None
        # the hour passes: its date and its publish_future_post event are moved to just now
        site.php(f"""
            global $wpdb;
            $wpdb->update($wpdb->posts, ['post_date_gmt' => gmdate('Y-m-d H:i:s', time() - 1),
                                         'post_date' => current_time('mysql')], ['ID' => {post_id}]);
            clean_post_cache({post_id});
            wp_clear_scheduled_hook('publish_future_post', [{post_id}]);
            return wp_schedule_single_event(time() - 1, 'publish_future_post', [{post_id}]);
        """)
        started = time.monotonic()
        assert get(f"{site.url}/wp-cron.php", timeout=60)[0] == 200
        wait_until("scheduled post: served after the wp-cron.php run that publishes it",
                   lambda: served(relatedly, post_id), started)
    finally:
        site.php(f"wp_delete_post({post_id}, true); return true;")


def test_a_post_page_has_the_server_block_and_renders_without_it_when_relatedly_is_stopped(
        site: WordPressSite, relatedly: RelatedlyService, publish: Publish) -> None:
    post_id = publish(SPACE)
    wait_served(relatedly, post_id)
    status, html, seconds = page(site, post_id)
    TIMINGS.append(("post page with the block (fragment fetched)", seconds))
    assert status == 200 and html.count('<aside class="relatedly"') == 1
    assert f'data-relatedly-for="{post_id}"' in html and "china-space-station-opens-to-international-crews" in html
    assert f"{relatedly.url}/v1/widget.js" in html  # reports impressions and clicks of the server block
    assert relatedly.env["RELATEDLY_ADMIN_TOKEN"] not in html

    # the page is cached, until a delivered change: a follow-up story enters the rendered block
    started = time.monotonic()
    other_id = publish(SPACE_FOLLOW_UP)
    wait_until("rendered post page: lists a new related story",
               lambda: f'data-relatedly-id="{other_id}"' in page(site, post_id)[1], started)
    relatedly.stop()
    try:
        status, html, seconds = page(site, other_id)
        TIMINGS.append(("post page with Relatedly stopped", seconds))
        assert status == 200 and SPACE_FOLLOW_UP["title"] in html and '<aside class="relatedly"' not in html
        assert seconds < PAGE_SECONDS
        assert f'data-relatedly-article="{other_id}"' in html  # the widget's fallback, for the browser to try
    finally:
        relatedly.start()
        forget_outage(site)


def test_a_post_page_waits_at_most_2_s_on_a_relatedly_that_never_answers(
        site: WordPressSite, relatedly: RelatedlyService, publish: Publish) -> None:
    post_id = publish(SPACE)
    wait_served(relatedly, post_id)
    relatedly.stop()
    try:
        with socket.create_server(("127.0.0.1", relatedly.port), backlog=16):  # accepts, never answers
            forget_outage(site)
            status, html, seconds = page(site, post_id)
        TIMINGS.append(("post page with Relatedly hung", seconds))
        assert status == 200 and SPACE["title"] in html and '<aside class="relatedly"' not in html
        assert seconds < PAGE_SECONDS
    finally:
        relatedly.start()
        forget_outage(site)


def test_the_shortcode_and_the_block_place_it_once_and_a_filter_turns_the_content_filter_off(
        site: WordPressSite, relatedly: RelatedlyService, publish: Publish) -> None:
    with_shortcode = publish({**SPACE, "content": SPACE["content"] + '\n[relatedly limit="2"]'})
    with_block = publish({**SPACE, "content": SPACE["content"]
                                + '\n<!-- wp:relatedly/related {"limit":3,"heading":"More from orbit"} /-->'})
    switched_off = publish(SPACE, meta={"relatedly_test_no_block": "1"})
    for post_id in (with_shortcode, with_block, switched_off):
        wait_served(relatedly, post_id)

    _, html, _ = page(site, with_shortcode)
    assert html.count('<aside class="relatedly"') == 1 and html.count('class="relatedly-item"') == 2
    _, html, _ = page(site, with_block)
    assert html.count('<aside class="relatedly"') == 1 and html.count('class="relatedly-item"') == 3
    assert "More from orbit" in html
    _, html, _ = page(site, switched_off)
    assert SPACE["title"] in html and '<aside class="relatedly"' not in html
    # the block's editor script is plain JavaScript registered from block.json (no build step)
    editor = site.php("""
        $block = WP_Block_Type_Registry::get_instance()->get_registered('relatedly/related');
        $handle = $block->editor_script_handles[0] ?? $block->editor_script;
        return [$handle, wp_scripts()->registered[$handle]->src, wp_scripts()->registered[$handle]->deps];
    """)
    assert editor[1].endswith("/wp-content/plugins/relatedly/block/editor.js") and "wp-blocks" in editor[2]


def settings_page(site: WordPressSite, cookies: str) -> str:
    request = urllib.request.Request(f"{site.url}/wp-admin/options-general.php?page=relatedly",
                                     headers={"Cookie": cookies})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def test_the_settings_page_shows_the_constants_and_never_the_token(
        site: WordPressSite, relatedly: RelatedlyService) -> None:
    html = settings_page(site, site.admin_cookies())
    assert "Set in wp-config.php (RELATEDLY_ADMIN_TOKEN)" in html and relatedly.url in html
    assert relatedly.env["RELATEDLY_ADMIN_TOKEN"] not in html


def test_without_the_constants_the_settings_page_configures_the_plugin_and_keeps_the_token_unseen(
        tmp_path: Path, relatedly: RelatedlyService) -> None:
    site = WordPressSite(tmp_path / "site", service_url=None, admin_token=None).install().serve()
    # the service is shared with the other site, whose post IDs (and takedowns) must not collide with these
    site.php("global $wpdb; return $wpdb->query(\"ALTER TABLE {$wpdb->posts} AUTO_INCREMENT = 100000\");")
    try:
        cookies = site.admin_cookies()
        token = relatedly.env["RELATEDLY_ADMIN_TOKEN"]

        def save(fields: dict[str, str]) -> None:
            nonce = re.search(r'name="_wpnonce" value="([^"]+)"', settings_page(site, cookies)).group(1)
            form = {"option_page": "relatedly", "action": "update", "_wpnonce": nonce,
                    "relatedly_public_url": "", "relatedly_auto_insert": "1", "relatedly_limit": "4",
                    "relatedly_heading": "", **fields}
            request = urllib.request.Request(f"{site.url}/wp-admin/options.php", method="POST",
                                             data=urllib.parse.urlencode(form).encode(), headers={"Cookie": cookies})
            urllib.request.urlopen(request, timeout=30).close()

        def write_post() -> int:
            return site.php(f"return wp_insert_post(['post_title' => {php_string(SPACE['title'])},"
                            f" 'post_content' => {php_string(SPACE['content'])}, 'post_status' => 'publish']);")

        early = write_post()  # published before the plugin knows the service: it waits in the queue
        assert site.php("return array_keys(Relatedly_Sync::queue());") == [early]
        save({"relatedly_service_url": relatedly.url, "relatedly_admin_token": token})
        html = settings_page(site, cookies)
        assert relatedly.url in html and "A token is saved" in html and token not in html
        save({"relatedly_service_url": relatedly.url, "relatedly_admin_token": ""})  # blank keeps the token
        assert site.php("return get_option('relatedly_admin_token');") == token

        started = time.monotonic()
        assert get(f"{site.url}/wp-cron.php", timeout=60)[0] == 200  # saving the settings made the queue due
        wait_until("published before configuration: served after the settings and a wp-cron.php run",
                   lambda: served(relatedly, early), started)
        started = time.monotonic()
        post_id = write_post()
        wait_until("publish, configured by the settings page: served", lambda: served(relatedly, post_id), started)
        status, html, _ = page(site, post_id)
        assert status == 200 and html.count('<aside class="relatedly"') == 1 and token not in html
        assert html.count('class="relatedly-item"') == 4
        site.php(f"wp_delete_post({early}, true); wp_delete_post({post_id}, true); return true;")
    finally:
        site.drop()
