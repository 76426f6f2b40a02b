"""Canonical URLs: the decorations a page renderer's URL may carry do not hide the article."""

from __future__ import annotations

import pytest

from recommender.catalog import ArticleCatalog
from recommender.corpus import Article
from recommender.urls import canonical_url

CANONICAL = "example.com/2024/03/coral-bleaching"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/2024/03/coral-bleaching/",
        "http://example.com/2024/03/coral-bleaching",
        "HTTPS://WWW.Example.COM/2024/03/coral-bleaching/",
        "https://example.com:443/2024/03/coral-bleaching/#comments",
        "https://example.com/2024/03/coral-bleaching/?utm_source=news&utm_medium=email&utm_campaign=x",
        "https://example.com/2024/03/coral-bleaching/?fbclid=IwAR0abc&gclid=Cj0",
        "https://example.com/2024/03/coral-bleaching/?mc_cid=1a2b&mc_eid=3c4d",
        "https://example.com/2024/03/coral-bleaching/amp/",
        "https://example.com/2024/03/coral-bleaching/?amp=1",
        "https://example.com/2024/03/coral-bleaching?amp",
        "example.com/2024/03/coral-bleaching/",
        "  https://example.com/2024/03/%63oral-bleaching/  ",
    ],
)
def test_decorated_urls_share_one_canonical_form(url: str) -> None:
    assert canonical_url(url) == CANONICAL


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://example.com/?p=123&utm_source=x", "example.com?p=123"),
        ("https://example.com/search?b=2&a=1", "example.com/search?a=1&b=2"),
        ("https://example.com:8080/a/", "example.com:8080/a"),
        ("https://example.com/Case/Sensitive", "example.com/Case/Sensitive"),
    ],
)
def test_meaningful_parts_are_kept(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize("url", ["", "   ", "not a url", "https://", "/relative/path", "https://exa mple.com/"])
def test_what_is_not_a_url_has_no_canonical_form(url: str) -> None:
    assert canonical_url(url) is None


def test_the_catalogue_finds_articles_by_url_and_the_later_of_two_wins() -> None:
    catalog = ArticleCatalog.from_articles([
        Article("a", "A", "a", url="https://example.com/a/"),
        Article("b", "B", "b", url=None),
        Article("c", "C", "c", url="https://www.example.com/a?utm_source=x"),
        Article("d", "D", "d", url="https://example.com/d", image="https://example.com/d.jpg"),
    ])
    assert catalog.article_id_for_url("http://example.com/a#top") == "c"
    assert catalog.article_id_for_url("https://example.com/d/?fbclid=1") == "d"
    assert catalog.article_id_for_url("https://example.com/unknown") is None
    assert catalog.article_id_for_url("") is None
    assert catalog.info(3).image == "https://example.com/d.jpg" and catalog.info(0).image is None


def test_a_catalogue_stored_before_images_loads() -> None:
    columns = ArticleCatalog.from_articles([Article("a", "A", "a")]).to_columns()
    older = {k: v for k, v in columns.items() if k != "images"}
    assert ArticleCatalog(older).info(0).image is None
