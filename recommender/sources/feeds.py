"""RSS 2.0 and Atom feeds, entry by entry: the text is `content:encoded` before `description` (RSS),
`content` before `summary` (Atom); the id is the `guid` / `id` (else the link), the url the `link`.

A feed holds only what is published, so nothing is selected out; RSS categories become tags.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from lxml import etree

from recommender.sources import SourceRecord, SourceStream
from recommender.sources.xml import iter_items, text_of

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
MEDIA = "{http://search.yahoo.com/mrss/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def read_feed(path: str | Path) -> SourceStream:
    """Records of every item of an RSS 2.0 or every entry of an Atom feed; the channel's `language`
    (RSS) or the `xml:lang` in effect on an entry (Atom) is the feed's language."""
    feed_language = None
    for element in iter_items(path, ("item", f"{ATOM}entry", "language")):
        if element.tag == "language":
            feed_language = text_of(element).strip() or None
            continue
        if element.tag == f"{ATOM}entry":
            fields = _atom_fields(element)
            feed_language = _xml_lang(element)
        else:
            fields = _rss_fields(element)
        if feed_language:
            fields["site_language"] = feed_language
        yield SourceRecord(str(path), element.sourceline or 1, fields)


def _xml_lang(element: etree._Element) -> str | None:
    """The `xml:lang` of the element or its nearest ancestor that has one."""
    while element is not None:
        lang = element.get(XML_LANG)
        if lang:
            return lang
        element = element.getparent()
    return None


def _rss_fields(item: etree._Element) -> dict[str, Any]:
    link = text_of(item.find("link")).strip() or None
    content = text_of(item.find(CONTENT_ENCODED))
    return {
        "id": text_of(item.find("guid")).strip() or link,
        "title": text_of(item.find("title")),
        "body": content if content.strip() else text_of(item.find("description")),
        "tags": [text_of(c).strip() for c in item.findall("category") if text_of(c).strip()],
        "published_at": _rfc822(text_of(item.find("pubDate"))),
        "url": link,
        "image": _rss_image(item),
    }


def _atom_fields(entry: etree._Element) -> dict[str, Any]:
    links = entry.findall(f"{ATOM}link")
    alternate = next((lk.get("href") for lk in links if lk.get("rel", "alternate") == "alternate"), None)
    content = _atom_text(entry.find(f"{ATOM}content"))
    return {
        "id": text_of(entry.find(f"{ATOM}id")).strip() or alternate,
        "title": _atom_text(entry.find(f"{ATOM}title")),
        "body": content if content.strip() else _atom_text(entry.find(f"{ATOM}summary")),
        "tags": [c.get("term", "").strip() for c in entry.findall(f"{ATOM}category") if c.get("term", "").strip()],
        "published_at": (text_of(entry.find(f"{ATOM}published")) or text_of(entry.find(f"{ATOM}updated"))).strip()
        or None,
        "url": alternate,
        "image": next((lk.get("href") for lk in links if lk.get("rel") == "enclosure"
                       and (lk.get("type") or "").startswith("image/")), None),
    }


def _atom_text(element: etree._Element | None) -> str:
    """An Atom text construct: `xhtml` content is markup inside a `<div>`, `text` and `html` are text."""
    if element is None:
        return ""
    if element.get("type") == "xhtml":
        return "".join(etree.tostring(child, encoding="unicode") for child in element)
    return text_of(element)


def _rss_image(item: etree._Element) -> str | None:
    for enclosure in item.findall("enclosure"):
        if (enclosure.get("type") or "").startswith("image/") and enclosure.get("url"):
            return enclosure.get("url")
    for tag in ("thumbnail", "content"):
        media = item.find(f"{MEDIA}{tag}")
        if media is not None and media.get("url") and media.get("medium", "image") == "image":
            return media.get("url")
    return None


def _rfc822(value: str) -> str | None:
    """RSS's RFC 822 date as ISO 8601; an unreadable date is passed on for validation to report."""
    value = value.strip()
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError):
        return value
