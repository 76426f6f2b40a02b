"""`relatedly sync URL`: follow a WordPress site, a Ghost site or a feed and keep the served model current.

Runs until SIGTERM/SIGINT, polling every `--interval` seconds, or polls once with `--once` (for cron:
exit code 0 when the poll succeeded, 1 when the site could not be read, the model untouched). Each poll's
counters are kept in the database and, with `--metrics-file`, written as a Prometheus textfile (for
node_exporter's textfile collector) after every poll, failed or not.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile

from recommender.errors import RelatedlyError
from storage import Database, StorageError
from storage.sync_state import SourceState, load_source, record_failure
from training.arguments import positive_float, positive_int
from training.database_cli import database_options, open_database
from training.sync.http import Fetcher, FetchError, HttpLimits, StopRequested
from training.sync.job import PollReport, SyncOptions, sync_once
from training.sync.sites import KINDS, Site, open_site

log = logging.getLogger("relatedly.sync")
EXIT_OK, EXIT_FAILURE = 0, 1
DEFAULT_INTERVAL_SECONDS = 60.0
POLL_ERRORS = (RelatedlyError, StorageError, OSError)  # a failed poll; StopRequested is caught before


def add_sync_command(commands: Any, models_dir: str, redis_url: str | None, keep_versions: int) -> None:
    """Register `relatedly sync` on the CLI's subcommands."""
    sync = commands.add_parser("sync", parents=[database_options(models_dir)],
                               help="follow a WordPress/Ghost site or a feed and publish its changes")
    sync.add_argument("url", help="the site (WordPress, Ghost) or the feed's address")
    sync.add_argument("--kind", choices=KINDS, default="auto",
                      help="what the URL is; auto: WordPress by its REST API link, a feed by its XML, Ghost by a key")
    sync.add_argument("--ghost-key", default=os.environ.get("RELATEDLY_GHOST_KEY") or None,
                      help="Ghost's Content API key (default: $RELATEDLY_GHOST_KEY)")
    when = sync.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="poll once and exit (for cron)")
    when.add_argument("--interval", type=positive_float, default=DEFAULT_INTERVAL_SECONDS,
                      help=f"seconds between polls (default {DEFAULT_INTERVAL_SECONDS:g})")
    sync.add_argument("--since", type=_utc_time, help="first poll only: skip changes before this date (the date of "
                      "the export the model was trained on), e.g. 2026-12-01T00:00:00Z")
    sync.add_argument("--max-posts", type=positive_int, default=SyncOptions.max_posts,
                      help="changed posts one poll takes on; more continue at the next poll")
    sync.add_argument("--timeout", type=positive_float, default=HttpLimits.timeout_seconds,
                      help="seconds a request may take")
    sync.add_argument("--max-response-mb", type=positive_int, default=HttpLimits.max_bytes // 2**20,
                      help="largest response accepted")
    sync.add_argument("--retries", type=int, default=HttpLimits.retries,
                      help="retries of a failed request, with back-off 1 s, 2 s, 4 s, …")
    sync.add_argument("--metrics-file", help="write the job's counters here as a Prometheus textfile")
    sync.add_argument("--redis-url", default=redis_url, help="announce new models (default: $RELATEDLY_REDIS_URL)")
    sync.add_argument("--keep-versions", type=positive_int, default=keep_versions)
    sync.add_argument("--jobs", type=int, default=-1, help="processes cleaning HTML of large polls (-1: all cores)")
    sync.set_defaults(handler=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    """Handler of `relatedly sync`: one poll, or polls until stopped."""
    database = open_database(args)
    options = SyncOptions(models_dir=args.models_dir, keep_versions=args.keep_versions, max_posts=args.max_posts,
                          since=args.since, redis_url=args.redis_url, jobs=args.jobs)
    limits = HttpLimits(timeout_seconds=args.timeout, max_bytes=args.max_response_mb * 2**20,
                        retries=max(0, args.retries))
    with _stop_on_signals() as stop:
        fetcher = Fetcher(limits, stop)
        try:
            if args.once:
                return _poll_once(args, database, fetcher, options)
            _poll_until_stopped(args, database, fetcher, options, stop)
            return EXIT_OK
        finally:
            database.dispose()


def _poll_once(args: argparse.Namespace, database: Database, fetcher: Fetcher, options: SyncOptions) -> int:
    try:
        report = _poll(args, database, fetcher, options, None)[1]
    except StopRequested:
        print("stopped before the poll finished; nothing was applied")
        return EXIT_OK
    except POLL_ERRORS as exc:
        print(f"error: sync of {args.url} failed, the served model is unchanged: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        _write_metrics(args, database)
    _print_report(args.url, report)
    return EXIT_OK


def _poll_until_stopped(args: argparse.Namespace, database: Database, fetcher: Fetcher, options: SyncOptions,
                        stop: threading.Event) -> None:
    log.info("sync_started url=%s interval_seconds=%g", args.url, args.interval)
    site: Site | None = None
    while not stop.is_set():
        try:
            site, report = _poll(args, database, fetcher, options, site)
            _print_report(args.url, report)
        except StopRequested:
            break
        except POLL_ERRORS:
            pass  # logged with its reason; the next poll tries again
        _write_metrics(args, database)
        stop.wait(args.interval)
    log.info("sync_stopped url=%s", args.url)


def _poll(args: argparse.Namespace, database: Database, fetcher: Fetcher, options: SyncOptions,
          site: Site | None) -> tuple[Site, PollReport]:
    """One poll; the site is recognised on the first (a failure to reach it counts as a failed poll)."""
    if site is None:
        try:
            site = open_site(args.url, fetcher, kind=args.kind, ghost_key=args.ghost_key)
        except FetchError as exc:
            record_failure(database, load_source(database, args.url), str(exc))
            log.error("sync_failed source=%s error=%r (the served model is unchanged)", args.url, str(exc))
            raise
    return site, sync_once(site, database, options)


def _print_report(url: str, report: PollReport) -> None:
    counts = (f"{report.fetched} fetched, {len(report.upserted)} added or edited, {len(report.withdrawn)} withdrawn,"
              f" {report.unchanged} unchanged, {len(report.refused)} refused as taken down")
    if report.version:
        print(f"synced {url}: {counts}; published version {report.version} (was {report.previous});"
              f" {report.requests} requests, {report.seconds:.1f} s")
    else:
        print(f"synced {url}: {counts}; nothing to publish (model {report.previous});"
              f" {report.requests} requests, {report.seconds:.1f} s")
    if report.refused:
        print(f"refused (taken down by 'relatedly remove'; only a full 'relatedly train' brings them back): "
              f"{', '.join(report.refused)}")
    if not report.complete:
        print("note: more changes than --max-posts; the next poll continues with the older ones")
    if report.retrain_recommended:
        print("note: a full 'relatedly train' is recommended (many articles added since the last fit)")


def _write_metrics(args: argparse.Namespace, database: Database) -> None:
    """The source's counters as a Prometheus textfile, replaced atomically; never fails the job."""
    if not args.metrics_file:
        return
    try:
        state = load_source(database, args.url)
        write_to_textfile(args.metrics_file, _registry(state))
    except (OSError, StorageError) as exc:
        log.warning("sync_metrics_not_written path=%s error=%s", args.metrics_file, exc)


def _registry(state: SourceState) -> CollectorRegistry:
    registry = CollectorRegistry()
    labels = {"source": state.source}
    for name, doc, value in (
        ("relatedly_sync_polls", "Polls of the site, failed or not", state.polls),
        ("relatedly_sync_failures", "Polls that failed (site down, slow, garbage); the model was untouched",
         state.failures),
        ("relatedly_sync_posts_upserted", "Posts added or edited in the model", state.posts_upserted),
        ("relatedly_sync_posts_withdrawn", "Posts withdrawn because the site stopped listing them",
         state.posts_withdrawn),
    ):
        Counter(name, doc, ["source"], registry=registry).labels(**labels).inc(value)
    for name, doc, value in (
        ("relatedly_sync_consecutive_failures", "Failed polls since the last success", state.consecutive_failures),
        ("relatedly_sync_last_success_timestamp_seconds", "When a poll last succeeded (Unix time, 0 = never)",
         state.last_success_at.timestamp() if state.last_success_at else 0),
        ("relatedly_sync_retrain_recommended", "1 when a full 'relatedly train' is recommended",
         int(state.retrain_recommended)),
    ):
        Gauge(name, doc, ["source"], registry=registry).labels(**labels).set(value)
    return registry


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (the previous handlers are restored afterwards)."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("sync_stop_requested signal=%s", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _utc_time(text: str) -> str:
    """An ISO 8601 date or time as the state's UTC `YYYY-MM-DDTHH:MM:SS` (no zone: UTC)."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date, e.g. 2026-12-01T00:00:00Z") from None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")
