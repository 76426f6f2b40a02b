"""WordPress REST API dumps: files each holding the array `/wp-json/wp/v2/posts` returns (`_embed` or not).

Tag and category ids become names through `_embedded["wp:term"]`, or through `/wp/v2/tags` and
`/wp/v2/categories` dump files given alongside (told apart from post pages by their `taxonomy`
field); ids neither names are listed in a note. The featured image comes from
`_embedded["wp:featuredmedia"]`; `content.protected` posts are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recommender.errors import CorpusProblem
from recommender.sources import Note, ReaderOptions, Skipped, SourceRecord, SourceStream, selection_reason
from recommender.sources.jsonfile import iter_array

TAXONOMY_FIELDS = {"post_tag": "tags", "category": "categories"}


def read_wp_rest(paths: Sequence[str | Path], options: ReaderOptions) -> SourceStream:
    """Records of the published posts of REST dump pages; term dump files among `paths` name the ids."""
    names: dict[str, dict[int, str]] = {"tags": {}, "categories": {}}
    post_files = []
    for path in paths:
        items = iter_array(path)
        first = next(items, None)
        if first is not None and isinstance(first[1], dict) and "taxonomy" in first[1] and "content" not in first[1]:
            for _, term in [first, *items]:
                field = TAXONOMY_FIELDS.get(term.get("taxonomy", "")) if isinstance(term, dict) else None
                if field and isinstance(term.get("id"), int) and isinstance(term.get("name"), str):
                    names[field][term["id"]] = term["name"]
        else:
            post_files.append(path)
    unnamed: dict[str, set[int]] = {"tags": set(), "categories": set()}
    for path in post_files:
        for line, post in iter_array(path):
            if not isinstance(post, dict):
                yield CorpusProblem(str(path), line, "each item of a REST dump must be a JSON object (a post)")
                continue
            reason = selection_reason(str(post.get("type", "post")), str(post.get("status", "publish")),
                                      bool(_rendered_part(post, "content", "protected")), options)
            if reason is not None:
                yield Skipped(reason)
                continue
            yield SourceRecord(str(path), line, _post_fields(post, names, unnamed))
    for field, ids in unnamed.items():
        if ids:
            listed = ", ".join(str(i) for i in sorted(ids)[:20]) + (" …" if len(ids) > 20 else "")
            yield Note(f"{len(ids)} {field} id(s) could not be named (no _embed, no /wp/v2/{field} dump given):"
                       f" {listed}")


def _post_fields(post: Mapping[str, Any], names: dict[str, dict[int, str]],
                 unnamed: dict[str, set[int]]) -> dict[str, Any]:
    embedded = post.get("_embedded") if isinstance(post.get("_embedded"), dict) else {}
    embedded_names: dict[int, str] = {}
    for group in embedded.get("wp:term") or []:
        for term in group if isinstance(group, list) else []:
            if isinstance(term, dict) and isinstance(term.get("id"), int) and isinstance(term.get("name"), str):
                embedded_names[term["id"]] = term["name"]
    terms: dict[str, list[str]] = {}
    for field in ("tags", "categories"):
        terms[field] = []
        for term_id in post.get(field) or []:
            name = embedded_names.get(term_id) or names[field].get(term_id)
            if name is None:
                unnamed[field].add(term_id)
            else:
                terms[field].append(name)
    content = _rendered_part(post, "content", "rendered") or ""
    fields: dict[str, Any] = {
        "id": post.get("id"),
        "title": _rendered_part(post, "title", "rendered"),
        "body": content if content.strip() else _rendered_part(post, "excerpt", "rendered") or "",
        "tags": terms["tags"],
        "category": terms["categories"][0] if terms["categories"] else None,
        "published_at": post.get("date_gmt") or post.get("date") or None,
        "url": post.get("link"),
        "image": _featured_image(embedded),
    }
    if terms["categories"][1:]:
        fields["categories"] = terms["categories"]
    if isinstance(post.get("slug"), str):
        fields["slug"] = post["slug"]
    return fields


def _rendered_part(post: Mapping[str, Any], name: str, part: str) -> Any:
    value = post.get(name)
    return value.get(part) if isinstance(value, dict) else value if part == "rendered" else None


def _featured_image(embedded: Mapping[str, Any]) -> str | None:
    media = embedded.get("wp:featuredmedia")
    first = media[0] if isinstance(media, list) and media else None
    url = first.get("source_url") if isinstance(first, dict) else None
    return url if isinstance(url, str) and url else None
