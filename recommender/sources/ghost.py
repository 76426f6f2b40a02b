"""Ghost JSON exports (Settings › Labs › Export): `db[0].data.posts`, tags through `posts_tags`; and
Content API responses (`/ghost/api/content/posts/?include=tags`: `posts`, each with its `tags`), which
list only published posts and name each post's `url`. The ids are the same in both.

Only `status: published` items of `type: post` by default (Ghost's `published`/`scheduled` are
WordPress's `publish`/`future`, so `--statuses` speaks one language); internal `#tags` are dropped;
the first public tag (Ghost's primary tag) is the category. Ghost writes its own address as
`__GHOST_URL__`: it is replaced by the site URL when one is given, and such URLs are dropped otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recommender.errors import CorpusError, CorpusProblem
from recommender.sources import ReaderOptions, Skipped, SourceRecord, SourceStream, selection_reason
from recommender.sources.jsonfile import load_document

GHOST_URL = "__GHOST_URL__"
STATUS_NAMES = {"published": "publish", "scheduled": "future", "sent": "publish"}


def read_ghost(path: str | Path, options: ReaderOptions) -> SourceStream:
    """Records of the published posts of one Ghost export file."""
    name = str(path)
    text, document = load_document(path)
    content_api = isinstance(document, dict) and isinstance(document.get("posts"), list) and "db" not in document
    data = document if content_api else _data(document)
    if data is None or not isinstance(data.get("posts"), list):
        raise CorpusError.at(name, 1, "not a Ghost export: no db[0].data.posts list")
    post_tags = _embedded_tags(data["posts"]) if content_api else _linked_tags(data)
    site = options.site_url.rstrip("/") if options.site_url else None
    search_from = max(text.find('"posts"'), 0)
    line = text.count("\n", 0, search_from) + 1
    for post in data["posts"]:
        if not isinstance(post, dict):
            yield CorpusProblem(name, 1, "each Ghost post must be a JSON object")
            continue
        line, search_from = _line_of(text, post.get("id"), search_from, line)
        post_type = "page" if post.get("page") is True else str(post.get("type") or "post")
        status = str(post.get("status") or ("published" if content_api else ""))
        reason = selection_reason(post_type, STATUS_NAMES.get(status, status), False, options)
        if reason is not None:
            yield Skipped(reason)
            continue
        tags = [tag for _, tag in sorted(post_tags.get(post.get("id"), []))]
        yield SourceRecord(name, line, _post_fields(post, tags, site))


def _public_tag(tag: Any) -> str | None:
    """The tag's name unless it is internal (`#name`, visibility internal)."""
    name = tag.get("name") if isinstance(tag, dict) else None
    if isinstance(name, str) and not name.startswith("#") and tag.get("visibility") != "internal":
        return name
    return None


def _linked_tags(data: Mapping[str, Any]) -> dict[Any, list[tuple[int, str]]]:
    """An export's public tags by post id, through its `posts_tags` links."""
    tags = {t.get("id"): t for t in data.get("tags") or [] if isinstance(t, dict)}
    post_tags: dict[Any, list[tuple[int, str]]] = {}
    for link in data.get("posts_tags") or []:
        tag_name = _public_tag(tags.get(link.get("tag_id"))) if isinstance(link, dict) else None
        if tag_name is not None:
            post_tags.setdefault(link.get("post_id"), []).append((int(link.get("sort_order") or 0), tag_name))
    return post_tags


def _embedded_tags(posts: list[Any]) -> dict[Any, list[tuple[int, str]]]:
    """A Content API response's public tags by post id, in the order the post lists them."""
    post_tags: dict[Any, list[tuple[int, str]]] = {}
    for post in posts:
        if isinstance(post, dict) and isinstance(post.get("tags"), list):
            names = [name for name in map(_public_tag, post["tags"]) if name is not None]
            post_tags[post.get("id")] = list(enumerate(names))
    return post_tags


def _data(document: Any) -> Mapping[str, Any] | None:
    if isinstance(document, dict) and isinstance(document.get("db"), list) and document["db"]:
        document = document["db"][0]
    data = document.get("data") if isinstance(document, dict) else None
    return data if isinstance(data, dict) else None


def _post_fields(post: Mapping[str, Any], tags: list[str], site: str | None) -> dict[str, Any]:
    body = post.get("html") or post.get("plaintext") or post.get("custom_excerpt") or ""
    url = _site_url(post.get("canonical_url") or post.get("url"), site)
    if url is None and site and isinstance(post.get("slug"), str):
        url = f"{site}/{post['slug']}/"
    fields: dict[str, Any] = {
        "id": post.get("id"),
        "title": post.get("title"),
        "body": body.replace(GHOST_URL, site) if site and isinstance(body, str) else body,
        "tags": tags,
        "category": tags[0] if tags else None,
        "published_at": post.get("published_at") or None,
        "url": url,
        "image": _site_url(post.get("feature_image"), site),
    }
    for key in ("slug", "uuid", "visibility"):
        if isinstance(post.get(key), str):
            fields[key] = post[key]
    return fields


def _site_url(value: Any, site: str | None) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    if GHOST_URL in value:
        return value.replace(GHOST_URL, site) if site else None
    return value


def _line_of(text: str, post_id: Any, start: int, line: int) -> tuple[int, int]:
    """The line and offset of the post's `"id"`, searched from the previous post's (posts are in order)."""
    found = re.compile(r'"id"\s*:\s*"' + re.escape(post_id) + '"').search(text, start) \
        if isinstance(post_id, str) else None
    if found is None:
        return line, start
    return line + text.count("\n", start, found.start()), found.start()
