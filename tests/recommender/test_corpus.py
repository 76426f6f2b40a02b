"""`load_corpus` on real JSON Lines and CSV files: parsed fields, located problems, skipping, checksum."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recommender.corpus import load_corpus
from recommender.errors import CorpusError

GOOD = {"id": "a1", "title": "Tiangong opens to foreign crews", "body": "China's station welcomes visitors."}
OTHER = {"id": "a2", "title": "Sleep spindles and memory", "body": "Brief bursts of brain activity."}


def jsonl(*records: dict) -> bytes:
    """Records as JSON Lines bytes, one object per line."""
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def problems_of(path: Path, **kwargs) -> list[tuple[str, int, str]]:
    """The (path, line, reason) triples `load_corpus` raises for this file."""
    with pytest.raises(CorpusError) as info:
        load_corpus(path, **kwargs)
    return [(p.path, p.line, p.reason) for p in info.value.problems]


# --- JSON Lines: valid rows ------------------------------------------------------------------------


def test_jsonl_fields_are_parsed(tmp_path: Path) -> None:
    full = {
        **GOOD,
        "tags": ["space", "china", "space"],
        "category": "space",
        "published_at": "2024-03-01T10:30:00+02:00",
        "url": "https://news.example.org/space/a1",
        "author": "Ada",
        "word_count": 812,
    }
    path = write(tmp_path, "articles.jsonl", jsonl(full, {**OTHER, "published_at": "2024-01-09"}))

    corpus = load_corpus(path)

    first, second = corpus.articles
    assert (first.id, first.title, first.body) == (GOOD["id"], GOOD["title"], GOOD["body"])
    assert first.tags == ("space", "china")
    assert first.category == "space"
    assert first.published_at == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
    assert first.published_at.utcoffset().total_seconds() == 0
    assert first.url == "https://news.example.org/space/a1"
    assert dict(first.extra) == {"author": "Ada", "word_count": 812}
    assert second.published_at == datetime(2024, 1, 9, tzinfo=UTC)
    assert (second.tags, second.category, second.url, dict(second.extra)) == ((), None, None, {})
    assert corpus.path == str(path)
    assert corpus.problems == [] and corpus.skipped == 0


def test_body_may_be_empty_when_title_is_present(tmp_path: Path) -> None:
    path = write(tmp_path, "articles.jsonl", jsonl({**GOOD, "body": ""}, OTHER))

    corpus = load_corpus(path)

    assert [a.id for a in corpus.articles] == ["a1", "a2"]
    assert corpus.articles[0].body == ""


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_blank_lines_are_ignored_but_counted(tmp_path: Path, newline: bytes) -> None:
    lines = [json.dumps(GOOD).encode(), b"", b"   ", json.dumps(OTHER).encode(), b"", b"{oops"]
    path = write(tmp_path, "articles.jsonl", newline.join(lines) + newline)

    assert [line for _, line, _ in problems_of(path)] == [6]
    assert [a.id for a in load_corpus(path, skip_invalid=True).articles] == ["a1", "a2"]


# --- JSON Lines: one bad row, located -------------------------------------------------------------


def dump(record: dict) -> bytes:
    return json.dumps(record).encode()


BAD_JSONL_ROWS = {
    "missing id": (dump({"title": "T", "body": "B"}), ["missing field 'id'"]),
    "empty id": (dump({"id": "", "title": "T", "body": "B"}), ["missing field 'id'"]),
    "missing title": (dump({"id": "x", "body": "B"}), ["missing field 'title'"]),
    "blank title": (dump({"id": "x", "title": "  ", "body": "B"}), ["missing field 'title'"]),
    "missing body": (dump({"id": "x", "title": "T"}), ["missing field 'body'"]),
    "null body": (dump({"id": "x", "title": "T", "body": None}), ["missing field 'body'"]),
    "title not a string": (dump({"id": "x", "title": 7, "body": "B"}), ["'title'", "must be a string"]),
    "duplicate id": (dump({**GOOD, "title": "Again"}), ["duplicate id 'a1'", "first on line 1"]),
    "bad date": (dump({"id": "x", "title": "T", "body": "B", "published_at": "yesterday"}),
                 ["bad date", "'yesterday'"]),
    "date not a string": (dump({"id": "x", "title": "T", "body": "B", "published_at": 20240101}),
                          ["'published_at'", "ISO 8601"]),
    "invalid UTF-8": (b'{"id": "x", "title": "caf\xe9", "body": "B"}', ["invalid UTF-8"]),
    "malformed JSON": (b'{"id": "x", "title": "T",', ["malformed JSON"]),
    "array not object": (b'["x", "T", "B"]', ["JSON object"]),
    "tags a number": (dump({"id": "x", "title": "T", "body": "B", "tags": 5}), ["'tags'", "list of strings"]),
    "tags not strings": (dump({"id": "x", "title": "T", "body": "B", "tags": ["a", 2]}),
                         ["'tags'", "list of strings"]),
}


@pytest.mark.parametrize(("bad_line", "reason_parts"), BAD_JSONL_ROWS.values(), ids=BAD_JSONL_ROWS.keys())
def test_bad_jsonl_row_is_reported_with_path_line_and_reason(
    tmp_path: Path, bad_line: bytes, reason_parts: list[str]
) -> None:
    path = write(tmp_path, "articles.jsonl", dump(GOOD) + b"\n\n" + bad_line + b"\n" + dump(OTHER) + b"\n")

    [(problem_path, line, reason)] = problems_of(path)

    assert (problem_path, line) == (str(path), 3)
    for part in reason_parts:
        assert part in reason


# --- raising versus skipping ----------------------------------------------------------------------


def test_error_lists_every_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "articles.jsonl",
        dump(GOOD) + b"\n" + dump({"title": "T", "body": "B"}) + b"\n" + dump(OTHER) + b"\n"
        + b"[1]\n" + dump({"id": "x", "title": "T"}) + b"\n",
    )

    with pytest.raises(CorpusError) as info:
        load_corpus(path)

    assert [(p.path, p.line) for p in info.value.problems] == [(str(path), 2), (str(path), 4), (str(path), 5)]
    message = str(info.value)
    assert "3 invalid row(s)" in message
    assert f"{path}:2: missing field 'id'" in message
    assert f"{path}:4: each line must be a JSON object" in message
    assert f"{path}:5: missing field 'body'" in message


def test_skip_invalid_keeps_good_rows_and_counts_bad_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path, "articles.jsonl", dump(GOOD) + b"\n{broken\n" + dump(OTHER) + b"\n" + dump(GOOD) + b"\n"
    )

    corpus = load_corpus(path, skip_invalid=True)

    assert [a.id for a in corpus.articles] == ["a1", "a2"]
    assert corpus.skipped == 2
    assert [p.line for p in corpus.problems] == [2, 4]


@pytest.mark.parametrize(
    ("content", "n_problems"),
    [(b'{broken\n["a"]\n', 2), (b"", 0), (b"\n  \n", 0)],
    ids=["only bad rows", "empty file", "only blank lines"],
)
def test_no_valid_rows_raises_even_when_skipping(tmp_path: Path, content: bytes, n_problems: int) -> None:
    path = write(tmp_path, "articles.jsonl", content)

    with pytest.raises(CorpusError, match="no valid articles") as info:
        load_corpus(path, skip_invalid=True)

    assert len(info.value.problems) == n_problems


@pytest.mark.parametrize("is_directory", [False, True], ids=["missing file", "directory"])
def test_unreadable_path_raises_corpus_error(tmp_path: Path, is_directory: bool) -> None:
    path = tmp_path / "articles.jsonl"
    if is_directory:
        path.mkdir()

    with pytest.raises(CorpusError, match="cannot read corpus") as info:
        load_corpus(path)

    assert str(path) in str(info.value)
    assert info.value.problems == []


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_rows_are_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "articles.csv",
        "id,title,body,tags,category,published_at,url,author\n"
        "a1,Tiangong opens,Station news,\"space, china ,,crew\",space,2024-03-01,https://x.org/a1,Ada\n"
        "a2,Sleep spindles,,,,,,\n",
    )

    first, second = load_corpus(path).articles

    assert (first.id, first.title, first.body) == ("a1", "Tiangong opens", "Station news")
    assert first.tags == ("space", "china", "crew")
    assert first.category == "space"
    assert first.published_at == datetime(2024, 3, 1, tzinfo=UTC)
    assert first.url == "https://x.org/a1"
    assert dict(first.extra) == {"author": "Ada"}
    assert (second.body, second.tags, second.category, second.published_at) == ("", (), None, None)


def test_csv_quoted_newlines_keep_following_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "articles.csv",
        "id,title,body\n"  # line 1
        'a1,First,"one\ntwo\nthree"\n'  # lines 2-4
        "a2,,no title\n"  # line 5
        'a3,Third,"x\ny"\n'  # lines 6-7
        "a4,Fourth,b,extra field\n",  # line 8
    )

    problems = problems_of(path)

    assert [(line, reason) for _, line, reason in problems] == [
        (5, "missing field 'title'"),
        (8, "more fields than the header has columns"),
    ]
    assert load_corpus(path, skip_invalid=True).articles[0].body == "one\ntwo\nthree"


@pytest.mark.parametrize("missing", ["id", "title", "body"])
def test_csv_missing_required_column_is_reported_on_line_1(tmp_path: Path, missing: str) -> None:
    columns = [c for c in ("id", "title", "body") if c != missing]
    path = write(tmp_path, "articles.csv", ",".join(columns) + "\n" + ",".join(["v"] * len(columns)) + "\n")

    [(problem_path, line, reason)] = problems_of(path)

    assert (problem_path, line) == (str(path), 1)
    assert "lacks required column" in reason and missing in reason


def test_csv_invalid_utf8_is_reported_on_its_row(tmp_path: Path) -> None:
    path = write(tmp_path, "articles.csv", b"id,title,body\na1,T,B\na2,\"caf\xe9\nau lait\",B\na3,T,B\n")

    [(problem_path, line, reason)] = problems_of(path)

    assert (problem_path, line) == (str(path), 3)
    assert "invalid UTF-8" in reason
    assert [a.id for a in load_corpus(path, skip_invalid=True).articles] == ["a1", "a3"]


def test_csv_row_with_too_many_fields_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "articles.csv", "id,title,body\na1,T,B\na2,T,B,surplus\n")

    assert problems_of(path) == [(str(path), 3, "more fields than the header has columns")]


def test_csv_blank_lines_are_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "articles.csv", "id,title,body\na1,T,B\n\na2,T,B,surplus\n")

    assert problems_of(path) == [(str(path), 4, "more fields than the header has columns")]


# --- checksum -------------------------------------------------------------------------------------


def test_sha256_follows_the_file_content(tmp_path: Path) -> None:
    path = write(tmp_path, "articles.jsonl", jsonl(GOOD))
    before = load_corpus(path).sha256

    assert before == hashlib.sha256(jsonl(GOOD)).hexdigest()
    path.write_bytes(jsonl(GOOD))
    assert load_corpus(path).sha256 == before
    path.write_bytes(jsonl(GOOD, OTHER))
    assert load_corpus(path).sha256 == hashlib.sha256(jsonl(GOOD, OTHER)).hexdigest() != before
