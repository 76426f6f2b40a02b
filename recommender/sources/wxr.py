"""WordPress eXtended RSS (WXR 1.0–1.2, Tools › Export or `wp export`), read item by item.

Field choices follow `wp-admin/includes/export.php`: the id is `wp:post_id`, the text
`content:encoded` (or `excerpt:encoded` when the content is empty), the date `wp:post_date_gmt`
(drafts carry `0000-00-00 00:00:00`: no date; then `wp:post_date`), terms are `<category domain=…>`,
and the featured image is the `_thumbnail_id` post meta naming an attachment item's URL.
Several files of one split export are read as one: attachments and posts may be in different parts,
and an item repeated in two parts (the same post) is a duplicate id, as in JSON Lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from recommender.sources import LateImage, ReaderOptions, Skipped, SourceRecord, SourceStream, selection_reason
from recommender.sources.xml import iter_items, text_of

ZERO_DATE = "0000-00-00 00:00:00"
UNDATED_STATUSES = ("draft", "pending", "auto-draft")
_WP_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def read_wxr(paths: Sequence[str | Path], options: ReaderOptions) -> SourceStream:
    """Records of the published posts of one export (split into `paths`), skips counted by reason."""
    attachment_urls: dict[str, str] = {}
    waiting: dict[str, list[str]] = {}  # attachment id → posts whose thumbnail it is, read before it
    site_language = None
    for path in paths:
        name = str(path)
        for item in iter_items(path, ("item", "language")):
            if item.tag == "language":  # the channel's: the site's language (WordPress's setting)
                site_language = text_of(item).strip() or None
                continue
            fields = _item_fields(item)
            if site_language:
                fields["site_language"] = site_language
            post_type, post_id = fields.pop("post_type"), fields["id"]
            if post_type == "attachment" and fields["attachment_url"]:
                attachment_urls[post_id] = fields["attachment_url"]
                for article_id in waiting.pop(post_id, ()):
                    yield LateImage(article_id, fields["attachment_url"])
            reason = selection_reason(post_type, fields.pop("status"), bool(fields.pop("password")), options)
            if reason is not None:
                yield Skipped(reason)
                continue
            thumbnail = fields.pop("thumbnail_id")
            del fields["attachment_url"]
            if thumbnail in attachment_urls:
                fields["image"] = attachment_urls[thumbnail]
            elif thumbnail:
                waiting.setdefault(thumbnail, []).append(post_id)
            yield SourceRecord(name, item.sourceline or 1, fields)


def _item_fields(item: etree._Element) -> dict[str, object]:
    """An `<item>`'s fields in the corpus record shape, plus what selection and images need."""
    values: dict[str, str] = {}
    tags: list[str] = []
    categories: list[str] = []
    terms: dict[str, list[str]] = {}
    meta: dict[str, str] = {}
    language = ""
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        namespace, _, local = tag[1:].rpartition("}") if tag[0] == "{" else ("", "", tag)
        if local == "category":
            domain, term = child.get("domain", ""), text_of(child).strip()
            if domain == "language":  # Polylang: the slug is the language code ("en"), the name its label
                language = child.get("nicename") or term
            elif term:
                target = tags if domain == "post_tag" else categories if domain == "category" else None
                (terms.setdefault(domain, []) if target is None else target).append(term)
        elif local == "postmeta":
            key = text_of(child.find("{*}meta_key")).strip()
            if key == "_thumbnail_id":
                meta[key] = text_of(child.find("{*}meta_value")).strip()
        elif local == "encoded":
            values["excerpt" if namespace.endswith("/excerpt/") else "content"] = text_of(child)
        elif local != "comment":
            values[local] = text_of(child)
    content = values.get("content", "")
    fields: dict[str, object] = {
        "id": values.get("post_id", "").strip(),
        "title": values.get("title", ""),
        "body": content if content.strip() else values.get("excerpt", ""),
        "tags": tags,
        "category": categories[0] if categories else None,
        "published_at": _published_at(values),
        "url": values.get("link", "").strip() or None,
        "post_type": values.get("post_type", "").strip(),
        "status": values.get("status", "").strip(),
        "password": values.get("post_password", "").strip(),
        "thumbnail_id": meta.get("_thumbnail_id", ""),
        "attachment_url": values.get("attachment_url", "").strip(),
    }
    if values.get("creator", "").strip():
        fields["author"] = values["creator"].strip()
    if categories[1:]:
        fields["categories"] = categories
    if language:
        fields["language"] = language
    if terms:
        fields["terms"] = terms
    return fields


def _published_at(values: dict[str, str]) -> str | None:
    """The GMT date, else the local one; a draft's zero GMT date means it has no date yet."""
    gmt = values.get("post_date_gmt", "").strip()
    if gmt == ZERO_DATE and values.get("status", "").strip() in UNDATED_STATUSES:
        return None
    return _date(gmt) or _date(values.get("post_date"))


def _date(value: str | None) -> str | None:
    """WordPress's `YYYY-MM-DD HH:MM:SS` as ISO 8601 (the GMT column is UTC), None for an empty or zero date."""
    value = (value or "").strip()
    if not value or value == ZERO_DATE:
        return None
    return value.replace(" ", "T", 1) if _WP_DATE.match(value) else value
