"""Send a response's headers and the start of its body in one write.

gunicorn writes the status line and headers with one `sendall` and each body chunk with another, so a
small response — every default related list, the health probes — costs two system calls, two TCP
segments on the wire and, on the client's side, two wake-ups for one answer. Here the first body
chunk (up to `MAX_COALESCED` bytes) rides with the headers: gunicorn's own `Response.write` still
frames both, into a buffer, and the buffer is sent at once. Later chunks, chunked bodies and large
first chunks are written as before.
"""

from __future__ import annotations

from gunicorn.http.wsgi import Response

MAX_COALESCED = 64 * 1024

_gunicorn_write = Response.write


class _Collected:
    """Stands in for the socket while gunicorn frames the headers and the first chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.parts.append(data)


def write_coalesced(response: Response, data: bytes) -> None:
    """`Response.write`, with the headers and a small first chunk sent together."""
    if response.headers_sent or response.chunked or len(data) > MAX_COALESCED:
        return _gunicorn_write(response, data)
    sock, collected = response.sock, _Collected()
    response.sock = collected
    try:
        _gunicorn_write(response, data)
    finally:
        response.sock = sock
    sock.sendall(b"".join(collected.parts))


def install() -> None:
    """Make every gunicorn response write its headers with its first small chunk."""
    Response.write = write_coalesced
