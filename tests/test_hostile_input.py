"""Every reader is run against the hostile-input corpus (tests/hostile.py) through the CLI, in a process of
its own whose peak memory is measured (`resource.getrusage` of a launcher's child): each case ends with a
clear error (exit 2, file:line) or a clean skip, in at most 60 s and 1 GB."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from recommender.corpus import load_corpus
from recommender.errors import CorpusError
from tests import hostile
from tests.conftest import RELATEDLY, ROOT

FIXTURES = ROOT / "tests" / "recommender" / "fixtures" / "exports"
MAX_SECONDS = 60
MAX_RSS_BYTES = 1024**3


# Runs a command and reports its peak RSS. A process's ru_maxrss keeps the high-water mark of the memory it
# had before exec, which for a child forked by a big pytest is pytest's own size; a child of this small
# launcher starts from the launcher's few megabytes, so its figure is its own.
LAUNCHER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]);"
            " print(f'peak_rss_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr);"
            " sys.exit(code)")


def train(corpus: Path, models_dir: Path, *flags: str) -> tuple[int, str, float, int]:
    """`relatedly train` on the corpus: exit code, stderr, seconds, and the process's peak RSS in bytes."""
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", LAUNCHER, RELATEDLY, "train", "--corpus", str(corpus),
                          "--models-dir", str(models_dir), *flags],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
    message, _, peak = run.stderr.rpartition("peak_rss_kb=")
    return run.returncode, message, time.monotonic() - started, int(peak) * 1024


BOMBS: list[tuple[Callable[[Path], Path], str]] = [
    (hostile.make_jsonl_line_bomb, r"line-bomb\.jsonl\.gz:1: refused: the line is longer than"),
    (hostile.make_json_whitespace_bomb, r"whitespace\.json\.gz:1: refused: a JSON export file may hold at most"),
    (hostile.make_jsonl_newline_bomb, r"newlines\.jsonl\.gz:\d+: refused: more than 33,554,432 bytes of blank"),
    (hostile.make_xml_bomb, r"bomb\.xml\.gz:\d+: refused: an item runs over"),
    (hostile.make_csv_line_bomb, r"line-bomb\.csv\.gz:2: refused: the line is longer than"),
    (hostile.make_ghost_whitespace_bomb, r"ghost\.json\.gz:1: refused: a JSON export file may hold at most"),
    (hostile.make_rss_bomb, r"feed\.xml\.gz:\d+: refused: an item runs over"),
    (hostile.make_atom_bomb, r"atom\.xml\.gz:\d+: refused: an item runs over"),
    (hostile.make_xml_deep, r"deep\.xml:\d+: malformed XML: .*[Dd]epth"),
    (hostile.make_surrogate, r"surrogate\.jsonl:41: field 'title' holds a lone surrogate \(U\+D800\)"),
    (hostile.make_deep_row, r"deep\.jsonl:41: refused: JSON nested deeper than 64 levels"),
    (hostile.make_utf16_jsonl, r"utf16\.jsonl:1: unsupported encoding UTF-16"),
]


@pytest.mark.parametrize(("make", "expected"), BOMBS, ids=[make.__name__.removeprefix("make_") for make, _ in BOMBS])
def test_hostile_files_are_refused_quickly_in_bounded_memory(make, expected, tmp_path: Path) -> None:
    corpus = make(tmp_path)
    code, message, seconds, peak_rss = train(corpus, tmp_path / "models")
    print(f"{corpus.name}: exit {code} in {seconds:.1f} s, peak RSS {peak_rss / 1024**2:.0f} MB")
    assert code == 2, message
    assert re.search(expected, message), message
    assert "Traceback" not in message and "unexpected" not in message
    assert seconds <= MAX_SECONDS and peak_rss <= MAX_RSS_BYTES, (seconds, peak_rss)


def test_a_row_with_a_lone_surrogate_or_deep_nesting_is_skippable(tmp_path: Path) -> None:
    corpus = hostile.make_jsonl_with(tmp_path, "both.jsonl", [hostile.SURROGATE_ROW, hostile.DEEP_ROW])
    code, message, _, _ = train(corpus, tmp_path / "models", "--skip-invalid")
    assert code == 0, message
    loaded = load_corpus(corpus, skip_invalid=True)
    assert [p.line for p in loaded.problems] == [41, 42] and len(loaded.articles) == 40


def test_rest_dumps_report_surrogates_and_deep_nesting_by_line(tmp_path: Path) -> None:
    loaded = load_corpus(hostile.make_rest_with(tmp_path, "surrogate.json", hostile.REST_SURROGATE),
                         skip_invalid=True)
    assert [(p.line, "lone surrogate" in p.reason) for p in loaded.problems] == [(3, True)]
    assert [a.id for a in loaded.articles] == ["1"]
    with pytest.raises(CorpusError, match=r"deep\.json:3: refused: JSON nested deeper"):
        load_corpus(hostile.make_rest_with(tmp_path, "deep.json", hostile.REST_DEEP))


def test_one_id_rule_at_ingest(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as caught:
        load_corpus(hostile.make_bad_ids(tmp_path))
    problems = {p.line: p.reason for p in caught.value.problems}
    assert "may not start with '/'" in problems[41]
    assert "U+000A" in problems[42]
    assert "may not end in '/related'" in problems[43]
    assert "9,000" not in problems[44] and "at most 512" in problems[44]
    assert "'.' or '..' segment" in problems[45]
    assert "duplicate id 'café-nfd'" in problems[47]  # NFD line 46 and NFC line 47: one id
    assert len(problems) == 6


def test_urls_that_are_not_http_are_dropped_with_a_note(tmp_path: Path) -> None:
    corpus = load_corpus(hostile.make_bad_urls(tmp_path))
    dropped = {a.id: (a.url, a.image) for a in corpus.articles if a.id.startswith("url-")}
    assert dropped == {f"url-{n}": (None, None) for n in range(len(hostile.BAD_URLS))}
    assert sum("dropped: only absolute http and https URLs are kept" in note for note in corpus.notes) == 10
    assert any("javascript:alert(1)" in note for note in corpus.notes)


def test_a_utf16_wxr_is_read_by_its_byte_order_mark(tmp_path: Path) -> None:
    utf8 = load_corpus(FIXTURES / "wxr-part1.xml", skip_invalid=True)
    utf16 = load_corpus(hostile.make_utf16_wxr(tmp_path, FIXTURES / "wxr-part1.xml"), skip_invalid=True)
    assert [(a.id, a.title) for a in utf16.articles] == [(a.id, a.title) for a in utf8.articles]
