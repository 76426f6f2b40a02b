"""Prometheus metric definitions, safe under several server workers.

With `PROMETHEUS_MULTIPROC_DIR` set (`relatedly serve` sets it), every worker writes its samples to
files there and `/metrics` (service/api/health.py) aggregates all workers; without it (tests, `flask run`)
the process's own registry is served.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # metrics below write their files there at definition
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.server.exit import at_exit  # noqa: E402

REQUESTS = Counter(
    "relatedly_http_requests_total", "HTTP requests by endpoint, method and status", ["endpoint", "method", "status"]
)
LATENCY = Histogram(
    "relatedly_http_request_duration_seconds",
    "Request latency by endpoint",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CACHE = Counter("relatedly_cache_requests_total", "Cache lookups and failures", ["result"])  # hit, miss, error
LISTS = Counter(
    "relatedly_related_lists_total", "Related lists served, by whether they were shorter than asked", ["short"]
)
RELOADS = Counter("relatedly_model_reloads_total", "Model loads by result", ["result"])  # success, failure
MODEL_ARTICLES = Gauge("relatedly_model_articles", "Articles in the served model", multiprocess_mode="liveall")
MODEL_CREATED = Gauge(
    "relatedly_model_created_timestamp_seconds", "When the served model was trained", multiprocess_mode="liveall"
)
MODEL_LOADED = Gauge(
    "relatedly_model_loaded_timestamp_seconds", "When this worker loaded its model", multiprocess_mode="liveall"
)
MODEL_INFO = Gauge(
    "relatedly_model_info", "1 for the model version each worker serves", ["version"], multiprocess_mode="liveall"
)
MODEL_AGE = Gauge("relatedly_model_age_seconds", "Age of the served model at scrape time", multiprocess_mode="liveall")
EVENTS = Counter(  # accepted, invalid, rate_limited (events); written, failed, spooled, dropped (rows)
    "relatedly_events_total", "Reader events (impressions, clicks) by what became of them", ["result"]
)
EVENTS_BACKLOG = Gauge(
    "relatedly_events_backlog_rows", "Event rows acknowledged but not yet in the database (queued or spooled)",
    multiprocess_mode="livesum",
)
LEARNED_LISTS = Gauge("relatedly_learned_lists", "Default lists reordered by reader evidence in the applied learn run",
                      multiprocess_mode="liveall")
LEARN_LAST_RUN = Gauge("relatedly_learn_last_run_timestamp_seconds", "When the applied learn run was computed",
                       multiprocess_mode="liveall")
EVIDENCE_COVERAGE = Gauge("relatedly_evidence_coverage_ratio",
                          "Share of default lists whose every story has enough impressions to be judged",
                          multiprocess_mode="liveall")


def learned_lists_applied(changed: int, stats: dict[str, Any]) -> None:
    """Record the learn run a worker applied (called by `service.models.learned`)."""
    LEARNED_LISTS.set(changed)
    computed_at = stats.get("computed_at")
    if computed_at:
        LEARN_LAST_RUN.set(datetime.fromisoformat(computed_at).timestamp())
    EVIDENCE_COVERAGE.set(stats.get("covered", 0) / stats["articles"] if stats.get("articles") else 0.0)


def model_swapped(previous: str | None, version: str, n_articles: int, created_at: float) -> None:
    """Record a model swap (called by the model store)."""
    if previous:
        MODEL_INFO.labels(version=previous).set(0)  # multiprocess files cannot forget a series; 0 = retired
    MODEL_INFO.labels(version=version).set(1)
    MODEL_ARTICLES.set(n_articles)
    MODEL_CREATED.set(created_at)
    MODEL_LOADED.set(time.time())


def exposition() -> tuple[bytes, str]:
    """The scrape body and its content type, aggregated over workers when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def retire_at_exit() -> None:
    """Drop this worker's live gauges from the shared metric files when it exits (multi-process only)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        pid = os.getpid()
        at_exit(lambda: multiprocess.mark_process_dead(pid))
