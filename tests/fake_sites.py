"""A fake but real site for `relatedly sync`: one WSGI app answering as WordPress's REST API, Ghost's Content
API, an RSS feed and an Atom feed over the same posts, served on a loopback port by the tests and the benchmark.

It implements what sync relies on, as the real ones do: WordPress lists only published posts (with
`X-WP-Total`/`X-WP-TotalPages`, `orderby=modified|id`, `modified_after`/`modified_before` taking ISO 8601
with a zone, `include`, `_fields=id`, `_embed` term names, a 400 past the last page) and names its API in a
`Link` header on `/`; Ghost checks its key and filters on `updated_at` and `id:[…]`; feeds answer 304 to a
matching `If-None-Match`. `fail` makes every answer one kind of broken: 500, garbage, a huge or a slow body.
"""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from wsgiref.handlers import format_date_time

GHOST_KEY = "22444f78447824223cefc48062"
FEED_ITEMS = 10
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakePost:
    id: int
    title: str
    body: str
    tags: list[str] = field(default_factory=list)
    category: str = "News"
    status: str = "publish"  # publish | draft | private | trash | deleted
    password: str = ""
    published_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ghost_id(self) -> str:
        return f"{self.id:024x}"


class FakeSite:
    """The posts and the failure mode; `app` is the WSGI application."""

    def __init__(self) -> None:
        self.posts: dict[int, FakePost] = {}
        self.fail: str | None = None  # None | "500" | "garbage" | "huge" | "slow"
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

    # --- what an editor does --------------------------------------------------------------------------
    def tick(self) -> datetime:
        """Each change one second after the last: modification times are distinct and ordered."""
        self._clock += timedelta(seconds=1)
        return self._clock

    def publish(self, post_id: int, title: str, body: str, tags: list[str] | None = None, **extra: Any) -> FakePost:
        at = self.tick()
        post = FakePost(post_id, title, body, tags or [], published_at=at, modified_at=at, **extra)
        self.posts[post_id] = post
        return post

    def edit(self, post_id: int, **changes: Any) -> None:
        post = self.posts[post_id]
        for name, value in changes.items():
            setattr(post, name, value)
        post.modified_at = self.tick()

    # --- the WSGI application -------------------------------------------------------------------------
    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        base = f"http://{environ['HTTP_HOST']}"
        self.requests.append(f"{path}?{environ.get('QUERY_STRING', '')}")
        if self.fail is not None and path != "/":
            return self._broken(start_response)
        with self.lock:
            if path == "/":
                return _answer(start_response, "200 OK", b"<!doctype html><title>A site</title>",
                               [("Content-Type", "text/html"), ("Link", f'<{base}/wp-json/>; rel="https://api.w.org/"')])
            if path == "/wp-json/wp/v2/posts":
                return self._wordpress(query, base, start_response)
            if path == "/ghost/api/content/posts/":
                return self._ghost(query, base, start_response)
            if path in ("/feed/", "/atom/"):
                return self._feed(path == "/atom/", base, environ, start_response)
        return _answer(start_response, "404 Not Found", b"not found", [("Content-Type", "text/plain")])

    def _broken(self, start_response: Any) -> list[bytes]:
        if self.fail == "500":
            return _answer(start_response, "500 Internal Server Error", b"<h1>Error establishing a database "
                           b"connection</h1>", [("Content-Type", "text/html")])
        if self.fail == "garbage":
            return _answer(start_response, "200 OK", b'{"posts": "oops", "id": [}',
                           [("Content-Type", "application/json")])
        if self.fail == "huge":
            start_response("200 OK", [("Content-Type", "application/json")])  # no length: read until the cap
            return (b"[" + b" " * 65536 for _ in range(64))  # 4 MB
        if self.fail == "slow":
            time.sleep(3)
            return _answer(start_response, "200 OK", b"[]", [("Content-Type", "application/json")])
        raise AssertionError(self.fail)

    def _published(self) -> list[FakePost]:
        return [p for p in self.posts.values() if p.status == "publish"]

    def _wordpress(self, query: dict[str, str], base: str, start_response: Any) -> list[bytes]:
        posts = self._published()
        if "modified_after" in query:
            after = _parse_time(query["modified_after"])
            posts = [p for p in posts if p.modified_at > after]
        if "modified_before" in query:
            before = _parse_time(query["modified_before"])
            posts = [p for p in posts if p.modified_at < before]
        if "include" in query:
            wanted = {int(i) for i in query["include"].split(",") if i}
            posts = [p for p in posts if p.id in wanted]
        key = (lambda p: p.modified_at) if query.get("orderby") == "modified" else (lambda p: p.id)
        posts.sort(key=lambda p: (key(p), p.id), reverse=query.get("order", "desc") == "desc")
        per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
        if not 1 <= per_page <= 100:
            return _json(start_response, {"code": "rest_invalid_param"}, "400 Bad Request")
        total_pages = -(-len(posts) // per_page)
        if page > max(total_pages, 1):
            return _json(start_response, {"code": "rest_post_invalid_page_number"}, "400 Bad Request")
        chosen = posts[(page - 1) * per_page: page * per_page]
        if query.get("_fields") == "id":
            items: list[dict[str, Any]] = [{"id": p.id} for p in chosen]
        else:
            items = [_wp_post(p, base, "_embed" in query) for p in chosen]
        return _json(start_response, items, headers=[("X-WP-Total", str(len(posts))),
                                                     ("X-WP-TotalPages", str(total_pages))])

    def _ghost(self, query: dict[str, str], base: str, start_response: Any) -> list[bytes]:
        if query.get("key") != GHOST_KEY:
            return _json(start_response, {"errors": [{"message": "Unknown Content API Key",
                                                      "type": "UnauthorizedError"}]}, "401 Unauthorized")
        posts = [p for p in self._published() if not p.password]
        for condition in filter(None, query.get("filter", "").split("+")):
            if condition.startswith("updated_at:>"):
                after = _parse_time(condition.removeprefix("updated_at:>").strip("'"))
                posts = [p for p in posts if p.modified_at > after]
            elif condition.startswith("updated_at:<"):
                before = _parse_time(condition.removeprefix("updated_at:<").strip("'"))
                posts = [p for p in posts if p.modified_at < before]
            elif condition.startswith("id:["):
                wanted = set(condition.removeprefix("id:[").removesuffix("]").split(","))
                posts = [p for p in posts if p.ghost_id in wanted]
            else:
                return _json(start_response, {"errors": [{"message": f"bad filter {condition}"}]}, "400 Bad Request")
        by_updated = query.get("order", "").startswith("updated_at")
        posts.sort(key=lambda p: (p.modified_at, p.id) if by_updated else (p.published_at, p.id),
                   reverse="asc" not in query.get("order", ""))
        limit, page = int(query.get("limit", 15)), int(query.get("page", 1))
        pages = max(-(-len(posts) // limit), 1)
        chosen = posts[(page - 1) * limit: page * limit]
        if query.get("fields") == "id":
            items: list[dict[str, Any]] = [{"id": p.ghost_id} for p in chosen]
        else:
            items = [_ghost_post(p, base, "tags" in query.get("include", "")) for p in chosen]
        return _json(start_response, {"posts": items, "meta": {"pagination": {
            "page": page, "limit": limit, "pages": pages, "total": len(posts),
            "next": page + 1 if page < pages else None, "prev": page - 1 if page > 1 else None}}})

    def _feed(self, atom: bool, base: str, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        posts = sorted(self._published(), key=lambda p: (p.published_at, p.id), reverse=True)[:FEED_ITEMS]
        posts = [p for p in posts if not p.password]
        body = (_atom(posts, base) if atom else _rss(posts, base)).encode("utf-8")
        etag = f'"{hash(body) & 0xFFFFFFFF:08x}"'
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", [("ETag", etag)])
            return [b""]
        content_type = "application/atom+xml" if atom else "application/rss+xml"
        return _answer(start_response, "200 OK", body, [("Content-Type", content_type), ("ETag", etag),
                                                        ("Last-Modified", format_date_time(time.time()))])


def _wp_post(post: FakePost, base: str, embed: bool) -> dict[str, Any]:
    tag_ids = [1000 + i for i, _ in enumerate(post.tags)]
    item: dict[str, Any] = {
        "id": post.id,
        "date": _wp_time(post.published_at), "date_gmt": _wp_time(post.published_at),
        "modified": _wp_time(post.modified_at), "modified_gmt": _wp_time(post.modified_at),
        "slug": f"post-{post.id}", "status": post.status, "type": "post", "link": f"{base}/?p={post.id}",
        "title": {"rendered": html.escape(post.title)},
        "content": {"rendered": "" if post.password else f"<p>{html.escape(post.body)}</p>\n",
                    "protected": bool(post.password)},
        "excerpt": {"rendered": "", "protected": bool(post.password)},
        "categories": [1], "tags": tag_ids,
    }
    if embed:
        item["_embedded"] = {"wp:term": [
            [{"id": 1, "name": post.category, "taxonomy": "category"}],
            [{"id": i, "name": name, "taxonomy": "post_tag"} for i, name in zip(tag_ids, post.tags, strict=True)],
        ]}
    return item


def _ghost_post(post: FakePost, base: str, tags: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": post.ghost_id, "uuid": f"uuid-{post.id}", "title": post.title, "slug": f"post-{post.id}",
        "html": f"<p>{html.escape(post.body)}</p>", "feature_image": None, "visibility": "public",
        "published_at": post.published_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "updated_at": post.modified_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "url": f"{base}/post-{post.id}/", "canonical_url": None,
    }
    if tags:
        item["tags"] = [{"id": f"t{i}", "name": name, "slug": name, "visibility": "public"}
                        for i, name in enumerate(post.tags)]
        item["tags"].append({"id": "internal", "name": "#hidden", "visibility": "internal"})
    return item


def _rss(posts: list[FakePost], base: str) -> str:
    items = "".join(
        f"<item><title>{html.escape(p.title)}</title><link>{base}/?p={p.id}</link>"
        f'<guid isPermaLink="false">{base}/?p={p.id}</guid>'
        f"<pubDate>{format_date_time(p.published_at.timestamp())}</pubDate>"
        + "".join(f"<category><![CDATA[{t}]]></category>" for t in p.tags)
        + f"<content:encoded><![CDATA[<p>{p.body}</p>]]></content:encoded></item>"
        for p in posts
    )
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>A site</title>'
            f"<link>{base}/</link>{items}</channel></rss>")


def _atom(posts: list[FakePost], base: str) -> str:
    entries = "".join(
        f"<entry><id>tag:fake,2026:{p.id}</id><title>{html.escape(p.title)}</title>"
        f'<link rel="alternate" href="{base}/?p={p.id}"/>'
        f"<published>{p.published_at.isoformat()}</published><updated>{p.modified_at.isoformat()}</updated>"
        + "".join(f'<category term="{html.escape(t)}"/>' for t in p.tags)
        + f'<content type="html">{html.escape(f"<p>{p.body}</p>")}</content></entry>'
        for p in posts
    )
    updated = max((p.modified_at for p in posts), default=_EPOCH).isoformat()
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>A site</title><id>{base}/</id><updated>{updated}</updated>"
            f"{entries}</feed>")


def _wp_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_time(value: str) -> datetime:
    """ISO 8601 with a zone as WordPress reads it, or Ghost's `YYYY-MM-DD HH:MM:SS` (UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _json(start_response: Any, value: Any, status: str = "200 OK",
          headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    return _answer(start_response, status, json.dumps(value).encode("utf-8"),
                   [("Content-Type", "application/json; charset=UTF-8"), *(headers or [])])


def _answer(start_response: Any, status: str, body: bytes, headers: list[tuple[str, str]]) -> list[bytes]:
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]
