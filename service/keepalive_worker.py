"""A one-thread gunicorn worker that keeps connections alive and spreads them evenly across workers.

gunicorn's sync worker closes every connection after one answer: each request pays a TCP handshake,
an accept, a lingering close and, in the client, a new connection — a third of a default GET's CPU
(docs/performance.md). Keep-alive removes that, but a kept connection stays with the worker that
accepted it, and with a shared listening socket whichever worker wakes first takes it: wrk's 16
connections split 16/0 or 10/6 between two workers in the 2026-12-02 runs, so one core saturated.

Here each worker runs one event loop (a selector over the listening sockets and its kept
connections) and answers each request as the sync worker does, with gunicorn's own parser and
response (so `single_write` and `prompt_close` apply). Workers share a small board of open-connection
counts in anonymous shared memory (`claim_slot` in the master's `pre_fork` hook, `release_slot` in
`child_exit`); a worker accepts a new connection only while it holds no more open connections than
every other worker, else it leaves the connection in the listen queue for them and looks again
after `RECHECK_SECONDS`. A connection idle past gunicorn's `keepalive` seconds is closed; a client
asking `Connection: close` (a proxy sending one request per connection) gets it closed after its
answer. `keepalive = 0` gives one request per connection, as with the sync worker.

Stopping (SIGTERM): the worker stops accepting, answers requests that arrive on its open connections
for up to `STOP_LINGER_SECONDS` (each answer with `Connection: close`), then closes them. The
heartbeat and the parent check run at least once a second, as in the other workers; a request that
hangs is ended by gunicorn's `timeout` as with sync workers (a client that stalls in the middle of a
request blocks the worker as it would a sync one: serve behind a proxy).
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import selectors
import socket
import sys
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from gunicorn import http, util
from gunicorn.http import wsgi
from gunicorn.workers import base

SLOTS = 64  # workers sharing a board (a reload briefly runs old and new workers side by side)
FREE = 2**31 - 1  # an unused slot: never the smallest count
RECHECK_SECONDS = 0.002  # how soon a worker that left a connection to the others looks again
STOP_LINGER_SECONDS = 2.0
BODY_DRAIN_SECONDS = 5.0

_board: memoryview | None = None  # created in the master before the first fork, shared by every worker


def claim_slot(server: Any, worker: Any) -> None:
    """In the master, before a worker forks: give it a free slot on the board (its count starts at 0)."""
    global _board
    if _board is None:
        _board = memoryview(mmap.mmap(-1, SLOTS * 4)).cast("i")  # MAP_SHARED: forks see each other's writes
        for slot in range(SLOTS):
            _board[slot] = FREE
    taken = {getattr(other, "balance_slot", None) for other in server.WORKERS.values()}
    free = next((slot for slot in range(SLOTS) if slot not in taken), None)
    worker.balance_slot = free
    if free is not None:
        _board[free] = 0


def release_slot(worker: Any) -> None:
    """In the master, once a worker has exited: its connections are gone, its slot is free."""
    slot = getattr(worker, "balance_slot", None)
    if _board is not None and slot is not None:
        _board[slot] = FREE


class _Connection:
    __slots__ = ("sock", "addr", "server", "parser", "idle_until")

    def __init__(self, sock: socket.socket, addr: Any, server: Any, parser: Any) -> None:
        self.sock, self.addr, self.server, self.parser = sock, addr, server, parser
        self.idle_until = 0.0


class BalancedKeepAliveWorker(base.Worker):
    """Keep-alive connections, one request at a time, new connections to the worker holding fewest."""

    def init_process(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.connections: OrderedDict[_Connection, None] = OrderedDict()  # least recently used first
        self.accepting = False
        self.recheck_at = 0.0
        super().init_process()  # loads the app, then runs `run`

    # -- the board ---------------------------------------------------------------------------------

    def _publish_count(self) -> None:
        slot = getattr(self, "balance_slot", None)
        if _board is not None and slot is not None:
            _board[slot] = len(self.connections)

    def _my_turn(self) -> bool:
        """Whether this worker holds no more open connections than any other (without a board: below its limit)."""
        if len(self.connections) >= self.cfg.worker_connections:
            return False
        slot = getattr(self, "balance_slot", None)
        return _board is None or slot is None or _board[slot] <= min(_board)

    def _set_accepting(self, accepting: bool) -> None:
        if accepting == self.accepting:
            return
        for listener in self.sockets:
            if accepting:
                self.selector.register(listener, selectors.EVENT_READ, listener)
            else:
                self.selector.unregister(listener)
        self.accepting = accepting

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        self.servers = {listener: listener.getsockname() for listener in self.sockets}
        self.selector.register(self.PIPE[0], selectors.EVENT_READ, None)
        self._set_accepting(True)
        beat = 0.0
        while self.alive:
            now = time.monotonic()
            if now >= beat:  # the heartbeat and the parent check once a second, not once a request
                self.notify()
                if self.ppid != os.getppid():
                    self.log.info("Parent changed, shutting down: %s", self)
                    break
                beat = now + 1.0
            if not self.accepting and now >= self.recheck_at:
                self._set_accepting(True)
            self._dispatch(self._wait_seconds(now, beat))
            self._close_idle(time.monotonic())
        self._stop()

    def _wait_seconds(self, now: float, beat: float) -> float:
        until = beat if self.accepting else min(beat, self.recheck_at)
        if self.connections:
            until = min(until, next(iter(self.connections)).idle_until)
        return max(0.0, until - now)

    def _dispatch(self, timeout: float) -> None:
        try:
            events = self.selector.select(timeout)
        except OSError as error:
            if error.errno != errno.EINTR:
                raise
            return
        for key, _ in events:
            if key.data is None:  # the signal pipe: the loop looks at `alive`
                with contextlib.suppress(BlockingIOError):
                    os.read(self.PIPE[0], 64)
            elif isinstance(key.data, _Connection):
                self._serve(key.data)
            elif self.alive:
                self._accept(key.data)

    def _accept(self, listener: socket.socket) -> None:
        if not self._my_turn():  # another worker holds fewer connections: it takes this one
            self._set_accepting(False)
            self.recheck_at = time.monotonic() + RECHECK_SECONDS
            return
        try:
            client, addr = listener.accept()
        except OSError as error:  # another worker was faster, or the client gave up
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        client.setblocking(True)
        util.close_on_exec(client)
        try:
            if self.cfg.is_ssl:
                from gunicorn import sock as gunicorn_sock

                client = gunicorn_sock.ssl_wrap_socket(client, self.cfg)
            parser = http.get_parser(self.cfg, client, addr)
        except Exception as error:  # noqa: BLE001 - a failed handshake ends this connection only
            self.log.debug("Closing connection: %s", error)
            util.close(client)
            return
        connection = _Connection(client, addr, self.servers[listener], parser)
        connection.idle_until = time.monotonic() + self.cfg.keepalive
        self.connections[connection] = None
        self.selector.register(client, selectors.EVENT_READ, connection)
        self._publish_count()

    def _close_idle(self, now: float) -> None:
        while self.connections:
            oldest = next(iter(self.connections))
            if oldest.idle_until > now:
                return
            self._close(oldest, graceful=False)

    def _close(self, connection: _Connection, graceful: bool) -> None:
        self.connections.pop(connection, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(connection.sock)
        if graceful:  # we end the connection: gunicorn's close (service/prompt_close.py), looked up now
            util.close_graceful(connection.sock)
        else:
            util.close(connection.sock)
        self._publish_count()

    # -- one connection's requests -----------------------------------------------------------------

    def _serve(self, connection: _Connection) -> None:
        """Answer the request(s) waiting on a readable connection; keep it, or close it."""
        keep = False
        req = None
        try:
            while True:
                req = next(connection.parser)
                keep = self.handle_request(req, connection) and connection.parser.finish_body(
                    deadline=time.monotonic() + BODY_DRAIN_SECONDS)
                if not keep or not connection.parser.unreader.buf.getvalue():
                    break  # answered everything that has arrived (pipelined requests are answered in turn)
        except (http.errors.NoMoreData, StopIteration) as error:  # the client closed, or asked to
            self.log.debug("Closing connection. %s", error)
            self._close(connection, graceful=False)
            return
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
            self._close(connection, graceful=False)
            return
        except Exception as error:  # noqa: BLE001 - gunicorn's error answer (400, 500…), then close
            self.handle_error(req, connection.sock, connection.addr, error)
            keep = False
        if keep:
            connection.idle_until = time.monotonic() + self.cfg.keepalive
            self.connections.move_to_end(connection)
        else:
            self._close(connection, graceful=True)

    def handle_request(self, req: Any, connection: _Connection) -> bool:
        """gunicorn's request cycle (as in its sync and gthread workers); whether the connection stays open."""
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(req, connection.sock, connection.addr, connection.server, self.cfg)
            self.nr += 1
            if self.nr >= self.max_requests and self.alive:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
            if not self.alive or not self.cfg.keepalive:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            util.reraise(*sys.exc_info())
        except (Exception, SystemExit):
            if resp and resp.headers_sent:  # a 500 now would corrupt the answer already on its way
                self.log.exception("Error handling request")
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:  # noqa: BLE001
                self.log.exception("Exception in post_request hook")
        return False

    # -- stopping ----------------------------------------------------------------------------------

    def _stop(self) -> None:
        """Stop accepting; answer what arrives on open connections for a moment (then close), close the rest."""
        self._set_accepting(False)
        self.alive = False
        deadline = time.monotonic() + min(STOP_LINGER_SECONDS, self.cfg.graceful_timeout)
        for connection in self.connections:
            connection.idle_until = min(connection.idle_until, deadline)
        while self.connections and time.monotonic() < deadline:
            self.notify()
            self._dispatch(max(0.0, min(deadline, next(iter(self.connections)).idle_until) - time.monotonic()))
            self._close_idle(time.monotonic())
        for connection in list(self.connections):
            self._close(connection, graceful=False)
        self.selector.close()
