"""The editor page in real headless Chromium: sign in, search, open, pin, block, CSRF, sign out, phone width."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from service import create_app
from service.config import Settings
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
            assert "similarity" in page.inner_text("#related li:first-child .why")
            first_model_story = page.inner_text("#related li:first-child a")

            page.fill("#pin-search", "birds dawn")
            page.click("#pin-form button")
            page.locator("#pin-results li", has_text=BIRDS_TITLE).get_by_role("button", name="Pin").click()
            page.wait_for_selector(f"#related li:first-child a:text('{BIRDS_TITLE}')")
            assert page.inner_text("#related li:first-child .badge") == "PINNED"
            assert page.inner_text("#related li:nth-child(2) a") == first_model_story

            page.locator("#related li:nth-child(2)").get_by_role("button", name="Block").click()
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
    worker, other_worker = (create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN,
                                                database_url=database_url), watch=False).test_client() for _ in "ab")
    address = {"REMOTE_ADDR": "10.9.8.7"}
    statuses = [(worker if i % 2 else other_worker).post("/editor/sign-in", data={"token": f"wrong-{i}"},
                                                         environ_base=address).status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    right = worker.post("/editor/sign-in", data={"token": TOKEN}, environ_base=address)
    assert right.status_code == 429 and 0 < int(right.headers["Retry-After"]) <= 301  # even the right token waits
    other = worker.post("/editor/sign-in", data={"token": TOKEN}, environ_base={"REMOTE_ADDR": "10.9.8.6"})
    assert other.status_code == 303 and "HttpOnly" in other.headers["Set-Cookie"]
    assert "SameSite=Strict" in other.headers["Set-Cookie"]
    spoofed = worker.post("/editor/sign-in", data={"token": TOKEN}, environ_base=address,
                          headers={"X-Forwarded-For": "198.51.100.1"})
    assert spoofed.status_code == 429  # no proxy trusted by default: the header is not believed
    behind_https = worker.post("/editor/sign-in", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in behind_https.headers["Set-Cookie"]


def test_behind_a_trusted_proxy_sign_ins_are_limited_per_forwarded_client(models_dir: Path, database_url: str) -> None:
    worker = create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN, database_url=database_url,
                                 trusted_proxies=1), watch=False).test_client()
    proxy = {"REMOTE_ADDR": "10.9.8.1"}

    def sign_in(token: str, reader: str) -> int:
        return worker.post("/editor/sign-in", data={"token": token}, environ_base=proxy,
                           headers={"X-Forwarded-For": reader}).status_code

    assert [sign_in(f"wrong-{i}", "203.0.113.7") for i in range(6)] == [401] * 5 + [429]
    assert sign_in(TOKEN, "203.0.113.8") == 303  # another reader behind the same proxy is not locked out
