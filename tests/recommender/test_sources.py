"""Readers of real exports (WXR, REST, RSS, Atom, Ghost), their safety, and the plain-text model staying the same."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from recommender.corpus import load_corpus, parse_article
from recommender.errors import CorpusError
from recommender.model import RelatedModel
from recommender.sources import ReaderOptions
from recommender.sources.files import detect_format
from tests.conftest import SAMPLE_CORPUS

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
WXR_PARTS = [FIXTURES / "wxr-part1.xml", FIXTURES / "wxr-part2.xml"]


def by_id(corpus) -> dict:
    return {a.id: a for a in corpus.articles}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("wxr-part1.xml", "wxr"), ("wxr-part2.xml", "wxr"), ("rest-posts-embed.json", "wp_rest"),
     ("rest-tags.json", "wp_rest"), ("feed-rss.xml", "rss"), ("feed-atom.xml", "atom"),
     ("ghost-export.json", "ghost"), ("html-articles.jsonl", "jsonl")],
)
def test_format_is_told_by_content(tmp_path: Path, name: str, fmt: str) -> None:
    renamed = tmp_path / "export.data"  # no telling extension
    shutil.copy(FIXTURES / name, renamed)
    assert detect_format(renamed) == fmt


# --- WXR --------------------------------------------------------------------------------------------


def test_split_wxr_reports_the_repeated_item_and_bad_items_by_file_line_and_id() -> None:
    with pytest.raises(CorpusError) as raised:
        load_corpus(WXR_PARTS)
    problems = [str(p) for p in raised.value.problems]
    assert problems == [
        f"{WXR_PARTS[1]}:48: item 102: duplicate id '102' (first on {WXR_PARTS[0]}:77)",
        f"{WXR_PARTS[1]}:60: item 106: missing field 'title'",
        f"{WXR_PARTS[1]}:69: item 107: bad date in 'published_at': 'sometime in May' is not ISO 8601",
    ]


def test_wxr_reads_published_posts_and_counts_the_rest_by_reason() -> None:
    corpus = load_corpus(WXR_PARTS, skip_invalid=True)
    articles = by_id(corpus)

    assert list(articles) == ["101", "102", "103", "104", "105"]
    assert corpus.excluded == {
        "status draft": 1, "status pending": 1, "status private": 1, "status trash": 1, "status future": 1,
        "password protected": 1, "type page": 1, "type revision": 1, "type nav_menu_item": 1, "type wp_block": 1,
        "type attachment": 2,
    }
    coral = articles["101"]
    assert coral.title == "Café & science: coral “bleaching” explained"
    assert coral.published_at == datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
    assert coral.url == "https://reefnotes.example/2024/03/coral-bleaching/"
    assert coral.tags == ("coral", "reef") and coral.category == "Oceans"
    assert coral.extra["categories"] == ["Oceans", "Climate"] and coral.extra["language"] == "en"
    # the attachment comes after its post, in the other part of the export
    assert coral.image == "https://reefnotes.example/wp-content/uploads/2024/03/reef.jpg"
    assert articles["105"].image == "https://reefnotes.example/wp-content/uploads/2024/02/turtle.jpg"
    assert coral.body == (
        "Corals expel their algae when the water stays too warm, and the reef turns white.\n\n"
        "A bleached reef near Lizard Island\n\nWhy heat matters\n\nZooxanthellae\nphotosynthesis\nsymbiosis\n\n"
        "Read the full report from the survey team.\nTemperatures rose by 1.5°C.\n\nYear\nLoss\n2016\n30%"
    )
    for dropped in ("tracker", "tracking", "vector text", "hidden template", "wp:", "Share", "sharks"):
        assert dropped not in coral.body


def test_wxr_classic_editor_post() -> None:
    kelp = by_id(load_corpus(WXR_PARTS, skip_invalid=True))["102"]
    assert kelp.published_at == datetime(2023, 11, 20, 8, 0, tzinfo=UTC)  # zero GMT date: the local date
    assert kelp.body == (
        "Kelp grows up to half a metre a day in cold water. Otters keep the urchins in check.\n\n"
        "Without otters the urchins ]]> eat the kelp down to the rock. Fishermen & divers noticed first,"
        " “urchin barrens” they call them.\n\nSea otters are a keystone species.\n\n"
        "Use [gallery] to show a gallery. A note [sic] stays. The second half: Café owners on the coast sell"
        " kelp crisps. Last page."
    )


def test_wxr_messy_markup_and_excerpt_fallback() -> None:
    articles = by_id(load_corpus(WXR_PARTS, skip_invalid=True))
    messy = articles["103"]
    assert messy.title == "Mis-nested markup and a huge image"
    assert messy.body == ("Seagrass meadows store carbon in their roots\n\nunclosed block\n\n"
                          "Another paragraph no closing tags after the image.\n\nInline text and more.")
    assert articles["104"].body == "Mangroves protect coasts from storms."


def test_post_types_and_statuses_widen_the_selection() -> None:
    options = ReaderOptions(post_types=("post", "page"), statuses=("publish", "draft", "private"))
    corpus = load_corpus(WXR_PARTS[:1], options=options)
    assert {"110", "112", "120"} <= set(by_id(corpus))
    assert by_id(corpus)["110"].published_at is None  # a draft's zero date is no date
    assert "status draft" not in corpus.excluded and corpus.excluded["password protected"] == 1


def test_gzipped_wxr(tmp_path: Path) -> None:
    packed = tmp_path / "export.xml.gz"
    packed.write_bytes(gzip.compress(WXR_PARTS[0].read_bytes()))
    assert list(by_id(load_corpus(packed))) == ["101", "102", "103", "104"]


@pytest.mark.parametrize("name", ["wxr-xxe.xml", "wxr-billion-laughs.xml"])
def test_dtds_are_refused(name: str) -> None:
    with pytest.raises(CorpusError) as raised:
        load_corpus(FIXTURES / name)
    assert str(raised.value).startswith(f"{FIXTURES / name}:2: refused: the file declares a DOCTYPE")


def test_entity_declaration_after_a_long_prologue_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "long.xml"
    comment = "<!-- " + "x" * 70_000 + " -->\n"
    path.write_text(f'<?xml version="1.0"?>\n{comment}<!DOCTYPE rss [<!ENTITY a "b">]>\n'
                    '<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><item><title>&a;</title>'
                    '<wp:post_id>1</wp:post_id></item></channel></rss>')
    with pytest.raises(CorpusError, match="refused: the file declares a DOCTYPE"):
        load_corpus(path)


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(WXR_PARTS[0].read_text().replace("<wp:post_id>103</wp:post_id>", "<wp:post_id>103", 1))
    with pytest.raises(CorpusError) as raised:
        load_corpus(path, skip_invalid=True)
    assert str(raised.value) == (f"{path}:126: malformed XML: Opening and ending tag mismatch: post_id line 118"
                                " and item, line 126, column 9")


# --- REST, feeds, Ghost ------------------------------------------------------------------------------


def test_rest_pages_with_and_without_embed() -> None:
    corpus = load_corpus([FIXTURES / "rest-posts-embed.json", FIXTURES / "rest-posts-plain.json"])
    articles = by_id(corpus)
    assert list(articles) == ["301", "303"]
    assert corpus.excluded == {"password protected": 1}
    coral = articles["301"]
    assert coral.title == "Café & science: coral “bleaching”"
    assert coral.tags == ("coral", "reef") and coral.category == "Oceans"
    assert coral.image == "https://reefnotes.example/wp-content/uploads/reef.jpg"
    assert coral.body == "Corals expel their algae when the water stays too warm.\n\nA bleached reef"
    assert articles["303"].tags == ()
    assert corpus.notes == [
        "2 tags id(s) could not be named (no _embed, no /wp/v2/tags dump given): 9, 99",
        "1 categories id(s) could not be named (no _embed, no /wp/v2/categories dump given): 3",
    ]


def test_rest_term_dumps_name_the_ids() -> None:
    files = ["rest-tags.json", "rest-posts-plain.json", "rest-categories.json"]
    corpus = load_corpus([FIXTURES / f for f in files])
    kelp = by_id(corpus)["303"]
    assert (kelp.title, kelp.tags, kelp.category) == ("Kelp forests – a primer", ("kelp",), "Oceans")
    assert corpus.notes == ["1 tags id(s) could not be named (no _embed, no /wp/v2/tags dump given): 99"]


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "page.json"
    path.write_text('[\n  {"id": 1,\n   "title": {"rendered": "x"}\n   "content": {}}\n]')
    with pytest.raises(CorpusError) as raised:
        load_corpus(path, skip_invalid=True)
    assert str(raised.value) == f"{path}:4: malformed JSON: Expecting ',' delimiter at column 4"


def test_rss_and_atom_feeds() -> None:
    rss = load_corpus(FIXTURES / "feed-rss.xml").articles
    assert [(a.id, a.title, a.body, a.image) for a in rss] == [
        ("https://reefnotes.example/?p=101", "Coral & heat",
         "Corals expel their algae when the water stays too warm.\n\nThe reef turns white.",
         "https://reefnotes.example/reef-thumb.jpg"),
        ("https://reefnotes.example/2023/11/kelp-forests/", "Kelp forests", "Kelp grows up to half a metre a day.",
         "https://reefnotes.example/kelp.jpg"),
    ]
    assert rss[0].tags == ("Oceans", "coral") and rss[1].published_at == datetime(2023, 11, 20, 8, tzinfo=UTC)
    atom = load_corpus(FIXTURES / "feed-atom.xml").articles
    assert [(a.id, a.title, a.body, a.url) for a in atom] == [
        ("tag:reefnotes.example,2024:101", "Café & coral", "Corals expel their algae.\n\nheat\nlight",
         "https://reefnotes.example/2024/03/coral-bleaching/"),
        ("tag:reefnotes.example,2023:102", "Kelp forests", "Kelp grows fast.\n\nOtters help.",
         "https://reefnotes.example/2023/11/kelp-forests/"),
    ]


def test_ghost_export() -> None:
    plain = load_corpus(FIXTURES / "ghost-export.json")
    assert plain.excluded == {"status draft": 1, "type page": 1}
    coral, turtles = plain.articles
    assert (coral.id, coral.title, coral.tags, coral.category) == (
        "65e5a0f1c2b3a40001a1b101", "Café & coral reefs", ("Oceans", "coral"), "Oceans")  # no #internal tag
    assert coral.url is None and coral.image is None  # __GHOST_URL__ without --site-url
    assert turtles.body == "Hatchlings read the magnetic field." and turtles.url == "https://turtles.example/original/"
    sited = load_corpus(FIXTURES / "ghost-export.json", options=ReaderOptions(site_url="https://reefnotes.example/"))
    coral = sited.articles[0]
    assert coral.url == "https://reefnotes.example/coral-reefs/"
    assert coral.image == "https://reefnotes.example/content/images/2024/03/reef.jpg"


def test_a_ghost_content_api_response_reads_as_the_export_does(tmp_path: Path) -> None:
    exported = load_corpus(FIXTURES / "ghost-export.json",
                           options=ReaderOptions(site_url="https://reefnotes.example/")).articles[0]
    post = json.loads((FIXTURES / "ghost-export.json").read_text())["db"][0]["data"]["posts"][0]
    post = {**post, "html": post["html"].replace("__GHOST_URL__", "https://reefnotes.example"),
            "feature_image": "https://reefnotes.example/content/images/2024/03/reef.jpg",
            "url": "https://reefnotes.example/coral-reefs/", "tags": [
                {"id": "t1", "name": "Oceans", "visibility": "public"}, {"id": "t2", "name": "coral"},
                {"id": "t3", "name": "#internal", "visibility": "internal"}]}
    for key in ("type", "status"):  # the Content API lists published posts only and says neither
        del post[key]
    path = tmp_path / "content-api.json"
    path.write_text(json.dumps({"posts": [post], "meta": {"pagination": {"page": 1, "pages": 1, "total": 1}}}))
    assert detect_format(path) == "ghost"
    (article,) = load_corpus(path).articles
    assert article == dataclasses.replace(exported, extra=article.extra)
    assert (article.id, article.tags, article.category, article.url) == (
        "65e5a0f1c2b3a40001a1b101", ("Oceans", "coral"), "Oceans", "https://reefnotes.example/coral-reefs/")


def test_ghost_bad_item_is_reported_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ghost.json"
    document = json.loads((FIXTURES / "ghost-export.json").read_text())
    document["db"][0]["data"]["posts"][3]["title"] = ""
    path.write_text(json.dumps(document, indent=1))
    with pytest.raises(CorpusError) as raised:
        load_corpus(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "65e5a0f1c2b3a40001a1b104" in text)
    assert [str(p) for p in raised.value.problems] == [f"{path}:{line}: item 65e5a0f1c2b3a40001a1b104:"
                                                       " missing field 'title'"]


# --- JSON Lines with HTML, and plain text unchanged ---------------------------------------------------------


def test_jsonl_html_fields_are_cleaned_and_image_kept() -> None:
    corpus = load_corpus(FIXTURES / "html-articles.jsonl")
    html, plain = corpus.articles
    assert (html.title, html.body, html.image) == (
        "Café & science", "Corals expel algae.\n\nHeat stress bleaches reefs.", "https://reefnotes.example/h1.jpg")
    assert (plain.title, plain.body) == ("Plain & simple <not a tag>", "AT&T engineers wrote 3 < 4 and x > y.")
    assert corpus.notes == ["2 articles share the canonical URL reefnotes.example/h1 (h1, h2);"
                            " lookups by URL find 'h2'"]
    raw = load_corpus(FIXTURES / "html-articles.jsonl", body_format="text").articles[0]
    assert raw.title == "Caf&eacute; &amp; science"


def test_a_plain_text_corpus_gives_exactly_todays_model() -> None:
    """`auto` must not touch a corpus without markup: same articles, same vectors, same neighbours."""
    auto, text = load_corpus(SAMPLE_CORPUS), load_corpus(SAMPLE_CORPUS, body_format="text")
    assert auto.articles == text.articles
    before = RelatedModel(top_k=20).fit(text.articles)
    after = RelatedModel(top_k=20).fit(auto.articles)
    np.testing.assert_array_equal(before.neighbors_.indices, after.neighbors_.indices)
    np.testing.assert_array_equal(before.neighbors_.scores, after.neighbors_.scores)
    assert (before.vectors_.tfidf != after.vectors_.tfidf).nnz == 0


# --- bounded memory ---------------------------------------------------------------------------------


# VmHWM, not ru_maxrss: the latter survives exec and would report the forking test process's peak
MEMORY_PROBE = textwrap.dedent("""
    import re, sys
    from recommender.sources import ReaderOptions
    from recommender.sources.wxr import read_wxr
    n = sum(1 for _ in read_wxr([sys.argv[1]], ReaderOptions()))
    with open("/proc/self/status") as status:
        print(n, re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
""")


def write_wxr(path: Path, n_items: int, sentences: int = 50) -> None:
    """A generated export of `n_items` posts of ~2 KB each (not committed: made by the test)."""
    body = ("<!-- wp:paragraph --><p>" + "Reef survey notes &amp; coral counts. " * sentences
            + "</p><!-- /wp:paragraph --><ul><li>one</li><li>two</li></ul>")
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
                'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
                'xmlns:wp="http://wordpress.org/export/1.2/"><channel>\n')
        for i in range(n_items):
            f.write(f"<item><title>Post {i} &amp;amp; more</title><link>https://x.example/{i}/</link>"
                    f"<content:encoded><![CDATA[{body}]]></content:encoded><wp:post_id>{i}</wp:post_id>"
                    "<wp:status>publish</wp:status><wp:post_type>post</wp:post_type></item>\n")
        f.write("</channel></rss>\n")


def test_reading_a_wxr_takes_memory_of_one_item_not_of_the_file(tmp_path: Path) -> None:
    """Reading 20k items (~45 MB) raises peak RSS no more than a few MB over reading 2k (the reader alone)."""
    peaks = {}
    for n in (2_000, 20_000):
        path = tmp_path / f"export-{n}.xml"
        write_wxr(path, n)
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).parents[2]).stdout.split()
        assert int(out[0]) == n
        peaks[n] = int(out[1]) * 1024
    growth = peaks[20_000] - peaks[2_000]
    assert growth < 16 * 2**20, f"peak RSS grew {growth / 2**20:.1f} MB for 18k more items"


def test_cleaning_on_several_processes_gives_the_same_corpus(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    write_wxr(path, 2_600, sentences=2)  # more than the first 2,048 items cleaned inline
    inline, pooled = load_corpus(path, jobs=1), load_corpus(path, jobs=2)
    assert len(pooled.articles) == 2_600 and pooled.articles == inline.articles
    assert pooled.articles[-1].title == "Post 2599 & more" and pooled.articles[-1].body.endswith("\n\none\ntwo")


def test_records_from_elsewhere_are_cleaned_as_a_corpus_is() -> None:
    """`parse_article` (the admin API's entry) cleans markup under `auto` and leaves plain text alone."""
    article = parse_article({"id": "a", "title": "Caf&eacute; &amp; science", "body": "<p>one</p><p>two</p>",
                             "image": "https://x.example/a.jpg"})
    assert (article.title, article.body, article.image) == ("Café & science", "one\n\ntwo", "https://x.example/a.jpg")
    assert parse_article({"id": "b", "title": "AT&T", "body": "3 < 4"}).body == "3 < 4"


def test_csv_with_html_and_an_image_column(tmp_path: Path) -> None:
    path = tmp_path / "articles.csv"
    path.write_text('id,title,body,image\nc1,"Fish &amp; chips","<p>Cod</p><p>Haddock</p>",https://x.example/c1.jpg\n'
                    'c2,Plain,"No markup, 3 < 4",\n', encoding="utf-8")
    first, second = load_corpus(path).articles
    assert (first.title, first.body, first.image) == ("Fish & chips", "Cod\n\nHaddock", "https://x.example/c1.jpg")
    assert (second.body, second.image) == ("No markup, 3 < 4", None)
