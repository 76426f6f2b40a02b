"""`EventSpool`: acknowledged events the database would not take, kept on local disk until it does.

A spool is a directory of JSON Lines files, one row per line, appended in batches and fsync'd once per
batch. Each process appends to a file of its own and holds an exclusive `flock` on it for as long as it
lives, so a file nobody holds belongs to a process that has exited (gracefully or killed): any process
of the same database may take it over and replay it. A file is created under a temporary name, locked,
then renamed, so another process never sees an unlocked file that is still in use. Replaying writes a
file's rows to the database in batches; if the database fails half-way, the rows not yet written are
kept in a new file (also locked) that replaces the old one, so a row is written at most once unless the
process dies between a commit and that rewrite (then it may be written twice, never lost). The
directory is bounded (`max_bytes`); rows beyond it are refused, and the caller counts them as dropped.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from storage.events import EventRow

SUFFIX = ".jsonl"


@dataclass
class _File:
    """An open, locked spool file and its path."""

    path: str
    handle: IO[bytes]


class EventSpool:
    """The spool files of one database under `directory`; `append` is this process's, `replay` takes any."""

    def __init__(self, directory: str | Path, *, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._own: _File | None = None  # this process's append file (locked while open)
        self._own_pid: int | None = None
        self._held: list[_File] = []  # files this process has sealed or taken over, locked, to replay
        self.rows = 0  # rows waiting in the files this process appended to or took over
        self.unreadable_rows = 0  # lines that could not be decoded (a kill mid-write), skipped

    def append(self, rows: Sequence[EventRow]) -> int:
        """Append rows durably (one fsync); the number taken, fewer than given when the spool is full."""
        data = [_encode(row) for row in rows]
        room = self.max_bytes - self.size_bytes()
        taken = 0
        while taken < len(data) and room >= len(data[taken]):
            room -= len(data[taken])
            taken += 1
        if taken:
            handle = self._own_file().handle
            handle.write(b"".join(data[:taken]))
            handle.flush()
            os.fsync(handle.fileno())
            self.rows += taken
        return taken

    def size_bytes(self) -> int:
        """Bytes of every spool file of this database (this process's and others')."""
        total = 0
        for path in self._paths():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def has_files(self) -> bool:
        """Whether any spool file exists (cheap: a start-up check)."""
        return any(True for _ in self._paths())

    def replay(self, write: Callable[[list[EventRow]], None], batch_rows: int) -> int:
        """Write every spooled row this process can take (its own, and files no live process holds) with
        `write`, deleting each file once written; returns the rows written. `write`'s exception propagates
        after the rows it did not take are kept."""
        self._seal_own()
        self._take_orphans()
        written = 0
        while self._held:
            file = self._held[0]
            offset = 0
            for end, batch in self._batches(file.handle, batch_rows):
                try:
                    write(batch)
                except Exception:
                    self._held[0] = self._keep_rest(file, offset)
                    raise
                offset = end
                written += len(batch)
                self.rows -= len(batch)
            os.unlink(file.path)
            file.handle.close()
            self._held.pop(0)
        return written

    def close(self) -> None:
        """Release this process's files (their locks): a later process replays what they hold."""
        for file in [*self._held, *([self._own] if self._own else [])]:
            if os.fstat(file.handle.fileno()).st_size == 0 and os.path.exists(file.path):
                os.unlink(file.path)
            file.handle.close()
        self._held, self._own = [], None

    def _paths(self) -> Iterator[Path]:
        if self.directory.is_dir():
            yield from self.directory.glob(f"*{SUFFIX}")

    def _own_file(self) -> _File:
        if self._own is None or self._own_pid != os.getpid():  # a forked child never shares its parent's file
            self._own, self._own_pid = self._new_file(), os.getpid()
        return self._own

    def _new_file(self) -> _File:
        """A new locked spool file, made visible only once locked."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        temporary, path = self.directory / f"{name}.tmp", self.directory / f"{name}{SUFFIX}"
        handle = open(temporary, "ab+")  # noqa: SIM115 - kept open (and locked) while this process spools
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        os.rename(temporary, path)
        return _File(str(path), handle)

    def _seal_own(self) -> None:
        """This process's file joins those to replay; the next append starts a new one."""
        if self._own is not None and self._own_pid == os.getpid():
            self._held.append(self._own)
        self._own = None

    def _take_orphans(self) -> None:
        """Lock every spool file no live process holds (its writer exited or was killed)."""
        held = {file.path for file in self._held}
        for path in sorted(self._paths()):
            if str(path) in held:
                continue
            try:
                handle = open(path, "rb+")  # noqa: SIM115 - kept open (and locked) until replayed
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            if not os.path.exists(path) or os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino:
                handle.close()  # replayed and removed (or replaced) by another process meanwhile
                continue
            self._held.append(_File(str(path), handle))
            self.rows += sum(block.count(b"\n") for block in iter(lambda h=handle: h.read(1 << 20), b""))

    def _keep_rest(self, file: _File, offset: int) -> _File:
        """Replace a partly replayed file by one holding only its rows from `offset` on."""
        rest = self._new_file()
        file.handle.seek(offset)
        for block in iter(lambda: file.handle.read(1 << 20), b""):
            rest.handle.write(block)
        rest.handle.flush()
        os.fsync(rest.handle.fileno())
        os.unlink(file.path)
        file.handle.close()
        return rest

    def _batches(self, handle: IO[bytes], batch_rows: int) -> Iterator[tuple[int, list[EventRow]]]:
        """`(offset after the batch, rows)` of the file from its start; lines that cannot be decoded (torn by
        a kill mid-write) are skipped and counted."""
        handle.seek(0)
        batch: list[EventRow] = []
        offset = 0
        for line in handle:
            offset += len(line)
            try:
                batch.append(_decode(line))
            except (ValueError, TypeError):
                self.unreadable_rows += 1
                self.rows -= line.endswith(b"\n")
                continue
            if len(batch) >= batch_rows:
                yield offset, batch
                batch = []
        if batch:
            yield offset, batch


def _encode(row: EventRow) -> bytes:
    return json.dumps([row.occurred_at.isoformat(), *row[1:]], ensure_ascii=False).encode() + b"\n"


def _decode(line: bytes) -> EventRow:
    occurred_at, *rest = json.loads(line)
    return EventRow(datetime.fromisoformat(occurred_at), *rest)

