"""gunicorn settings for `relatedly serve` (loaded as `python:service.gunicorn_conf`).

Everything comes from the same environment variables as the app (see service/config.py).
"""

import glob
import os

from prometheus_client import multiprocess

from service import keepalive_worker, prompt_close, single_write
from service.config import Settings

_settings = Settings.from_env()  # invalid configuration stops gunicorn before any worker starts

# A finished connection is closed at once, not after the client's own close (see service/prompt_close.py),
# and a small answer's headers and body go out in one write (service/single_write.py).
prompt_close.install()
single_write.install()

# Where to listen: PORT is what most platforms set.
bind = f"{_settings.host}:{_settings.port}"

# Workers are processes (WEB_CONCURRENCY): one per core suits this CPU-bound, read-only workload.
workers = _settings.workers

# RELATEDLY_THREADS=1 (default): one-thread workers that keep connections alive and take new ones only
# while they hold no more than every other worker (service/keepalive_worker.py; gthread's p99 was 10–41 ms
# against 5–9 ms for sync workers in the 2026-12-02 runs, docs/performance.md). More threads switch to
# gthread, for slow clients without a proxy in front.
threads = _settings.threads
worker_class = "gthread" if threads > 1 else "service.keepalive_worker.BalancedKeepAliveWorker"

# No preload: each worker builds the app itself, so it loads the model before it accepts a request
# and starts its own reload watcher thread (threads do not survive fork).
preload_app = False

# Request lines up to gunicorn's maximum (8 KB, not its 4 KB default): an `exclude` list of many ids or a
# 512-character id in a query string must reach the app, which answers it in JSON, never gunicorn's 414 page.
limit_request_line = 8190

# SIGTERM drains in-flight requests for up to graceful_timeout seconds before workers exit.
graceful_timeout = 20
timeout = 30
keepalive = 5

# The app writes one JSON line per request itself; gunicorn's own messages go to stderr.
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()


def on_starting(server) -> None:
    """Start every run with empty multi-process metric files (stale ones would add old counts)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)


def pre_fork(server, worker) -> None:
    """A slot on the shared board of open connections, so keep-alive connections spread evenly."""
    keepalive_worker.claim_slot(server, worker)


def post_fork(server, worker) -> None:
    """One BLAS thread per worker: workers already use every core, extra threads only contend."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from /metrics and free its slot on the connection board."""
    keepalive_worker.release_slot(worker)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
