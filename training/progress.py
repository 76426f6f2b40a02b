"""Progress for long jobs: a bar on a terminal, a log line per tenth of the work otherwise (cron, CI)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from tqdm import tqdm

from recommender.neighbors import ProgressCallback

log = logging.getLogger("relatedly.progress")


def progress_factory() -> Callable[[str], ProgressCallback]:
    """Makes one progress callback per named stage."""
    interactive = sys.stderr.isatty()

    def factory(stage: str) -> ProgressCallback:
        bar: tqdm | None = None
        last_tenth = -1

        def report(done: int, total: int) -> None:
            nonlocal bar, last_tenth
            if interactive:
                if bar is None:
                    bar = tqdm(total=total, desc=stage, unit="rows", file=sys.stderr)
                bar.update(done - bar.n)
                if done >= total:
                    bar.close()
                return
            tenth = done * 10 // max(total, 1)
            if tenth > last_tenth:
                last_tenth = tenth
                log.info("progress stage=%s done=%d total=%d", stage, done, total)

        return report

    return factory
