"""The sites `relatedly sync` follows: WordPress's REST API, Ghost's Content API, RSS/Atom feeds.

Each site hands back raw response bodies (`Changes.pages`) for the same readers `relatedly import` runs on
saved responses (a REST page is a REST dump, a Content API page a Ghost file, a feed a feed), so ids and
text are the import's; plus, from the listing itself, each post's id and modification time (`Entry`).
A response that is not the listing it should be (an HTML error page, a JSON object instead of a list, a
post without an id) is a `FetchError` for the whole poll: nothing of it is applied.

WordPress and Ghost list only published posts to an anonymous client, so a post that leaves `publish`
disappears from the listing: `listed_count` (one request) tells whether anything may have gone,
`listed_ids` lists every published id, and `still_listed` checks candidates by id, because a listing
paged while the site changes can miss an id. A feed only holds its latest items: nothing is ever
taken down because it left a feed.
"""

from __future__ import annotations

import email.message
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from recommender.sources import ReaderOptions, selection_reason
from storage.sync_state import SourceState
from training.sync.http import Fetcher, FetchError, Response

KINDS = ("auto", "wordpress", "ghost", "feed")
PAGE_SIZE = 100  # the largest page WordPress and Ghost serve
MAX_LISTED_PAGES = 10_000  # a million published ids: the bound of one id listing
OVERLAP_SECONDS = 60  # changes are read from a minute before the cursor: a save in flight is not missed
WP_EMBED = "wp:term,wp:featuredmedia"  # term names and the featured image, as an `_embed` REST dump holds them
_WP_API_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="https://api\.w\.org/"')
_GHOST_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # ObjectIds; ids go back into `filter=id:[…]`, so nothing else
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class Entry:
    """One post as a listing shows it: its article id, when it last changed, and whether import takes it."""

    article_id: str
    changed_at: str | None  # UTC, `YYYY-MM-DDTHH:MM:SS`
    servable: bool = True  # False: listed but not imported (password protected, not a post)


@dataclass
class Changes:
    """What one request series brought: the bodies for the readers, the entries, and whether it is all."""

    pages: list[bytes] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    entries: list[Entry] | None = field(default_factory=list)  # None: a feed, whose entries are its articles
    complete: bool = True  # False: stopped at --max-posts, older changes remain
    etag: str | None = None
    last_modified: str | None = None

    def add(self, response: Response, entries: Iterable[Entry]) -> None:
        self.pages.append(response.body)
        self.urls.append(response.url)
        assert self.entries is not None
        self.entries.extend(entries)


class Site:
    """A followed site; `source` is its key in the state tables."""

    kind = ""
    page_suffix = ".json"
    lists_ids = True

    def __init__(self, url: str, fetcher: Fetcher) -> None:
        self.url = url
        self.fetcher = fetcher

    @property
    def source(self) -> str:
        return self.url

    def reader_options(self) -> ReaderOptions:
        return ReaderOptions()

    def changes(self, state: SourceState, max_posts: int) -> Changes:
        """Posts changed in the state's window, newest first, up to `max_posts`."""
        raise NotImplementedError

    def listed_count(self) -> int:
        """How many posts the site lists publicly."""
        raise NotImplementedError

    def listed_ids(self) -> set[str]:
        """Every id the site lists publicly."""
        raise NotImplementedError

    def still_listed(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` the site lists publicly."""
        raise NotImplementedError

    def fetch(self, ids: Sequence[str]) -> Changes:
        """The posts of `ids` (those still listed), as `changes` would give them."""
        raise NotImplementedError


class WordPressSite(Site):
    """WordPress's REST API (`/wp/v2/posts`) under `api_root`, pretty permalinks (`/wp-json/`) or not
    (`?rest_route=/`). The modification time is `modified_gmt`; `modified_after` takes it with a `Z`."""

    kind = "wordpress"

    def __init__(self, url: str, fetcher: Fetcher, api_root: str) -> None:
        super().__init__(url, fetcher)
        self.api_root = api_root

    def route_url(self, route: str, params: dict[str, Any]) -> str:
        """`route` under the API root with `params`, for both permalink styles."""
        parts = urlsplit(self.api_root)
        query = parse_qsl(parts.query, keep_blank_values=True)
        path = parts.path
        if any(name == "rest_route" for name, _ in query):
            query = [(n, v.rstrip("/") + route if n == "rest_route" else v) for n, v in query]
        else:
            path = path.rstrip("/") + route
        query += [(name, str(value)) for name, value in params.items()]
        return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query, safe="/:,"), ""))

    def changes(self, state: SourceState, max_posts: int) -> Changes:
        after, before = change_window(state)
        params: dict[str, Any] = {"orderby": "modified", "order": "desc", "per_page": PAGE_SIZE, "_embed": WP_EMBED}
        if after:
            params["modified_after"] = f"{after}Z"
        if before:
            params["modified_before"] = f"{before}Z"
        return self._pages(params, max_posts)

    def listed_count(self) -> int:
        response = self.fetcher.get(self.route_url("/wp/v2/posts", {"per_page": 1, "_fields": "id"}))
        self._posts(response)
        return _header_int(response, "X-WP-Total")

    def listed_ids(self) -> set[str]:
        ids: set[str] = set()
        params = {"per_page": PAGE_SIZE, "_fields": "id", "orderby": "id", "order": "asc"}
        for page in range(1, MAX_LISTED_PAGES + 1):
            response = self.fetcher.get(self.route_url("/wp/v2/posts", {**params, "page": page}))
            posts = self._posts(response)
            ids.update(str(post["id"]) for post in posts)
            if len(posts) < PAGE_SIZE or page >= _header_int(response, "X-WP-TotalPages"):
                return ids
        raise FetchError(f"{self.url}: more than {MAX_LISTED_PAGES} pages of published posts")

    def still_listed(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted((i for i in ids if i.isdigit()), key=int)):
            url = self.route_url("/wp/v2/posts", {"include": ",".join(chunk), "per_page": PAGE_SIZE, "_fields": "id"})
            found.update(str(post["id"]) for post in self._posts(self.fetcher.get(url)))
        return found

    def fetch(self, ids: Sequence[str]) -> Changes:
        changes = Changes()
        for chunk in _chunks([i for i in ids if i.isdigit()]):
            url = self.route_url("/wp/v2/posts", {"include": ",".join(chunk), "per_page": PAGE_SIZE,
                                                  "_embed": WP_EMBED})
            response = self.fetcher.get(url)
            changes.add(response, map(self._entry, self._posts(response, dated=True)))
        return changes

    def _pages(self, params: dict[str, Any], max_posts: int) -> Changes:
        changes = Changes()
        for page in range(1, max_posts // PAGE_SIZE + 2):
            response = self.fetcher.get(self.route_url("/wp/v2/posts", {**params, "page": page}))
            posts = self._posts(response, dated=True)
            changes.add(response, map(self._entry, posts))
            if len(posts) < PAGE_SIZE or page >= _header_int(response, "X-WP-TotalPages"):
                return changes
            if len(changes.entries or ()) >= max_posts:
                break
        changes.complete = False
        return changes

    def _posts(self, response: Response, *, dated: bool = False) -> list[dict[str, Any]]:
        """The page's posts, checked: a list of objects with an integer id (and `modified_gmt`)."""
        posts = _json_body(response)
        if not isinstance(posts, list):
            raise FetchError(f"{response.url}: not a WordPress posts listing (expected a JSON array)")
        for post in posts:
            if not isinstance(post, dict) or not isinstance(post.get("id"), int) or isinstance(post["id"], bool):
                raise FetchError(f"{response.url}: not a WordPress posts listing (an item without an integer id)")
            if dated:
                post["modified_gmt"] = _site_time(post.get("modified_gmt"), response.url)
        return posts

    def _entry(self, post: dict[str, Any]) -> Entry:
        content = post.get("content")
        protected = bool(content.get("protected")) if isinstance(content, dict) else False
        reason = selection_reason(str(post.get("type", "post")), str(post.get("status", "publish")), protected,
                                  self.reader_options())
        return Entry(str(post["id"]), post["modified_gmt"], reason is None)


class GhostSite(Site):
    """Ghost's Content API (`/ghost/api/content/posts/`) with its Content API key; `updated_at` is the time."""

    kind = "ghost"

    def __init__(self, url: str, fetcher: Fetcher, key: str) -> None:
        super().__init__(url, fetcher)
        self.key = key

    def reader_options(self) -> ReaderOptions:
        return ReaderOptions(site_url=self.url)

    def posts_url(self, params: dict[str, Any]) -> str:
        base = self.url.rstrip("/") + "/ghost/api/content/posts/"
        return f"{base}?{urlencode({'key': self.key, **params}, safe=':,')}"

    def changes(self, state: SourceState, max_posts: int) -> Changes:
        after, before = change_window(state)
        conditions = [f"updated_at:>'{after.replace('T', ' ')}'"] if after else []
        if before:
            conditions.append(f"updated_at:<'{before.replace('T', ' ')}'")
        params: dict[str, Any] = {"include": "tags", "formats": "html", "order": "updated_at desc",
                                  "limit": PAGE_SIZE}
        if conditions:
            params["filter"] = "+".join(conditions)
        changes = Changes()
        for page in range(1, max_posts // PAGE_SIZE + 2):
            response = self.fetcher.get(self.posts_url({**params, "page": page}))
            posts, pages, _ = self._listing(response, dated=True)
            changes.add(response, (Entry(post["id"], post["updated_at"]) for post in posts))
            if len(posts) < PAGE_SIZE or page >= pages:
                return changes
            if len(changes.entries or ()) >= max_posts:
                break
        changes.complete = False
        return changes

    def listed_count(self) -> int:
        return self._listing(self.fetcher.get(self.posts_url({"fields": "id", "limit": 1})))[2]

    def listed_ids(self) -> set[str]:
        ids: set[str] = set()
        for page in range(1, MAX_LISTED_PAGES + 1):
            posts, pages, _ = self._listing(self.fetcher.get(
                self.posts_url({"fields": "id", "limit": PAGE_SIZE, "order": "id asc", "page": page})))
            ids.update(post["id"] for post in posts)
            if len(posts) < PAGE_SIZE or page >= pages:
                return ids
        raise FetchError(f"{self.url}: more than {MAX_LISTED_PAGES} pages of published posts")

    def still_listed(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(ids)):
            url = self.posts_url({"fields": "id", "limit": PAGE_SIZE, "filter": _id_filter(chunk)})
            found.update(post["id"] for post in self._listing(self.fetcher.get(url))[0])
        return found

    def fetch(self, ids: Sequence[str]) -> Changes:
        changes = Changes()
        for chunk in _chunks(list(ids)):
            response = self.fetcher.get(self.posts_url({"include": "tags", "formats": "html", "limit": PAGE_SIZE,
                                                        "filter": _id_filter(chunk)}))
            posts = self._listing(response, dated=True)[0]
            changes.add(response, (Entry(post["id"], post["updated_at"]) for post in posts))
        return changes

    def _listing(self, response: Response, *, dated: bool = False) -> tuple[list[dict[str, Any]], int, int]:
        """The page's posts (objects with a string id), its page count and the listing's total."""
        document = _json_body(response)
        posts = document.get("posts") if isinstance(document, dict) else None
        pagination = (document.get("meta") or {}).get("pagination") if isinstance(document, dict) else None
        if not isinstance(posts, list) or not isinstance(pagination, dict):
            raise FetchError(f"{response.url}: not a Ghost Content API posts listing (no posts and meta.pagination)")
        for post in posts:
            if not isinstance(post, dict) or not isinstance(post.get("id"), str) or not _GHOST_ID.fullmatch(post["id"]):
                raise FetchError(f"{response.url}: not a Ghost posts listing (an item without a Ghost object id)")
            if dated:
                post["updated_at"] = _site_time(post.get("updated_at"), response.url)
        pages, total = pagination.get("pages"), pagination.get("total")
        if not isinstance(pages, int) or not isinstance(total, int):
            raise FetchError(f"{response.url}: Ghost's meta.pagination lacks pages and total")
        return posts, pages, total


class FeedSite(Site):
    """An RSS 2.0 or Atom feed, fetched whole with a conditional GET; its items are its entries."""

    kind = "feed"
    page_suffix = ".xml"
    lists_ids = False

    def changes(self, state: SourceState, max_posts: int) -> Changes:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        response = self.fetcher.get(self.url, headers)
        changes = Changes(entries=None, etag=response.headers.get("ETag") or state.etag,
                          last_modified=response.headers.get("Last-Modified") or state.last_modified)
        if response.status == 304:
            return changes
        if not _looks_like_xml(response.body):
            raise FetchError(f"{response.url}: not an RSS or Atom feed (the answer is not XML)")
        changes.pages.append(response.body)
        changes.urls.append(response.url)
        return changes


def open_site(url: str, fetcher: Fetcher, *, kind: str = "auto", ghost_key: str | None = None) -> Site:
    """The site at `url`; `auto` asks the URL itself: WordPress names its REST API in a `Link` header,
    a feed is XML, a Content API key means Ghost."""
    if kind == "ghost" or (kind == "auto" and ghost_key):
        if not ghost_key:
            raise FetchError("a Ghost site needs its Content API key (--ghost-key or $RELATEDLY_GHOST_KEY)")
        return GhostSite(url, fetcher, ghost_key)
    if kind == "feed":
        return FeedSite(url, fetcher)
    if "/wp-json" in url:
        return WordPressSite(url, fetcher, url[: url.index("/wp-json") + len("/wp-json")] + "/")
    response = fetcher.get(url)
    api_root = _wordpress_api_root(response.headers)
    if api_root is not None:
        return WordPressSite(url, fetcher, api_root)
    if kind == "wordpress":
        return WordPressSite(url, fetcher, url.rstrip("/") + "/wp-json/")
    if _looks_like_xml(response.body):
        return FeedSite(url, fetcher)
    raise FetchError(f"{url}: cannot tell what this site is (no WordPress REST API link, not an RSS/Atom feed);"
                     " give --kind, or --ghost-key for Ghost")


def change_window(state: SourceState) -> tuple[str | None, str | None]:
    """`(after, before)` of the next read of changes: from a minute before the cursor, and below a backlog."""
    after = None
    if state.cursor:
        after = (datetime.strptime(state.cursor, _TIME_FORMAT) - timedelta(seconds=OVERLAP_SECONDS)).strftime(
            _TIME_FORMAT)
    return after, state.backlog_before


def one_second_after(changed_at: str) -> str:
    return (datetime.strptime(changed_at, _TIME_FORMAT) + timedelta(seconds=1)).strftime(_TIME_FORMAT)


def _site_time(value: Any, url: str) -> str:
    """A listing's modification time as UTC `YYYY-MM-DDTHH:MM:SS` (WordPress's `modified_gmt` has no zone)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
            return parsed.strftime(_TIME_FORMAT)
    raise FetchError(f"{url}: a post's modification time {value!r} is not an ISO 8601 date")


def _json_body(response: Response) -> Any:
    try:
        return json.loads(response.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        start = " ".join(response.body[:80].decode("utf-8", "replace").split())
        raise FetchError(f"{response.url}: the answer is not JSON ({exc}); it starts {start!r}") from None


def _header_int(response: Response, name: str) -> int:
    value = (response.headers.get(name) or "").strip()
    if not value.isdigit():
        raise FetchError(f"{response.url}: the {name} header is missing or not a number ({value!r})")
    return int(value)


def _wordpress_api_root(headers: email.message.Message) -> str | None:
    for value in headers.get_all("Link") or []:
        match = _WP_API_LINK.search(value)
        if match:
            return match.group(1)
    return None


def _looks_like_xml(body: bytes) -> bool:
    return body.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def _id_filter(ids: Sequence[str]) -> str:
    return f"id:[{','.join(ids)}]"


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), PAGE_SIZE):
        yield list(ids[start:start + PAGE_SIZE])
