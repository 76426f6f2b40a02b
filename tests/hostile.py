"""The hostile-input corpus (issue 23), generated on demand and never committed: decompression bombs, lone
surrogates, deep nesting, bad ids and URLs, a UTF-16 export. Each `make_*` writes one file and returns it.

Bombs are gzip files of repeated members (a gzip stream may hold several, read as one): a few kilobytes of
compressed blocks inflate to gigabytes, so they cost nothing to make and everything to read naively.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.conftest import SAMPLE_CORPUS

GIB = 1024**3
_BLOCK = 16 * 1024**2
WXR_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"'
            b' xmlns:content="http://purl.org/rss/1.0/modules/content/">\n<channel>\n')
DEEP = 100_000


def gzip_bomb(path: Path, head: bytes, unit: bytes, total_bytes: int, tail: bytes = b"") -> Path:
    """`head`, then `unit` repeated to about `total_bytes`, then `tail`, gzip-compressed."""
    block = gzip.compress(unit * (_BLOCK // len(unit)), compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(head))
        for _ in range(max(1, total_bytes // _BLOCK)):
            f.write(block)
        f.write(gzip.compress(tail))
    return path


def make_jsonl_line_bomb(directory: Path) -> Path:
    """One JSON Lines row whose body inflates to 1.5 GB (the red team's 1.5 MB file)."""
    return gzip_bomb(directory / "line-bomb.jsonl.gz", b'{"id": "bomb", "title": "t", "body": "', b"a",
                     3 * GIB // 2, b'"}\n')


def make_json_whitespace_bomb(directory: Path) -> Path:
    """A REST dump: `[`, 1.5 GB of whitespace, `]`."""
    return gzip_bomb(directory / "whitespace.json.gz", b"[", b" ", 3 * GIB // 2, b"]")


def make_jsonl_newline_bomb(directory: Path) -> Path:
    """1.5 GB of empty lines."""
    return gzip_bomb(directory / "newlines.jsonl.gz", b"", b"\n", 3 * GIB // 2)


def make_xml_bomb(directory: Path) -> Path:
    """A WXR item that never ends: 1.5 GB of small elements (each fine, together a tree no memory holds)."""
    return gzip_bomb(directory / "bomb.xml.gz", WXR_HEAD + b"<item><title>t</title>",
                     b"<wp:postmeta><wp:meta_key>k</wp:meta_key></wp:postmeta>\n", 3 * GIB // 2,
                     b"</item></channel></rss>\n")


def make_csv_line_bomb(directory: Path) -> Path:
    """A CSV row whose quoted body runs to 1.5 GB without a line break."""
    return gzip_bomb(directory / "line-bomb.csv.gz", b'id,title,body\n1,t,"', b"a", 3 * GIB // 2, b'"\n')


def make_ghost_whitespace_bomb(directory: Path) -> Path:
    """A Ghost export: `{"db": `, 1.5 GB of whitespace, then the rest."""
    return gzip_bomb(directory / "ghost.json.gz", b'{"db": ', b" \n", 3 * GIB // 2, b"[]}")


def make_rss_bomb(directory: Path) -> Path:
    """An RSS feed whose first item never ends."""
    return gzip_bomb(directory / "feed.xml.gz", b'<?xml version="1.0"?>\n<rss version="2.0"><channel><item>',
                     b"<category>c</category>\n", 3 * GIB // 2, b"</item></channel></rss>\n")


def make_atom_bomb(directory: Path) -> Path:
    """An Atom feed with 1.5 GB of elements before its first entry."""
    return gzip_bomb(directory / "atom.xml.gz", b'<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
                     b"<link href='x'/>\n", 3 * GIB // 2, b"</feed>\n")


def make_rest_with(directory: Path, name: str, post: str) -> Path:
    """A REST dump page: one good post, then `post` (a JSON text) on line 3."""
    good = json.dumps({"id": 1, "type": "post", "status": "publish", "title": {"rendered": "A title"},
                       "content": {"rendered": "<p>Some words.</p>"}, "link": "https://example.com/1"})
    path = directory / name
    path.write_text(f"[\n{good},\n{post}\n]\n", encoding="utf-8")
    return path


REST_SURROGATE = ('{"id": 2, "type": "post", "status": "publish", "title": {"rendered": "bad \\ud800"},'
                  ' "content": {"rendered": "b"}}')
REST_DEEP = '{"id": 3, "meta": ' + "[" * DEEP + "]" * DEEP + "}"


def make_xml_deep(directory: Path) -> Path:
    path = directory / "deep.xml"
    path.write_bytes(WXR_HEAD + b"<item>" + b"<a>" * DEEP + b"</a>" * DEEP + b"</item></channel></rss>\n")
    return path


def sample_lines(count: int = 40) -> list[str]:
    return SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines()[:count]


def make_jsonl_with(directory: Path, name: str, bad_lines: list[str]) -> Path:
    """The sample corpus's first 40 rows, then `bad_lines` (so the bad ones are lines 41, 42, …)."""
    path = directory / name
    path.write_text("\n".join(sample_lines() + bad_lines) + "\n", encoding="utf-8")
    return path


def row(article_id: str, **fields: object) -> str:
    return json.dumps({"id": article_id, "title": "A title", "body": "Some words of a body.", **fields})


SURROGATE_ROW = '{"id": "lone", "title": "bad \\ud800 title", "body": "b"}'  # valid JSON, not valid text
DEEP_ROW = '{"id": "deep", "title": "t", "body": "b", "meta": ' + "[" * DEEP + "]" * DEEP + "}"
BAD_IDS = ["/lead", "a\nb", "a/b/related", "x" * 9000, "a/../b"]
BAD_URLS = ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "https\uff1a//example.com/a",
            "/relative/path", "https://exa mple.com/"]


def make_surrogate(directory: Path) -> Path:
    return make_jsonl_with(directory, "surrogate.jsonl", [SURROGATE_ROW])


def make_deep_row(directory: Path) -> Path:
    return make_jsonl_with(directory, "deep.jsonl", [DEEP_ROW])


def make_bad_ids(directory: Path) -> Path:
    return make_jsonl_with(directory, "ids.jsonl", [row(article_id) for article_id in BAD_IDS]
                           + [row("cafe\u0301-nfd"), row("caf\u00e9-nfd")])  # NFD and NFC: one id, a duplicate


def make_bad_urls(directory: Path) -> Path:
    return make_jsonl_with(directory, "urls.jsonl", [row(f"url-{n}", url=url, image=url)
                                                     for n, url in enumerate(BAD_URLS)])


def make_utf16_jsonl(directory: Path) -> Path:
    path = directory / "utf16.jsonl"
    path.write_text("\n".join(sample_lines()) + "\n", encoding="utf-16")
    return path


def make_utf16_wxr(directory: Path, utf8_wxr: Path) -> Path:
    path = directory / "utf16-wxr.xml"
    text = utf8_wxr.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    path.write_text(text, encoding="utf-16")
    return path
