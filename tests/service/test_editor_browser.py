"""The editor page in real headless Chromium: sign in, search, open, pin, block, CSRF, sign out, phone width."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from service import create_app
from service.config import Settings
from service.pages.editor_session import COOKIE, MAX_FAILURES_PER_ADDRESS
from storage.events import EventRow, append_events
from tests.conftest import SPACE_STATION_ID

TOKEN = "editor-token-for-the-browser"
BIRDS_TITLE = "Why Birds Sing Loudest at Dawn"
SCREENSHOT = os.environ.get("RELATEDLY_EDITOR_SCREENSHOT")  # e.g. docs/editor.png, to refresh the README's picture


@pytest.fixture()
def editor_app(models_dir: Path):
    return create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN), watch=False)


def _sign_in(page, base_url: str, token: str = TOKEN) -> None:
    page.goto(f"{base_url}/editor")
    page.fill("input[name=token]", token)
    page.fill("input[name=name]", "Ada")
    page.click("form.sign-in button[type=submit]")


def _confirm(page, reason: str | None) -> None:
    """Answer the confirmation dialog: with a reason, or cancel it (None)."""
    page.wait_for_selector("dialog#confirm[open]")
    if reason is None:
        page.click("#confirm-cancel")
    else:
        page.fill("#confirm-reason", reason)
        page.click("#confirm-ok")
    page.wait_for_selector("dialog#confirm", state="hidden")


def _api_status(page, method: str, path: str, body: dict | None = None, csrf: bool = False) -> int:
    """A fetch from inside the signed-in page (its cookie goes along), with or without the CSRF header."""
    return page.evaluate(
        """async ([method, path, body, csrf]) => {
            const headers = {"Content-Type": "application/json"};
            if (csrf) headers["X-CSRF-Token"] = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch(path, {method, headers, body: body ? JSON.stringify(body) : undefined});
            return response.status;
        }""",
        [method, path, body, csrf],
    )


def test_an_editor_signs_in_pins_blocks_and_signs_out(browser, serve_app, editor_app) -> None:
    with serve_app(editor_app) as base_url:
        context = browser.new_context(viewport={"width": 1100, "height": 1400})
        page = context.new_page()
        try:
            _sign_in(page, base_url, token="not-the-admin-token")
            assert "That token is not valid." in page.inner_text(".error")
            _sign_in(page, base_url)
            page.wait_for_selector("#search")
            (cookie,) = context.cookies()
            assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Strict", False)

            page.fill("#search", "space station")
            page.click("#search-form button")
            row = page.locator("#search-results li", has_text="Tiangong space station opens its doors")
            row.get_by_role("button", name="Open").click()
            page.wait_for_selector("#related li .badge")
            assert page.inner_text("#article-title").startswith("China's Tiangong space station")
            why = page.inner_text("#related li:first-child .why")
            assert why.startswith("Why: shares: ") and "similarity" not in why and "semantic" not in why
            first_model_story = page.inner_text("#related li:first-child a")

            page.fill("#pin-search", "birds dawn")
            page.click("#pin-form button")
            page.locator("#pin-results li", has_text=BIRDS_TITLE).get_by_role("button", name="Pin").click()
            page.wait_for_selector(f"#related li:first-child a:text('{BIRDS_TITLE}')")
            assert page.inner_text("#related li:first-child .badge") == "PINNED"
            assert page.inner_text("#related li:nth-child(2) a") == first_model_story

            page.locator("#related li:nth-child(2)").get_by_role("button", name="Block").click()
            _confirm(page, "A rival outlet's version of our story")
            page.locator("#blocks li", has_text=first_model_story).wait_for()
            assert first_model_story not in page.inner_text("#related")
            assert first_model_story in page.inner_text("#blocks")
            if SCREENSHOT:
                page.screenshot(path=SCREENSHOT, full_page=True)

            shown = page.locator("#related > li").count()
            strict = editor_app.test_client().get(f"/v1/articles/{SPACE_STATION_ID}/related?min_score=0.4")
            assert strict.get_json()["count"] < shown
            page.click("#options summary")
            page.fill("#options-form input[name=min_score]", "0.4")
            page.wait_for_selector("#list-note:text('not saved')")
            expect(page.locator("#related > li")).to_have_count(strict.get_json()["count"])
            assert page.inner_text("#related li:first-child a") == BIRDS_TITLE  # a pin ignores the score floor
            page.click("#options-form button[type=reset]")
            expect(page.locator("#related > li")).to_have_count(shown)

            pins = f"/v1/admin/overrides/pins/{SPACE_STATION_ID}"
            assert _api_status(page, "PUT", pins, {"stories": []}) == 403  # no CSRF token: refused
            assert _api_status(page, "DELETE", pins) == 403
            listed = page.evaluate(f"fetch('/v1/articles/{SPACE_STATION_ID}/related', {{cache: 'no-store'}})"
                                   ".then(r => r.json())")
            assert listed["related"][0]["source"] == "pinned"  # nothing changed
            assert first_model_story not in [item["title"] for item in listed["related"]]
            assert _api_status(page, "DELETE", pins, csrf=True) == 200  # with the token it works

            page.get_by_role("button", name="Sign out").click()
            page.wait_for_selector("form.sign-in")
            assert context.cookies() == []
            assert _api_status(page, "GET", "/v1/admin/overrides") == 401
        finally:
            context.close()


def test_the_page_fits_a_phone_shows_inactive_overrides_and_finds_links_for_drafts(
    browser, serve_app, editor_app
) -> None:
    kept = editor_app.test_client().post("/v1/admin/overrides/exclusions", headers={"Authorization": f"Bearer {TOKEN}"},
                                         json={"story_id": "taken-down-story", "allow_inactive": True})
    assert kept.status_code == 200
    with serve_app(editor_app) as base_url:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = context.new_page()
        try:
            _sign_in(page, base_url)
            page.wait_for_selector("#all-overrides li .badge.inactive")
            assert "Excluded everywhere: taken-down-story" in page.inner_text("#all-overrides")
            page.fill("#draft-form input[name=title]", "Astronauts dock at the space station")
            page.fill("#draft-form textarea", "A new crew docked with the orbiting station for a six-month stay.")
            page.click("#draft-form button")
            page.wait_for_selector("#draft-results li a")
            assert page.locator("#draft-results li").count() >= 3
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        finally:
            context.close()


def test_failed_sign_ins_are_rate_limited_across_workers(models_dir: Path, database_url: str) -> None:
    """Five failures lock out that editor's name; the address only after thirty (a newsroom shares one)."""
    worker, other_worker = (create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN,
                                                database_url=database_url), watch=False).test_client() for _ in "ab")
    office = {"REMOTE_ADDR": "10.9.8.7"}

    def sign_in(client, token: str, name: str, where: dict[str, str] = office, **kwargs) -> int:
        return client.post("/editor/sign-in", data={"token": token, "name": name}, environ_base=where, **kwargs)

    statuses = [sign_in(worker if i % 2 else other_worker, f"wrong-{i}", "Ada").status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    right = sign_in(worker, TOKEN, "Ada")
    assert right.status_code == 429 and 0 < int(right.headers["Retry-After"]) <= 301  # even the right token waits
    colleague = sign_in(worker, TOKEN, "Grace")  # same office address: not locked out by Ada's typos
    assert colleague.status_code == 303 and "HttpOnly" in colleague.headers["Set-Cookie"]
    assert "SameSite=Strict" in colleague.headers["Set-Cookie"]
    guesses = [sign_in(other_worker, "wrong", f"name {i}").status_code for i in range(MAX_FAILURES_PER_ADDRESS)]
    assert guesses == [401] * (MAX_FAILURES_PER_ADDRESS - 5) + [429] * 5  # Ada's five failures count here too
    assert sign_in(worker, TOKEN, "Linus").status_code == 429  # now the address waits, whoever signs in
    assert sign_in(worker, TOKEN, "Linus", {"REMOTE_ADDR": "10.9.8.6"}).status_code == 303
    spoofed = sign_in(worker, TOKEN, "Linus", headers={"X-Forwarded-For": "198.51.100.1"})
    assert spoofed.status_code == 429  # no proxy trusted by default: the header is not believed
    behind_https = worker.post("/editor/sign-in", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in behind_https.headers["Set-Cookie"]


def test_behind_a_trusted_proxy_sign_ins_are_limited_per_forwarded_client(models_dir: Path, database_url: str) -> None:
    worker = create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN, database_url=database_url,
                                 trusted_proxies=1), watch=False).test_client()
    proxy = {"REMOTE_ADDR": "10.9.8.1"}

    def sign_in(token: str, reader: str, name: str) -> int:
        return worker.post("/editor/sign-in", data={"token": token, "name": name}, environ_base=proxy,
                           headers={"X-Forwarded-For": reader}).status_code

    tries = MAX_FAILURES_PER_ADDRESS + 1
    assert [sign_in("wrong", "203.0.113.7", f"n{i}") for i in range(tries)] == [401] * (tries - 1) + [429]
    assert sign_in(TOKEN, "203.0.113.8", "Ada") == 303  # another client behind the same proxy is not locked out


EDITORS = (("Ada", "ada-token-0123456789"), ("Grace", "grace-token-0123456789"))


@pytest.fixture()
def newsroom_app(models_dir: Path, tmp_path: Path):
    """The editor page with two named editors, each with a token of their own."""
    return create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN, editor_tokens=EDITORS,
                               database_url=f"sqlite:///{tmp_path / 'newsroom.db'}"), watch=False)


def _sign_in_as(page, base_url: str, name: str, token: str) -> None:
    page.goto(f"{base_url}/editor")
    page.fill("input[name=name]", name)
    page.fill("input[name=token]", token)
    page.click("form.sign-in button[type=submit]")


def _open(page, title_words: str, title: str) -> None:
    page.fill("#search", title_words)
    page.click("#search-form button")
    page.locator("#search-results li", has_text=title).get_by_role("button", name="Open").click()
    page.wait_for_selector("#related li .badge")


def _seed_events(app, article_id: str, shown: list[str], clicked: str) -> None:
    """Two lists of `article_id` shown to readers, one click on `clicked`."""
    rows, now = [], datetime.now(UTC)
    for list_id in ("l1", "l2"):
        rows += [EventRow(now, "impression", list_id, article_id, story, n, "v") for n, story in
                 enumerate(shown, start=1)]
    rows.append(EventRow(now, "click", "l1", article_id, clicked, shown.index(clicked) + 1, "v"))
    append_events(app.extensions["relatedly"].database, rows)


def test_named_editors_confirm_exclusions_with_a_reason_and_the_log_says_who(browser, serve_app,
                                                                              newsroom_app, axe_audit) -> None:
    client = newsroom_app.test_client()
    shown = [s["id"] for s in client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=3").get_json()["related"]]
    _seed_events(newsroom_app, SPACE_STATION_ID, shown, clicked=shown[1])
    with serve_app(newsroom_app) as base_url:
        context = browser.new_context(viewport={"width": 1100, "height": 1400})
        page = context.new_page()
        try:
            page.goto(f"{base_url}/editor")
            assert axe_audit(page) == []  # the sign-in page
            _sign_in_as(page, base_url, "Ada", TOKEN)  # the admin token is for scripts once editors are named
            assert page.inner_text(".error") == "That name and token do not match."
            _sign_in_as(page, base_url, "Ada", EDITORS[1][1])  # Grace's token does not sign Ada in
            assert page.inner_text(".error") == "That name and token do not match."
            _sign_in_as(page, base_url, "ada", EDITORS[0][1])
            page.wait_for_selector("#search")
            assert page.inner_text(".sign-out strong") == "Ada"  # the configured spelling

            _open(page, "space station", "Tiangong space station opens its doors")
            figures = page.locator("#related li .figures")
            expect(figures.nth(1)).to_have_text("shown 2× · 1 click · CTR 50.0% (30 days)")
            expect(figures.nth(0)).to_have_text("shown 2× · 0 clicks · CTR 0.0% (30 days)")
            expect(figures.nth(4)).to_have_text("not shown in 30 days")
            assert "match" in page.inner_text("#related li:first-child .meta")

            first = page.inner_text("#related li:first-child a")
            page.locator("#related li:first-child").get_by_role("button", name="Exclude").click()
            assert "will not appear in any related list" in page.inner_text("#confirm-text")
            assert axe_audit(page) == []  # the editor, with the confirmation open
            _confirm(page, None)  # cancelled: nothing changes
            assert page.inner_text("#related li:first-child a") == first
            assert client.get("/v1/admin/overrides", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()[
                "exclusions"] == []
            page.locator("#related li:first-child").get_by_role("button", name="Exclude").click()
            page.click("#confirm-ok")  # no reason: the form does not submit
            assert page.locator("dialog#confirm").is_visible()
            page.fill("#confirm-reason", "Sponsored content")
            page.click("#confirm-ok")
            page.locator("#changes li", has_text="Sponsored content").wait_for()
            assert first not in page.inner_text("#related")
            assert "Ada excluded everywhere" in page.inner_text("#changes li:first-child")

            page.fill("#pin-search", "birds dawn")
            page.click("#pin-form button")
            page.locator("#pin-results li", has_text=BIRDS_TITLE).get_by_role("button", name="Pin").click()
            page.locator("#pin-results li", has_text=BIRDS_TITLE).get_by_role("button", name="Pinned").wait_for()
            assert page.locator("#pin-results li", has_text=BIRDS_TITLE).get_by_role("button").is_disabled()
            page.locator("#all-overrides li", has_text="Pins under").wait_for()
            assert axe_audit(page) == []
            if SCREENSHOT:
                page.screenshot(path=SCREENSHOT, full_page=True)
            page.get_by_role("button", name="Sign out").click()

            _sign_in_as(page, base_url, "Grace", EDITORS[1][1])
            _open(page, "space station", "Tiangong space station opens its doors")
            page.locator("#related li:nth-child(2)").get_by_role("button", name="Block").click()
            _confirm(page, "Duplicate of our own report")
            page.locator("#changes li", has_text="Duplicate of our own report").wait_for()
            page.locator("#all-overrides li", has_text="never under").get_by_role("button").wait_for()
        finally:
            context.close()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    entries = client.get("/v1/admin/overrides/audit", headers=bearer).get_json()["entries"]
    assert [(e["actor"], e["action"], e["detail"]) for e in entries] == [
        ("editor:Grace", "block", "Duplicate of our own report"), ("editor:Ada", "pin", ""),
        ("editor:Ada", "exclude", "Sponsored content")]


def test_a_removed_editors_session_ends(models_dir: Path, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'editors.db'}"
    both = create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN, editor_tokens=EDITORS,
                               database_url=database_url), watch=False).test_client()
    assert both.post("/editor/sign-in", data={"name": "Grace", "token": EDITORS[1][1]}).status_code == 303
    assert b'id="search"' in both.get("/editor").data
    ada_only = create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN, editor_tokens=EDITORS[:1],
                                   database_url=database_url), watch=False).test_client()
    ada_only.set_cookie(COOKIE, both.get_cookie(COOKIE).value)
    assert b'id="search"' not in ada_only.get("/editor").data  # back to the sign-in form
    assert ada_only.get("/v1/admin/overrides").status_code == 401


def test_an_article_without_a_url_or_section_reads_cleanly(browser, serve_app, editor_app, axe_audit) -> None:
    added = editor_app.test_client().post("/v1/admin/articles", headers={"Authorization": f"Bearer {TOKEN}"}, json={
        "articles": [{"id": "no-url-story", "title": "Space station crew returns to Earth",
                      "body": "The space station crew returned to Earth after six months aboard the station."}]})
    assert added.status_code == 200
    with serve_app(editor_app) as base_url:
        context = browser.new_context(viewport={"width": 1100, "height": 1400})
        page = context.new_page()
        try:
            page.goto(f"{base_url}/editor")
            assert axe_audit(page) == []  # the sign-in page with the admin token
            _sign_in(page, base_url, token="not-the-admin-token")
            assert axe_audit(page) == []  # with its error
            _sign_in(page, base_url)
            _open(page, "crew returns", "Space station crew returns to Earth")
            assert page.inner_text("#article-meta") == "no-url-story · undated · no section"
            assert axe_audit(page) == []
        finally:
            context.close()
