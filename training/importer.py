"""`relatedly import`: read exports as `train` would and write the normalised corpus as JSON Lines.

A publisher can inspect exactly what Relatedly read from a WordPress, REST, feed or Ghost export
(the cleaned text, the terms, the image) and what it left out, before training on it. The corpus
options shared by `train`, `update`, `evaluate` and `import` are declared here once.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from recommender.corpus import Article, Corpus, describe_excluded, load_corpus
from recommender.sources import DEFAULT_POST_TYPES, DEFAULT_STATUSES, ReaderOptions
from recommender.sources.html import BODY_FORMATS


def add_corpus_arguments(parser: argparse.ArgumentParser, help_text: str, *, positional: bool = False) -> None:
    """`--corpus PATH [PATH …]` (or positional paths) and the options that say how exports are read."""
    names, required = (["corpus"], {}) if positional else (["--corpus"], {"required": True})
    parser.add_argument(*names, **required, nargs="+", metavar="PATH",
                        help=f"{help_text}: JSON Lines, CSV, WordPress WXR (.xml, .xml.gz) or REST dump, RSS/Atom,"
                             " Ghost JSON; several files of one export (split WXR parts, REST pages) may be given")
    parser.add_argument("--body-format", choices=BODY_FORMATS, default="auto",
                        help="HTML cleaning: auto = exports always, JSON Lines/CSV fields that contain markup")
    parser.add_argument("--post-types", type=_names, default=DEFAULT_POST_TYPES, metavar="TYPE,…",
                        help=f"export item types to import (default: {','.join(DEFAULT_POST_TYPES)})")
    parser.add_argument("--statuses", type=_names, default=DEFAULT_STATUSES, metavar="STATUS,…",
                        help=f"publication statuses to import (default: {','.join(DEFAULT_STATUSES)})")
    parser.add_argument("--site-url", help="the site's address, for Ghost's __GHOST_URL__ placeholders")


def reader_options(args: argparse.Namespace) -> ReaderOptions:
    """The reader options the corpus arguments ask for."""
    return ReaderOptions(post_types=args.post_types, statuses=args.statuses, site_url=args.site_url)


def load_from_args(args: argparse.Namespace) -> Corpus:
    """The corpus the arguments name, read with their options."""
    return load_corpus(args.corpus, skip_invalid=args.skip_invalid, body_format=args.body_format,
                       options=reader_options(args), jobs=getattr(args, "jobs", -1))


def corpus_summary(excluded: dict[str, int], notes: list[str]) -> list[str]:
    """Lines for a command's summary: the items left out by reason, then the notes."""
    lines = [f"left out: {describe_excluded(excluded)}"] if excluded else []
    return lines + [f"note: {note}" for note in notes]


def add_import_command(commands: Any) -> None:
    """Register `relatedly import` on the CLI's subcommands."""
    command = commands.add_parser("import", help="read exports and write the normalised corpus (JSON Lines)")
    add_corpus_arguments(command, "exports to read", positional=True)
    command.add_argument("--out", required=True, help="JSON Lines file to write (replaced atomically)")
    command.add_argument("--skip-invalid", action="store_true", help="write the valid items, report the rest")
    command.add_argument("--jobs", type=int, default=-1, help="processes cleaning HTML (-1: all cores)")
    command.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Handler of `relatedly import`; exit code 0 (errors are raised for the CLI to map)."""
    corpus = load_from_args(args)
    write_jsonl(corpus.articles, args.out)
    print(f"imported {len(corpus.articles)} articles ({corpus.skipped} invalid skipped) from {corpus.path}"
          f" into {args.out}")
    for problem in corpus.problems[:20]:
        print(f"skipped: {problem}")
    for line in corpus_summary(corpus.excluded, corpus.notes):
        print(line)
    return 0


def article_record(article: Article) -> dict[str, Any]:
    """An article as a JSON Lines record `load_corpus` reads back to the same article."""
    record: dict[str, Any] = {"id": article.id, "title": article.title, "body": article.body}
    if article.tags:
        record["tags"] = list(article.tags)
    for name in ("category", "url", "image"):
        if getattr(article, name) is not None:
            record[name] = getattr(article, name)
    if article.published_at is not None:
        record["published_at"] = article.published_at.isoformat().replace("+00:00", "Z")
    return {**record, **{k: v for k, v in article.extra.items() if k not in record}}


def write_jsonl(articles: list[Article], out: str | Path) -> None:
    """Write the records to a temp file beside `out`, then replace it: never a half-written corpus."""
    out = Path(out)
    fd, tmp = tempfile.mkstemp(dir=out.parent if str(out.parent) else ".", prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for article in articles:
                f.write(json.dumps(article_record(article), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list of names")
    return names
