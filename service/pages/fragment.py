"""What a site puts on its pages: the widget script (`/v1/widget.js`), its stylesheet (`/v1/widget.css`) and
the server-rendered block (`/v1/articles/<id>/related.html`, or `/v1/related.html?url=` by the page's address)
for server-side includes, ESI and sites without JavaScript.

Both render the same markup (service/pages/templates/related.html; the widget builds it with DOM calls).
The fragment is drawn from the very bytes the JSON endpoint caches, so it has the same list and
options, and it is HTTP-cached the same way. An include must never splice an error page into an
article: unknown query parameters are ignored (a cache-buster, a CDN's tracking parameter), and any
error — an unknown id, no model yet, a bad option, a failure — answers with an empty `text/html` body.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date
from flask import Blueprint, Response, render_template, request
from werkzeug.routing import PathConverter

from service.api.params import fallback_choice, invalid
from service.api.routes import RELATED_RULE, article_id_for_url, current_model, http_cacheable, related_list
from service.pipeline.errors import ApiError

log = logging.getLogger("relatedly.fragment")
bp = Blueprint("pages", __name__, url_prefix="/v1", template_folder="templates")

STATIC = Path(__file__).parent / "static"
WIDGET_CSS = (STATIC / "widget.css").read_bytes()
TEXTS: dict[str, dict[str, str]] = json.loads((STATIC / "widget-texts.json").read_bytes())
# The script carries the stylesheet and the texts, so a page needs one request and one CSP source for both.
WIDGET_JS = ((STATIC / "widget.js").read_text()
             .replace('"__RELATEDLY_CSS__"', json.dumps(WIDGET_CSS.decode()))
             .replace('{"__RELATEDLY_TEXTS__": 0}', json.dumps(TEXTS, ensure_ascii=False, sort_keys=True))
             .encode())
DEFAULT_LIMIT = "5"  # the widget's default, so the two forms of the block show the same list
DEFAULT_THUMBNAIL = ("160", "90")
MAX_HEADING_CHARS = 200
RANKING_PARAMETERS = ("limit", "exclude", "min_score", "dedup", "max_age_days", "half_life_days", "diversity",
                      "category", "lang", "exclude_category", "fallback")
FRAGMENT_PARAMETERS = (*RANKING_PARAMETERS, "heading", "thumbnails", "heading_level", "layout", "style", "locale")
LAYOUTS = ("list", "grid")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_SIZE = re.compile(r"([0-9]{1,4})x([0-9]{1,4})")
THUMBNAILS_ON, THUMBNAILS_OFF = ("", "true", "1", "yes", "on"), ("false", "0", "no", "off")
_SAFE_URL = re.compile(r"^https?://", re.IGNORECASE)


@bp.get("/widget.js")
def widget() -> Response:
    """The embed script; a short max-age and an ETag, so a changed script reaches browsers within minutes."""
    return http_cacheable(Response(WIDGET_JS, mimetype="text/javascript"), WIDGET_JS)


@bp.get("/widget.css")
def widget_css() -> Response:
    """The shipped look of the block, for pages that include the fragment (the script adopts it itself)."""
    return http_cacheable(Response(WIDGET_CSS, mimetype="text/css"), WIDGET_CSS)


class AnyPathConverter(PathConverter):
    """Werkzeug's `path` with line breaks too, so every id reaches the fragment (and an unknown one gets its
    empty include rather than the app's JSON 404)."""

    regex = "[^/][\\s\\S]*?"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("anypath", AnyPathConverter))


def empty_on_error(view: Callable[..., Response]) -> Callable[..., Response]:
    """Any error of a fragment view becomes an empty `text/html` body with the error's status."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except ApiError as exc:
            return empty_include(exc.status)
        except Exception:
            log.exception("fragment_failed", extra={"fields": {"path": request.path}})
            return empty_include(500)

    return guarded


@bp.get(RELATED_RULE.removeprefix("/v1").replace("<path:", "<anypath:") + ".html")
@empty_on_error
def related_fragment(article_id: str) -> Response:
    """The related block as HTML."""
    return fragment_response(article_id)


@bp.get("/related.html")
@empty_on_error
def related_fragment_by_url() -> Response:
    """The block of the article at `?url=`."""
    return fragment_response(article_id_for_url(current_model(), request.args.get("url")))


def fragment_response(article_id: str) -> Response:
    """The block of `article_id` for this request's options (parameters it does not take are ignored)."""
    heading = request.args.get("heading")
    if heading is not None and (not heading.strip() or len(heading) > MAX_HEADING_CHARS):
        raise invalid("heading", f"must hold some text, at most {MAX_HEADING_CHARS} characters")
    thumbnail = thumbnail_size(request.args.get("thumbnails"))
    params = {name: request.args[name] for name in RANKING_PARAMETERS if name in request.args}
    params.setdefault("limit", DEFAULT_LIMIT)
    loaded, body, explored = related_list(article_id, params)
    look = BlockLook.from_args(request.args)
    html = render_fragment(json.loads(body), heading=heading, thumbnail=thumbnail, look=look,
                           list_id=_list_id(body)).encode()
    response = Response(html, mimetype="text/html")
    response.headers["X-Model-Version"] = loaded.version
    if explored:  # one reader's draw: never cached (see service.api.reader_lists)
        response.headers["Cache-Control"] = "no-store"
        return response
    return http_cacheable(response, html)


def empty_include(status: int) -> Response:
    """Nothing to show (unknown article, no model yet, a bad option): an empty body, never an error page."""
    return Response(b"", status, mimetype="text/html")


@dataclass(frozen=True)
class BlockLook:
    """How the block is drawn: language (dates, default heading), heading level, layout, shipped styles."""

    lang: str = "en"
    level: int = 2
    layout: str = "list"
    styled: bool = True

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> BlockLook:
        """The fragment's `locale` (the page's language), `heading_level`, `layout` and `style` parameters."""
        level = args.get("heading_level", "2")
        if level not in ("2", "3", "4", "5", "6"):
            raise invalid("heading_level", "must be 2, 3, 4, 5 or 6")
        layout = args.get("layout", "list")
        if layout not in LAYOUTS:
            raise invalid("layout", "must be list or grid")
        lang = args.get("locale", "en").strip() or "en"
        return cls(lang, int(level), layout, args.get("style") != "none")

    def texts(self) -> dict[str, str]:
        """The texts of the language ("de-AT" → "de"), English when there are none (as the widget's)."""
        tag = self.lang.lower()
        return TEXTS.get(tag) or TEXTS.get(tag.split("-")[0]) or TEXTS["en"]


def render_fragment(payload: Mapping[str, Any], *, heading: str | None, thumbnail: tuple[str, str] | None,
                    list_id: str, look: BlockLook | None = None) -> str:
    """The block's markup for a related-list JSON payload (stories without an http(s) link are left out)."""
    look = look or BlockLook()
    stories = [_story(item, thumbnail, look.lang) for item in payload["related"] if _safe_url(item.get("url"))]
    fallback = fallback_choice(payload)
    texts = look.texts()
    return render_template("related.html", list_id=list_id, article_id=payload["article_id"],
                           model_version=payload["model_version"], stories=stories, thumbnail=thumbnail,
                           heading=texts[fallback] if fallback else heading or texts["related"], look=look,
                           fallback=fallback, arm=payload.get("arm"))


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


def date_text(published_at: Any, lang: str = "en") -> str | None:
    """The date of a value starting YYYY-MM-DD in the language's long form, as the widget's Intl writes it
    ("January 9, 2024", "9. Januar 2024"); None for anything else."""
    match = _DATE.match(published_at) if isinstance(published_at, str) else None  # a prefix, as in the widget
    if match is None:
        return None
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    return format_date(day, format="long", locale=_locale(lang))


@functools.lru_cache(maxsize=256)
def _locale(lang: str) -> Locale:
    """The CLDR locale of a language tag ("de", "en-GB"), English for a tag Babel does not know."""
    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def _story(item: Mapping[str, Any], thumbnail: tuple[str, str] | None, lang: str) -> dict[str, Any]:
    image = item.get("image")
    return {
        "id": item["id"],
        "title": item["title"],
        "url": item["url"],
        "published_at": item.get("published_at"),
        "date": date_text(item.get("published_at"), lang),
        "image": image if thumbnail and _safe_url(image) else None,
        "explored": item.get("explored") is True,
    }


def _safe_url(value: Any) -> bool:
    return isinstance(value, str) and _SAFE_URL.match(value) is not None


def _list_id(body: bytes) -> str:
    """Stable for the same list and options, so the fragment stays cacheable (the widget draws a random one);
    parameters the fragment does not take change nothing, so a cache-buster gets the same bytes and ETag."""
    options = urlencode(sorted((k, v) for k, v in request.args.items(multi=True) if k in FRAGMENT_PARAMETERS))
    return hashlib.blake2b(body + b"\0" + options.encode(), digest_size=8).hexdigest()
