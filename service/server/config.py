"""The HTTP server `relatedly serve` runs: granian (Rust), configured here and nowhere else.

Everything comes from the same settings as the app (`service.config.Settings`, the environment), so an
invalid configuration stops the command before any worker starts. granian parses HTTP and holds slow
connections in its async Rust runtime; the app runs behind its RSGI interface (service/server/rsgi.py),
which reads each body on the event loop, so a request reaches Python only once its headers and body
have fully arrived: clients that trickle bytes cannot occupy the workers.
"""

from __future__ import annotations

import glob
import os

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes
from granian.http import HTTP1Settings
from granian.log import LogLevels

from service.config import Settings

APP_TARGET = "service.server.wsgi:rsgi_app"

# A client has this long to send its request line and headers; then granian closes the connection.
HEADER_READ_TIMEOUT_MS = 10_000

# SIGTERM: workers stop accepting, finish what they hold and flush queued events; one that has not
# exited after this many seconds is killed.
GRACEFUL_TIMEOUT_SECONDS = 20


def build_server(settings: Settings) -> Granian:
    """The granian server for `settings`; `.serve()` runs it until SIGTERM/SIGINT."""
    return Granian(
        APP_TARGET,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.RSGI,
        # Worker processes (WEB_CONCURRENCY): one per core suits this CPU-bound, read-only workload; each
        # loads the model itself before it serves and runs its own reload watcher.
        workers=settings.workers,
        # One Rust I/O thread per worker, on the worker's own event loop: the cores go to the workers.
        runtime_mode=RuntimeModes.st,
        # uvloop, named rather than "auto" (which takes whichever loop happens to be installed): 8-15 % more
        # default GETs per second than asyncio here (docs/performance.md, event-loop A/B).
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        # A worker that dies (out of memory, a crash in a native library) is started again.
        respawn_failed_workers=True,
        workers_kill_timeout=GRACEFUL_TIMEOUT_SECONDS,
        # The app writes one JSON line per request itself; granian's own messages stay on.
        log_access=False,
        log_level=LogLevels(settings.log_level.lower()),
    )


def reset_metric_files() -> None:
    """Start every run with empty multi-process metric files (stale ones would add old counts)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)
