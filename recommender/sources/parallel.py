"""Cleaning a streamed export on several processes, in order, with a bounded number of items in flight.

HTML cleaning is most of an import's CPU time (about 0.5 ms a post); the readers and validation stay
in the calling process. Items travel in batches, and at most `2 × jobs` batches are out at a time, so
memory stays bounded however long the export is, and the items come back in the order they went.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
BATCH_ITEMS = 256
INLINE_BATCHES = 8  # the first 2,048 items are cleaned inline: a small export never starts processes


def effective_jobs(jobs: int) -> int:
    """`jobs` processes, `-1` for one per core."""
    return max(1, os.cpu_count() or 1) if jobs < 0 else max(1, jobs)


def map_in_order(func: Callable[[list[T]], list[T]], items: Iterable[T], jobs: int) -> Iterator[T]:
    """`func` over batches of `items` on `jobs` processes (inline for one), results in input order.

    `func` must be a module-level function or a partial of one (it is sent to the workers by name).
    """
    batches = _batches(items)
    jobs = effective_jobs(jobs)
    for batch in batches if jobs == 1 else islice(batches, INLINE_BATCHES):
        yield from func(batch)
    first = next(batches, None)
    if first is None:
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending: deque[Future[list[T]]] = deque([pool.submit(func, first)])
        for batch in batches:
            pending.append(pool.submit(func, batch))
            if len(pending) >= 2 * jobs:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH_ITEMS)):
        yield batch
