"""`trim_heap` gives a thread arena's freed pages back, even with a live block above them."""

from __future__ import annotations

import ctypes.util
import threading
from pathlib import Path

import pytest

from recommender.heap import trim_heap

BLOCK = 64 * 2**10  # below glibc's mmap threshold: served from the thread's arena
BLOCKS = 2000  # 125 MB


def _resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists() or "libc" not in (ctypes.util.find_library("c") or ""),
                    reason="glibc on Linux only")
def test_freed_arena_pages_are_returned() -> None:
    kept: list[bytearray] = []

    def allocate() -> None:  # in a thread of its own, as the counting tasks are: its own arena
        blocks = [bytearray(BLOCK) for _ in range(BLOCKS)]
        kept.append(blocks.pop())  # the last block stays: free() alone cannot shrink the arena below it
        del blocks

    worker = threading.Thread(target=allocate)
    worker.start()
    worker.join()
    freed = _resident_bytes()
    trim_heap()
    assert freed - _resident_bytes() > BLOCK * BLOCKS // 2
