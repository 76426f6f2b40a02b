"""What a site puts on its pages: the widget script (`/v1/widget.js`) and the server-rendered block
(`/v1/articles/<id>/related.html`, or `/v1/related.html?url=` by the page's address) for server-side
includes, ESI and sites without JavaScript.

Both render the same markup (service/pages/templates/related.html; the widget builds it with DOM calls).
The fragment is drawn from the very bytes the JSON endpoint caches, so it has the same list and
options, and it is HTTP-cached the same way. An include must never splice an error page into an
article: an unknown id (or no model yet) answers with an empty `text/html` body.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, render_template, request
from werkzeug.routing import PathConverter

from service.api.params import invalid
from service.api.routes import RELATED_RULE, article_id_for_url, current_model, http_cacheable, related_list
from service.pipeline.errors import ApiError

bp = Blueprint("pages", __name__, url_prefix="/v1", template_folder="templates")

WIDGET_JS = (Path(__file__).parent / "static" / "widget.js").read_bytes()
DEFAULT_LIMIT = "5"  # the widget's default, so the two forms of the block show the same list
DEFAULT_HEADING = "Related stories"
DEFAULT_THUMBNAIL = ("160", "90")
MAX_HEADING_CHARS = 200
RANKING_PARAMETERS = ("limit", "exclude", "min_score", "dedup", "max_age_days", "half_life_days", "diversity",
                      "category")
FRAGMENT_PARAMETERS = (*RANKING_PARAMETERS, "heading", "thumbnails")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_SIZE = re.compile(r"([0-9]{1,4})x([0-9]{1,4})")
THUMBNAILS_ON, THUMBNAILS_OFF = ("", "true", "1", "yes", "on"), ("false", "0", "no", "off")
_SAFE_URL = re.compile(r"^https?://", re.IGNORECASE)


@bp.get("/widget.js")
def widget() -> Response:
    """The embed script; a short max-age and an ETag, so a changed script reaches browsers within minutes."""
    return http_cacheable(Response(WIDGET_JS, mimetype="text/javascript"), WIDGET_JS)


class AnyPathConverter(PathConverter):
    """Werkzeug's `path` with line breaks too, so every id reaches the fragment (and an unknown one gets its
    empty include rather than the app's JSON 404)."""

    regex = "[^/][\\s\\S]*?"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("anypath", AnyPathConverter))


@bp.get(RELATED_RULE.removeprefix("/v1").replace("<path:", "<anypath:") + ".html")
def related_fragment(article_id: str) -> Response:
    """The related block as HTML; options outside `FRAGMENT_PARAMETERS` are a 400."""
    return fragment_response(article_id)


@bp.get("/related.html")
def related_fragment_by_url() -> Response:
    """The block of the article at `?url=`; an unknown url (or no model yet) is an empty include, no url a 400."""
    check_options(("url",))
    try:
        article_id = article_id_for_url(current_model(), request.args.get("url"))
    except ApiError as exc:
        if exc.status in (404, 503):
            return empty_include(exc.status)
        raise
    return fragment_response(article_id, also_allowed=("url",))


def fragment_response(article_id: str, *, also_allowed: tuple[str, ...] = ()) -> Response:
    """The block of `article_id` for this request's options (a lookup route such as `?url=` names its own
    parameter in `also_allowed`); an unknown article or no model yet is an empty include."""
    check_options(also_allowed)
    heading = request.args.get("heading", DEFAULT_HEADING)
    if not heading.strip() or len(heading) > MAX_HEADING_CHARS:
        raise invalid("heading", f"must hold some text, at most {MAX_HEADING_CHARS} characters")
    thumbnail = thumbnail_size(request.args.get("thumbnails"))
    params = {name: request.args[name] for name in RANKING_PARAMETERS if name in request.args}
    params.setdefault("limit", DEFAULT_LIMIT)
    try:
        loaded, body, explored = related_list(article_id, params)
    except ApiError as exc:
        if exc.status in (404, 503):
            return empty_include(exc.status)
        raise
    html = render_fragment(json.loads(body), heading=heading, thumbnail=thumbnail,
                           list_id=_list_id(body, request.query_string)).encode()
    response = Response(html, mimetype="text/html")
    response.headers["X-Model-Version"] = loaded.version
    if explored:  # one reader's draw: never cached (see service.api.reader_lists)
        response.headers["Cache-Control"] = "no-store"
        return response
    return http_cacheable(response, html)


def check_options(also_allowed: tuple[str, ...] = ()) -> None:
    """400 for any query parameter the fragment does not take."""
    allowed = (*FRAGMENT_PARAMETERS, *also_allowed)
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise invalid(unknown[0], f"is not an option of the fragment (allowed: {', '.join(allowed)})")


def empty_include(status: int) -> Response:
    """Nothing to show (unknown article, no model yet): an empty body, never an error page inside an article."""
    return Response(b"", status, mimetype="text/html")


def render_fragment(payload: Mapping[str, Any], *, heading: str, thumbnail: tuple[str, str] | None,
                    list_id: str) -> str:
    """The block's markup for a related-list JSON payload (stories without an http(s) link are left out)."""
    stories = [_story(item, thumbnail) for item in payload["related"] if _safe_url(item.get("url"))]
    return render_template("related.html", list_id=list_id, article_id=payload["article_id"],
                           model_version=payload["model_version"], arm=payload.get("arm"), heading=heading,
                           stories=stories, thumbnail=thumbnail)


def thumbnail_size(raw: str | None) -> tuple[str, str] | None:
    """None (no images) for absent or "false"; WIDTHxHEIGHT, or the default size for any other "on" value."""
    if raw is None or raw in THUMBNAILS_OFF:
        return None
    match = _SIZE.fullmatch(raw)
    if match:
        return match.group(1), match.group(2)
    if raw in THUMBNAILS_ON:
        return DEFAULT_THUMBNAIL
    raise invalid("thumbnails", f"must be true, false or WIDTHxHEIGHT (e.g. 160x90), got {raw!r}")


def date_text(published_at: Any) -> str | None:
    """"9 January 2024" for a value starting YYYY-MM-DD (as the widget writes it), else None."""
    match = _DATE.match(published_at) if isinstance(published_at, str) else None  # a prefix, as in the widget
    if match is None or not 1 <= int(match.group(2)) <= 12:
        return None
    return f"{int(match.group(3))} {MONTHS[int(match.group(2)) - 1]} {match.group(1)}"


def _story(item: Mapping[str, Any], thumbnail: tuple[str, str] | None) -> dict[str, Any]:
    image = item.get("image")
    return {
        "id": item["id"],
        "title": item["title"],
        "url": item["url"],
        "published_at": item.get("published_at"),
        "date": date_text(item.get("published_at")),
        "image": image if thumbnail and _safe_url(image) else None,
        "explored": item.get("explored") is True,
    }


def _safe_url(value: Any) -> bool:
    return isinstance(value, str) and _SAFE_URL.match(value) is not None


def _list_id(body: bytes, query: bytes) -> str:
    """Stable for the same list and options, so the fragment stays cacheable (the widget draws a random one)."""
    return hashlib.blake2b(body + b"\0" + query, digest_size=8).hexdigest()
