"""Work a process must do before it exits, under any server: a plain process runs `atexit` handlers, a
server's worker started by `multiprocessing` (granian's) ends with `os._exit` after running only the
`multiprocessing` finalizers. Each callback runs once, whichever comes first."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from multiprocessing import util


def at_exit(callback: Callable[[], object]) -> None:
    """Run `callback` once when this process exits normally (SIGTERM's graceful stop included)."""
    done = threading.Event()

    def once() -> None:
        if not done.is_set():
            done.set()
            callback()

    atexit.register(once)
    util.Finalize(None, once, exitpriority=10)
