"""`relatedly learn`: lists that learn from readers, handed to the running service without a retrain.

Each run reads the impressions and clicks of the last `--since` (all model versions: evidence is keyed
by article and story ids), loads the published version, re-ranks every article's candidate pool by the
model's score and the position-debiased reader evidence (`recommender.reader_evidence`), and publishes
the lists that changed (`publishing.learned`); the service applies them within a second or two. With
`--once` it runs once (cron) and exits 0 when the lists are handed over; without, it runs every
`--interval` seconds beside the service until stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import TypeVar

from publishing.learned import learn_lists, pool_size, weigh_evidence, write_learned
from recommender import artifacts
from recommender.default_lists import article_lists
from recommender.errors import ArtifactError
from recommender.heap import trim_heap
from recommender.reader_evidence import ClickTable, LearningOptions
from storage import StorageError
from storage.events import pair_position_counts
from training.database_cli import database_options, open_database
from training.events_cli import duration

log = logging.getLogger("relatedly.learn")
T = TypeVar("T", int, float)


def add_learn_command(commands: argparse._SubParsersAction, models_dir: str) -> None:
    """`relatedly learn [--once] [--interval S] [--since 28d] [--weight W]`."""
    learn = commands.add_parser("learn", parents=[database_options(models_dir)],
                                help="re-rank the default lists by reader clicks and hand them to the service")
    learn.add_argument("--once", action="store_true", help="one run, then exit (for cron)")
    learn.add_argument("--interval", type=_seconds, default=300.0, help="seconds between runs (default 300)")
    learn.add_argument("--since", type=duration, default="28d", help="events this far back: 28d, 24h (default 28d)")
    learn.add_argument("--weight", type=_weight, default=LearningOptions().weight,
                       help="how much evidence may reorder a list, 0 (model order) to 1 (default 1)")
    learn.add_argument("--limit", type=_positive_int, default=os.environ.get("RELATEDLY_DEFAULT_LIMIT") or "10",
                       help="stories in a default list (default: $RELATEDLY_DEFAULT_LIMIT or 10, as the service)")
    learn.set_defaults(handler=_learn)


def _learn(args: argparse.Namespace) -> int:
    options = LearningOptions(weight=args.weight)
    if args.once:
        learn_once(args, options)
        return 0
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    while not stop.is_set():
        started = time.monotonic()
        try:
            learn_once(args, options)
        except (ArtifactError, StorageError, OSError, ValueError) as exc:  # the next run may succeed; the lists
            # handed over last keep serving
            log.warning("learn_failed error=%s", exc)
        stop.wait(max(0.0, args.interval - (time.monotonic() - started)))
    return 0


def learn_once(args: argparse.Namespace, options: LearningOptions) -> None:
    """One run: events → evidence → learned lists for the published version → handed to the service."""
    started = time.perf_counter()
    version = artifacts.read_current(args.models_dir)
    if version is None:
        raise ArtifactError(f"no model published in {args.models_dir}: run 'relatedly train' first")
    with open_database(args) as database:
        table = ClickTable.from_rows(pair_position_counts(database, datetime.now(UTC) - args.since))
    read_seconds = time.perf_counter() - started
    # The counts are weighed and dropped before the model is loaded, so the two never share the memory.
    evidence, examination = weigh_evidence(table, options)
    del table
    trim_heap()
    model, _ = artifacts.load_version(args.models_dir, version)
    pools = article_lists(model, None, pool_size(args.limit, model.top_k))
    learned = learn_lists(version, pools, evidence, examination, options, min(args.limit, model.top_k))
    learned.stats["seconds"] = round(time.perf_counter() - started, 2)
    learned.stats["read_seconds"] = round(read_seconds, 2)
    path = write_learned(args.models_dir, learned)
    s = learned.stats
    print(f"learned lists for model {version}: {s['changed']} of {s['articles']} lists changed, "
          f"{s['with_evidence']} with evidence, {s['covered']} fully covered; {s['impressions']} impressions, "
          f"{s['clicks']} clicks; examination by position {s['examination']}; {s['seconds']} s -> {path}",
          flush=True)


def _seconds(text: str) -> float:
    return _number(text, float, lambda v: v > 0, "a positive number of seconds")


def _weight(text: str) -> float:
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a weight between 0 and 1")


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive whole number")


def _number(text: str, kind: Callable[[str], T], ok: Callable[[T], bool], what: str) -> T:
    """`text` as a number of `kind` that passes `ok`, else the argparse error naming `what` (exit code 2)."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value
