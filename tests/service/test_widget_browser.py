"""The widget in a real headless Chromium, on a host page of another origin under a strict CSP.

The API is the real app on one loopback port; the host page is a small Flask app on another (a
different origin), whose Content-Security-Policy allows scripts and connections to the API origin
only, no inline script or style and no eval. A third server plays a broken API (500s, timeouts,
garbage) to check that the block hides itself without a trace on the page. Screenshots are kept in
the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import re
import struct
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, Response
from sqlalchemy import select

from service import create_app
from service.config import Settings
from service.events.routes import event_writer
from service.pages.fragment import DEFAULT_THUMBNAIL, WIDGET_JS, render_fragment
from storage.events import version_stats
from storage.schema import events
from tests.conftest import SPACE_STATION_ID
from tests.conftest import _serve as live_server  # the `serve_app` fixture's server, for module-wide servers
from training.cli import main

HOST_CSS = """
body { font: 16px/1.4 Georgia, serif; margin: 0 auto; max-width: 40rem; padding: 1rem; color: #222; }
.spacer { height: 3000px; }
.near { height: 700px; }
.relatedly { border-top: 3px solid #0a5; margin-top: 1.5rem; }
.relatedly-heading { font: 600 1.1rem system-ui, sans-serif; }
.relatedly-list { list-style: none; padding: 0; }
.relatedly-item { margin: 0 0 .6rem; }
.relatedly-link { color: #034; text-decoration: none; display: flex; flex-direction: column; }
.relatedly-title { font-weight: 600; }
.relatedly-date { color: #666; font-size: .85rem; }
"""
TIMEOUT_SECONDS = 3  # the widget's


def _png(width: int, height: int, rgb: bytes = b"\x99\xaa\xbb") -> bytes:
    """A plain PNG of one colour (the thumbnails of the layout tests)."""
    rows = b"".join(b"\x00" + rgb * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


THUMBNAIL_PNG = _png(320, 180)
_PALETTE = [_png(320, 180, bytes(rgb)) for rgb in ((0x3b, 0x6e, 0x8f), (0xc2, 0x7c, 0x4e), (0x5b, 0x8c, 0x5a),
                                                    (0x8a, 0x5a, 0x8c), (0xb5, 0x9a, 0x3e), (0x4e, 0x7a, 0xa8))]
WIDGET_SCREENSHOT = os.environ.get("RELATEDLY_WIDGET_SCREENSHOT")  # e.g. docs/widget.png, the README's picture


def _thumbnail(route) -> None:
    """Serve https://img.example.org/sN.png as a thumbnail of its own colour."""
    digits = re.findall(r"\d+", route.request.url.rsplit("/", 1)[-1])
    route.fulfill(body=_PALETTE[int(digits[0]) % len(_PALETTE)] if digits else THUMBNAIL_PNG, content_type="image/png")
_LIST_ID = re.compile(r"relatedly-[0-9a-f]{16}-heading|data-relatedly-list=\"[0-9a-f]{16}\"")


@dataclass
class Site:
    """The host site (its own origin, strict CSP), the API it embeds and a broken API."""

    host: str
    api: str
    api_app: Flask
    broken: str
    pages: dict[str, str]
    csp_origins: list[str]

    def page(self, name: str, blocks: str, api: str | None = None, *, lang: str = "en", head: str = "",
             host_css: bool = True) -> str:
        """Publish a host page with the widget script and `blocks` (and `head`, the host's stylesheet unless
        `host_css` is false: then the block has only the shipped styles); its URL."""
        stylesheet = '<link rel="stylesheet" href="/host.css">' if host_css else ""
        self.pages[name] = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>A host article</title>'
            f'{stylesheet}{head}<script src="{api or self.api}/v1/widget.js" defer></script>'
            "</head><body><main><article><h1>China's space station opens to international crews</h1>"
            "<p>The host site's own article text.</p></article>"
            f"{blocks}</main></body></html>"
        )
        return f"{self.host}/{name}"


@dataclass
class PageLog:
    """What a page did: requests sent, console lines and uncaught errors."""

    requests: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to(self, fragment: str) -> list[Any]:
        return [r for r in self.requests if fragment in r.url]

    def beacons(self) -> list[dict[str, Any]]:
        return [json.loads(r.post_data) for r in self.to("/v1/events")]


def host_app(site_pages: dict[str, str], csp: Callable[[], str]) -> Flask:
    app = Flask("host")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @app.get("/host.css")
    def css() -> Response:
        return Response(HOST_CSS, mimetype="text/css")

    @app.get("/<name>")
    def page(name: str) -> Response:
        response = Response(site_pages[name], mimetype="text/html")
        response.headers["Content-Security-Policy"] = csp()
        return response

    return app


def broken_api(payloads: dict[str, Any]) -> Flask:
    """An API origin serving the real widget script and a related route that fails in the named way."""
    app = Flask("broken")

    @app.get("/<mode>/v1/widget.js")
    def widget(mode: str) -> Response:
        return Response(WIDGET_JS, mimetype="text/javascript")

    @app.get("/<mode>/v1/articles/<path:article_id>/related")
    def related(mode: str, article_id: str) -> Any:
        if mode == "timeout":
            time.sleep(TIMEOUT_SECONDS + 1)
            mode = "late"
        if mode == "500":
            return Response('{"error": {"code": "internal_error", "message": "x"}}', 500, mimetype="application/json")
        if mode == "garbage":
            return Response("<html>not json{", mimetype="application/json")
        return Response(json.dumps(payloads[mode]), mimetype="application/json")

    @app.get("/<mode>/v1/related")
    def related_by_url(mode: str) -> Any:  # the shape of GET /v1/related?url= (a lookup by canonical URL)
        return Response(json.dumps(payloads[mode]), mimetype="application/json")

    @app.post("/<mode>/v1/events")
    def events(mode: str) -> Response:
        return Response(status=204)

    @app.after_request
    def cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    return app


@pytest.fixture(scope="module")
def site(sample_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The host site on one origin, the real API (CORS allowing the host) and the broken API on others.

    Shared by the module's tests (each stopping server costs half a second); tests that count events or
    stop the API start an API of their own (`own_api`).
    """
    site_pages: dict[str, str] = {}
    origins: list[str] = []

    def csp() -> str:
        apis = " ".join(sorted(set(origins)))
        return (f"default-src 'none'; script-src {apis}; connect-src {apis}; img-src {apis} https:;"
                " style-src 'self'; base-uri 'none'; form-action 'none'")

    with ExitStack() as stack:
        host = stack.enter_context(live_server(host_app(site_pages, csp)))
        database = tmp_path_factory.mktemp("events") / "events.db"
        api_app = create_app(Settings(models_dir=str(sample_models_dir), cors_origins=(host,),
                                      database_url=f"sqlite:///{database}"), watch=False)
        api = stack.enter_context(live_server(api_app))
        broken = stack.enter_context(live_server(broken_api(BROKEN_PAYLOADS)))
        origins += [api, broken]
        yield Site(host=host, api=api, api_app=api_app, broken=broken, pages=site_pages, csp_origins=origins)


@pytest.fixture()
def own_api(site: Site, serve_app, sample_models_dir: Path, tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """An API of this test's own, with its own event database: (base URL, app)."""
    app = create_app(Settings(models_dir=str(sample_models_dir), cors_origins=(site.host,),
                              database_url=f"sqlite:///{tmp_path / 'events.db'}"), watch=False)
    with serve_app(app) as api:
        site.csp_origins.append(api)
        yield api, app


@pytest.fixture()
def page(browser, tmp_path: Path) -> Iterator[tuple[Any, PageLog]]:
    """A fresh page 1024×768 whose requests, console output and errors are recorded."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.route("https://news.example.org/**", lambda route: route.fulfill(body="a story", content_type="text/html"))
    context.route("https://img.example.org/**",
                  lambda route: route.fulfill(body=THUMBNAIL_PNG, content_type="image/png"))
    tab = context.new_page()
    log = PageLog()
    tab.on("request", lambda request: log.requests.append(request))
    tab.on("console", lambda message: log.problems.append(f"console.{message.type}: {message.text}"))
    tab.on("pageerror", lambda error: log.problems.append(f"pageerror: {error}"))
    yield tab, log
    tab.screenshot(path=str(tmp_path / "host-page.png"))
    context.close()


def api_json(api: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(api + path, timeout=10) as response:
        return json.loads(response.read())


def rendered(tab, selector: str = "[data-relatedly-article]") -> list[list[dict[str, str]]]:
    """Every block's stories as rendered: id, link, title and position."""
    return tab.eval_on_selector_all(selector, """blocks => blocks.map(b => Array.from(
        b.querySelectorAll('a.relatedly-link'), a => ({id: a.dataset.relatedlyId, href: a.getAttribute('href'),
        title: a.querySelector('.relatedly-title').textContent, position: a.dataset.relatedlyPosition})))""")


def serialised(tab, html: str) -> str:
    """`html` as this browser serialises it, with the per-page-view list id blanked."""
    return _LIST_ID.sub("LIST", tab.evaluate("h => { const d = document.createElement('div'); d.innerHTML = h;"
                                             " return d.innerHTML; }", html))


def widget_markup(tab, selector: str = "[data-relatedly-article]") -> str:
    return _LIST_ID.sub("LIST", tab.eval_on_selector(selector, "b => b.innerHTML"))


def test_the_widget_shows_the_json_list_in_order_under_a_strict_csp(site, page, tmp_path) -> None:
    tab, log = page
    tab.goto(site.page("one", f'<div data-relatedly-article="{SPACE_STATION_ID}"></div>'))
    tab.wait_for_selector("aside.relatedly")
    expected = api_json(site.api, f"/v1/articles/{SPACE_STATION_ID}/related?limit=5")["related"]
    assert rendered(tab) == [[{"id": s["id"], "href": s["url"], "title": s["title"], "position": str(n)}
                              for n, s in enumerate(expected, start=1)]]
    assert len(expected) == 5
    assert tab.text_content("h2.relatedly-heading") == "Related stories"
    heading_id = tab.get_attribute("aside.relatedly", "aria-labelledby")
    assert tab.get_attribute("h2.relatedly-heading", "id") == heading_id
    assert tab.eval_on_selector_all("[style]", "els => els.length") == 0  # nothing a theme cannot override
    assert log.problems == []
    tab.screenshot(path=str(tmp_path / "widget.png"))


def test_the_host_page_really_enforces_its_csp(site, page) -> None:
    """The fixture is honest: an inline script on the host page does not run."""
    tab, log = page
    tab.goto(site.page("inline", '<script>document.title = "inline ran"</script>'))
    assert tab.title() == "A host article"
    assert any("Content Security Policy" in line for line in log.problems)


def test_no_api_request_before_the_block_is_near_the_viewport(site, page) -> None:
    tab, log = page
    tab.goto(site.page("lazy", f'<div class="spacer"></div><div data-relatedly-article="{SPACE_STATION_ID}"></div>'),
             wait_until="networkidle")
    assert log.to("/v1/widget.js") and not log.to("/related")
    tab.mouse.wheel(0, 2500)  # within 200 px of the block: it loads before it is on screen
    tab.wait_for_selector("aside.relatedly", state="attached")
    assert len(log.to("/related")) == 1
    assert log.problems == []


def test_two_blocks_on_one_page_share_no_story(site, page) -> None:
    tab, log = page
    tab.goto(site.page("two", f'<div data-relatedly-article="{SPACE_STATION_ID}"></div>'
                              f'<div data-relatedly-article="{SPACE_STATION_ID}" data-relatedly-limit="4"'
                              ' data-relatedly-heading="More stories"></div>'))
    tab.locator("aside.relatedly").nth(1).wait_for()
    first, second = rendered(tab)
    assert (len(first), len(second)) == (5, 4)
    assert not {s["id"] for s in first} & {s["id"] for s in second}
    assert SPACE_STATION_ID not in {s["id"] for s in first + second}
    assert tab.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)") == ["Related stories",
                                                                                       "More stories"]
    ids = {a.get_attribute("id") for a in tab.query_selector_all("h2.relatedly-heading")}
    assert len(ids) == 2  # every block labelled by its own heading
    assert log.problems == []


BROKEN_PAYLOADS: dict[str, Any] = {
    "late": {"article_id": "a", "model_version": "v",
             "related": [{"id": "b", "title": "B", "url": "https://news.example.org/b", "published_at": None}]},
    "empty": {"article_id": "a", "model_version": "v", "count": 0, "related": []},
    "wrong-shape": {"article_id": "a", "model_version": "v", "related": [{"id": 3, "title": None}, "x"]},
    "no-links": {"article_id": "a", "model_version": "v",
                 "related": [{"id": "b", "title": "B", "url": "javascript:alert(1)", "published_at": None}]},
    "hostile": {
        "article_id": "a<b>", "model_version": "v1\"",
        "related": [
            {"id": "x\"1", "title": "<script>alert(1)</script>", "url": "https://news.example.org/x?a=1&b=<2>",
             "published_at": "2024-01-09", "image": "https://img.example.org/x.jpg"},
            {"id": "y", "title": "No image & no date", "url": "https://news.example.org/y", "published_at": None},
            {"id": "z", "title": "Unsafe", "url": "javascript:alert(2)", "published_at": None},
        ],
    },
}


@pytest.mark.parametrize("mode", ["500", "timeout", "garbage", "wrong-shape", "empty", "no-links"])
def test_a_failing_api_leaves_the_block_hidden_and_the_page_quiet(site, page, mode: str) -> None:
    tab, log = page
    tab.goto(site.page(f"broken-{mode}", '<div id="block" data-relatedly-article="a"></div><p id="after">after</p>',
                       api=f"{site.broken}/{mode}"))
    tab.wait_for_selector("#block[hidden]", state="attached", timeout=(TIMEOUT_SECONDS + 3) * 1000)
    if mode == "timeout":  # the answer comes after the widget gave up: it must not show then either
        tab.wait_for_timeout(1200)
    assert tab.inner_html("#block") == ""
    assert tab.is_visible("#after")
    browser_network_lines = [line for line in log.problems if "Failed to load resource" in line]
    assert [line for line in log.problems if line not in browser_network_lines] == []
    assert not log.to("/v1/events")


def test_a_stopped_api_leaves_the_block_hidden_and_the_page_quiet(site, page, serve_app,
                                                                  sample_models_dir: Path) -> None:
    tab, log = page
    with serve_app(create_app(Settings(models_dir=str(sample_models_dir), cors_origins=(site.host,)),
                              watch=False)) as api:
        site.csp_origins.append(api)
        tab.goto(site.page("stopped", f'<div class="spacer"></div><div id="block" data-relatedly-article='
                                      f'"{SPACE_STATION_ID}"></div>', api=api), wait_until="networkidle")
    tab.mouse.wheel(0, 2500)
    tab.wait_for_selector("#block[hidden]", state="attached")
    assert tab.inner_html("#block") == ""
    assert len(log.to("/related")) == 1
    assert [line for line in log.problems if "Failed to load resource" not in line] == []


def test_an_impression_once_visible_and_a_click_with_its_position(site, own_api, page, capsys,
                                                                  fresh_process_logging) -> None:
    api, api_app = own_api
    tab, log = page
    tab.goto(site.page("events", f'<div class="near"></div><div data-relatedly-article="{SPACE_STATION_ID}"></div>',
                       api=api))
    tab.wait_for_selector("aside.relatedly", state="attached")
    top = tab.eval_on_selector("aside.relatedly", "a => a.getBoundingClientRect().top")
    assert 768 < top < 768 + 200  # near enough to load, not yet seen
    tab.wait_for_timeout(300)
    assert log.beacons() == []
    tab.eval_on_selector("aside.relatedly", "a => a.scrollIntoView()")
    deadline = time.monotonic() + 5
    while not log.beacons() and time.monotonic() < deadline:
        tab.wait_for_timeout(50)
    stories = rendered(tab)[0]
    (impression,) = log.beacons()
    model_version = tab.get_attribute("aside.relatedly", "data-relatedly-model")
    assert impression == {"type": "impression", "list_id": impression["list_id"], "article_id": SPACE_STATION_ID,
                          "model_version": model_version, "items": [s["id"] for s in stories]}
    assert log.to("/v1/events")[0].headers["content-type"].startswith("text/plain")
    with tab.expect_navigation():
        tab.click("li.relatedly-item:nth-child(3) a")
    deadline = time.monotonic() + 5
    while len(log.beacons()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    click = log.beacons()[1]
    assert click == {"type": "click", "list_id": impression["list_id"], "article_id": SPACE_STATION_ID,
                     "model_version": model_version, "target": stories[2]["id"], "position": 3}
    assert [r.method for r in log.to("/v1/events")] == ["POST", "POST"]
    assert not [r for r in log.requests if r.method == "OPTIONS"]  # no CORS preflight
    assert log.problems == []
    database = api_app.extensions["relatedly"].database
    since, deadline = datetime.now(UTC) - timedelta(days=1), time.monotonic() + 5
    # The beacon has left the browser, but the server may still be handling it: wait for its row.
    while event_writer(api_app).flush() and not any(v.clicks for v in version_stats(database, since)):
        assert time.monotonic() < deadline, "the click was never stored"
        time.sleep(0.05)
    assert main(["report", "clicks", "--database-url", database.url]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [model_version, "1", "1", "100.0%", "5", "1", "20.0%"] in lines
    by_position = [line[1:4] for line in lines if len(line) == 5 and line[0] == model_version]
    assert by_position == [[str(n), "1", "1" if n == 3 else "0"] for n in range(1, 6)]


def test_the_fragment_has_the_widgets_markup(site, page) -> None:
    tab, log = page
    tab.goto(site.page("same", f'<div data-relatedly-article="{SPACE_STATION_ID}"></div>'))
    tab.wait_for_selector("aside.relatedly")
    with urllib.request.urlopen(f"{site.api}/v1/articles/{SPACE_STATION_ID}/related.html?limit=5",
                                timeout=10) as response:
        fragment = response.read().decode()
    assert serialised(tab, fragment) == widget_markup(tab)
    assert widget_markup(tab).count("<li ") == 5
    assert log.problems == []


def test_a_server_rendered_fragment_on_a_page_with_the_widget_reports_its_impression(site, page) -> None:
    tab, log = page
    with urllib.request.urlopen(f"{site.api}/v1/articles/{SPACE_STATION_ID}/related.html?limit=3",
                                timeout=10) as response:
        fragment = response.read().decode()
    blocks = f'<div class="spacer"></div>{fragment}<div data-relatedly-article="{SPACE_STATION_ID}"></div>'
    tab.goto(site.page("included", blocks), wait_until="networkidle")
    assert log.beacons() == []  # not seen yet
    tab.eval_on_selector("aside.relatedly", "a => a.scrollIntoView()")
    deadline = time.monotonic() + 5
    while not log.beacons() and time.monotonic() < deadline:
        tab.wait_for_timeout(50)
    impression = log.beacons()[0]
    ids = tab.eval_on_selector_all("main > aside.relatedly a.relatedly-link",
                                   "links => links.map(a => a.dataset.relatedlyId)")
    assert (impression["type"], impression["article_id"], impression["items"]) == ("impression", SPACE_STATION_ID, ids)
    tab.locator("[data-relatedly-article] aside.relatedly").wait_for()  # the widget's block below it
    widget_ids = {s["id"] for s in rendered(tab)[0]}
    assert len(widget_ids) == 5 and not widget_ids & set(ids)  # it does not repeat the fragment's stories
    assert log.problems == []


def test_a_block_can_name_its_article_by_url(site, page) -> None:
    tab, log = page
    url = "https://news.example.org/a?utm_source=feed"
    tab.goto(site.page("by-url", f'<div data-relatedly-url="{url}"></div>', api=f"{site.broken}/late"))
    tab.wait_for_selector("aside.relatedly")
    (request,) = log.to("/v1/related")
    assert request.url == f"{site.broken}/late/v1/related?url={quote(url, safe='')}&limit=5"
    assert [s["id"] for s in rendered(tab, "[data-relatedly-url]")[0]] == ["b"]
    assert tab.get_attribute("aside.relatedly", "data-relatedly-for") == "a"  # the API's id, for the events
    assert log.problems == []


def test_thumbnails_and_hostile_titles_render_alike_in_both_forms(site, page) -> None:
    hostile = BROKEN_PAYLOADS["hostile"]
    tab, log = page
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.goto(site.page("hostile", '<div data-relatedly-article="a" data-relatedly-thumbnails></div>',
                       api=f"{site.broken}/hostile"))
    tab.wait_for_selector("aside.relatedly")
    assert tab.text_content(".relatedly-title") == "<script>alert(1)</script>"
    with site.api_app.test_request_context():
        fragment = render_fragment(hostile, heading="Related stories", thumbnail=DEFAULT_THUMBNAIL,
                                   list_id="0123456789abcdef")
    assert serialised(tab, fragment) == widget_markup(tab)
    assert tab.eval_on_selector_all("img.relatedly-image", "is => is.map(i => [i.getAttribute('width'),"
                                   " i.getAttribute('height'), i.alt, i.loading])") == [["160", "90", "", "lazy"]]
    assert dialogs == [] and "<script>" not in fragment
    assert [line for line in log.problems if "Failed to load resource" not in line] == []


_TITLES = [
    "Chelsea midfielder fails drugs test after derby defeat",
    "Short",
    "A very long headline about the international space station crews that wraps over several lines on a phone",
    "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherungsanstalt wins award",
    "Rover finds signs of ancient water on Mars",
    "Climate summit ends with a pledge on methane",
    "Local team celebrates promotion",
]
BROKEN_PAYLOADS["cards"] = {
    "article_id": "a", "model_version": "v", "count": len(_TITLES),
    "related": [{"id": f"s{n}", "title": title, "url": f"https://news.example.org/s{n}",
                 "published_at": f"2024-0{n + 1}-1{n}T08:00:00Z",
                 **({"image": f"https://img.example.org/s{n}.png"} if n != 4 else {})}  # one story has no image
                for n, title in enumerate(_TITLES)],
}

# Every story's boxes as laid out: its item, image, title and date, and whether the title is clipped.
_BOXES = """aside => Array.from(aside.querySelectorAll('li.relatedly-item'), li => {
    const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
                        return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const title = li.querySelector('.relatedly-title');
    return {item: box(li), image: box(li.querySelector('.relatedly-image')), title: box(title),
            date: box(li.querySelector('.relatedly-date')),
            clipped: title.scrollWidth > title.clientWidth + 1 || title.scrollHeight > title.clientHeight + 1};
})"""


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """The area two boxes share (0 when they only touch)."""
    width = min(a["right"], b["right"]) - max(a["left"], b["left"])
    height = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return max(width, 0.0) * max(height, 0.0)


@pytest.mark.parametrize("width", [360, 768, 1280])
@pytest.mark.parametrize("layout", ["list", "grid"])
@pytest.mark.parametrize("thumbnails", [True, False])
def test_the_shipped_styles_lay_out_cards_without_overlap_at_every_width(site, browser, tmp_path, width: int,
                                                                         layout: str, thumbnails: bool) -> None:
    """No host CSS: the block looks right on the shipped stylesheet alone, from a phone to a desktop."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.route("https://img.example.org/**", _thumbnail)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(str(error)))
    attributes = f'data-relatedly-layout="{layout}"' + (" data-relatedly-thumbnails" if thumbnails else "")
    tab.goto(site.page(f"cards-{layout}-{thumbnails}", f'<div data-relatedly-article="a" {attributes}></div>',
                       api=f"{site.broken}/cards", host_css=False))
    tab.wait_for_selector("aside.relatedly")
    tab.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    boxes = tab.eval_on_selector("aside.relatedly", _BOXES)
    tab.screenshot(path=str(tmp_path / f"cards-{layout}-{width}.png"), full_page=True)
    if WIDGET_SCREENSHOT and (layout, width, thumbnails) == ("grid", 768, True):
        tab.screenshot(path=WIDGET_SCREENSHOT, full_page=True)
    context_width = tab.evaluate("() => document.documentElement.clientWidth")
    assert len(boxes) == len(_TITLES)
    assert tab.evaluate("() => document.documentElement.scrollWidth") <= context_width  # no sideways scrolling
    for story in boxes:
        assert not story["clipped"]
        assert story["title"]["right"] <= context_width and story["title"]["left"] >= 0
        if story["image"] is not None:
            assert _overlap(story["image"], story["title"]) == 0 and _overlap(story["image"], story["date"]) == 0
            assert story["image"]["right"] - story["image"]["left"] > 50  # a real thumbnail, not squeezed away
        assert story["date"]["top"] >= story["title"]["bottom"] - 0.5  # the date on a line of its own
        assert story["date"]["left"] >= story["title"]["left"] - 0.5
    items = [story["item"] for story in boxes]
    assert all(_overlap(a, b) == 0 for n, a in enumerate(items) for b in items[n + 1:])
    columns = len({round(item["left"]) for item in items})
    if layout == "list" or width == 360:
        assert columns == 1
    else:
        assert columns > 1 if width == 768 else columns >= 3
    assert tab.eval_on_selector_all("[style]", "els => els.length") == 0 and tab.query_selector("style") is None
    assert problems == []
    context.close()


def test_the_sites_own_css_wins_and_style_none_leaves_the_block_unstyled(site, page) -> None:
    """The shipped rules sit in a cascade layer: any rule of the host's beats them; style=none turns them off."""
    tab, log = page
    tab.goto(site.page("themed", '<div id="styled" data-relatedly-article="a"></div>'
                                 '<div id="bare" data-relatedly-article="a" data-relatedly-style="none"></div>',
                       api=f"{site.broken}/cards"))
    tab.locator("#bare aside.relatedly").wait_for()
    display = "el => getComputedStyle(el).display"
    assert tab.eval_on_selector("#styled .relatedly-list", display) == "grid"  # shipped
    assert tab.eval_on_selector("#styled .relatedly-link", display) == "flex"  # host.css: .relatedly-link {flex}
    assert tab.eval_on_selector("#bare .relatedly-list", display) == "block"  # the browser's own <ul>
    margin = "el => getComputedStyle(el).marginTop"
    assert tab.eval_on_selector("#styled .relatedly-date", margin) != "0px"  # shipped: .25em above the date
    assert tab.eval_on_selector("#bare .relatedly-date", margin) == "0px"
    assert tab.get_attribute("#bare aside", "data-relatedly-style") == "none"
    assert log.problems == []


def test_a_german_page_gets_german_dates_and_heading_at_the_level_asked(site, page) -> None:
    tab, log = page
    tab.goto(site.page("de", f'<div data-relatedly-article="{SPACE_STATION_ID}" data-relatedly-heading-level="3">'
                             "</div>", lang="de"))
    tab.wait_for_selector("aside.relatedly")
    assert tab.text_content("h3.relatedly-heading") == "Mehr zum Thema"
    dates = tab.eval_on_selector_all("time.relatedly-date", "ts => ts.map(t => [t.dateTime, t.textContent])")
    months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
              "November", "Dezember"]
    assert dates
    for iso, text in dates:
        day = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        assert text == f"{day.day}. {months[day.month - 1]} {day.year}"
    with urllib.request.urlopen(f"{site.api}/v1/articles/{SPACE_STATION_ID}/related.html?limit=5&locale=de"
                                "&heading_level=3", timeout=10) as response:
        assert serialised(tab, response.read().decode()) == widget_markup(tab)  # the fragment says the same
    assert log.problems == []


@pytest.mark.parametrize("head", ['<link rel="canonical" href="{url}">', '<meta property="og:url" content="{url}">'])
def test_a_block_naming_no_article_finds_it_from_the_canonical_link_or_og_url(site, page, head: str) -> None:
    tab, log = page
    url = api_json(site.api, f"/v1/articles/{SPACE_STATION_ID}")["article"]["url"]
    tab.goto(site.page("canonical", "<div data-relatedly></div>", head=head.format(url=url)))
    tab.wait_for_selector("aside.relatedly")
    (request,) = log.to("/v1/related?")
    assert request.url.startswith(f"{site.api}/v1/related?url={quote(url, safe='')}&limit=5")
    assert tab.get_attribute("aside.relatedly", "data-relatedly-for") == SPACE_STATION_ID
    expected = api_json(site.api, f"/v1/articles/{SPACE_STATION_ID}/related?limit=5")["related"]
    assert [s["id"] for s in rendered(tab, "[data-relatedly]")[0]] == [s["id"] for s in expected]
    assert log.problems == []


def test_a_block_naming_no_article_on_a_page_without_its_address_stays_hidden(site, page) -> None:
    tab, log = page
    tab.goto(site.page("nowhere", '<div id="block" data-relatedly></div>'), wait_until="networkidle")
    tab.wait_for_selector("#block[hidden]", state="attached")
    assert not log.to("/related") and log.problems == []


def test_the_fallback_shows_when_nothing_is_related(site, page) -> None:
    tab, log = page
    blocks = (f'<div id="recent" data-relatedly-article="{SPACE_STATION_ID}" data-relatedly-min-score="1"'
              ' data-relatedly-fallback="recent"></div>'
              f'<div id="none" data-relatedly-article="{SPACE_STATION_ID}" data-relatedly-min-score="1"></div>')
    tab.goto(site.page("fallback", blocks))
    tab.wait_for_selector("#recent aside.relatedly")
    tab.wait_for_selector("#none[hidden]", state="attached")  # no fallback asked for: nothing, as before
    assert tab.get_attribute("#recent aside", "data-relatedly-fallback") == "recent"
    assert tab.text_content("#recent h2.relatedly-heading") == "Latest stories"
    body = api_json(site.api, f"/v1/articles/{SPACE_STATION_ID}/related?limit=5&min_score=1&fallback=recent")
    assert body["fallback"] == "recent" and body["count"] > 0
    assert [s["id"] for s in rendered(tab, "#recent")[0]] == [s["id"] for s in body["related"]]
    assert log.problems == []


def test_the_widget_pages_pass_an_accessibility_audit(site, page, axe_audit) -> None:
    """axe-core finds no serious or critical problem: a list from the real API, and grid cards with thumbnails."""
    tab, log = page
    tab.goto(site.page("a11y-list", f'<div data-relatedly-article="{SPACE_STATION_ID}"></div>', host_css=False))
    tab.wait_for_selector("aside.relatedly")
    assert axe_audit(tab) == []
    tab.goto(site.page("a11y-grid", '<div data-relatedly-article="a" data-relatedly-layout="grid"'
                                    ' data-relatedly-thumbnails></div>', api=f"{site.broken}/cards", host_css=False))
    tab.wait_for_selector("aside.relatedly")
    assert axe_audit(tab) == []
    assert log.problems == []


def test_the_accessibility_audit_finds_a_real_problem(site, page, axe_audit) -> None:
    """The audit is not vacuous: an image without alternative text on the host page is reported."""
    tab, _ = page
    tab.goto(site.page("a11y-broken", '<img src="https://img.example.org/x.png">', host_css=False))
    assert [v["id"] for v in axe_audit(tab)] == ["image-alt"]
def test_the_widget_reports_the_arm_and_the_explored_slot(site, serve_app, sample_models_dir: Path, page,
                                                          tmp_path: Path) -> None:
    """Issue 26: an API running the learning experiment and exploring half the views; the widget marks the explored
    story and sends the arm with every event and the explored slot with the impression and its click."""
    app = create_app(Settings(models_dir=str(sample_models_dir), cors_origins=(site.host,), experiment="learning",
                              explore_share=0.5, database_url=f"sqlite:///{tmp_path / 'events.db'}"), watch=False)
    tab, log = page
    with serve_app(app) as api:
        site.csp_origins.append(api)
        for attempt in range(12):  # until a view explores (each does with probability 1/2)
            tab.goto(site.page(f"explore-{attempt}", f'<div data-relatedly-article="{SPACE_STATION_ID}"></div>',
                               api=api))
            tab.wait_for_selector("aside.relatedly a")
            if tab.query_selector("a[data-relatedly-explored]"):
                break
        arm = tab.get_attribute("aside.relatedly", "data-relatedly-arm")
        assert arm in ("learned", "model")
        explored_at = int(tab.get_attribute("a[data-relatedly-explored]", "data-relatedly-position"))
        assert explored_at == 5  # the last of the widget's five
        deadline = time.monotonic() + 5
        while not [b for b in log.beacons() if b["type"] == "impression" and "explored" in b]:
            assert time.monotonic() < deadline, "no impression beacon"
            tab.wait_for_timeout(50)
        impression = [b for b in log.beacons() if "explored" in b][-1]
        assert impression["arm"] == arm and impression["explored"] == explored_at
        with tab.expect_navigation():
            tab.click("a[data-relatedly-explored]")
        deadline = time.monotonic() + 5
        while not [b for b in log.beacons() if b["type"] == "click"]:
            assert time.monotonic() < deadline, "no click beacon"
            time.sleep(0.05)
        click = [b for b in log.beacons() if b["type"] == "click"][-1]
        assert click["arm"] == arm and click["explored"] is True and click["position"] == explored_at
        assert log.problems == []
        database = app.extensions["relatedly"].database
        deadline = time.monotonic() + 5
        while True:  # the beacon has left the browser; its row may still be on its way
            event_writer(app).flush()
            with database.engine.connect() as conn:
                stored = conn.execute(select(events.c.type, events.c.arm).where(events.c.explored)).all()
            if len(stored) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert sorted(stored)[:1] == [("click", arm)] and ("impression", arm) in stored
