"""An open-loop HTTP load generator: requests sent at a fixed rate, whatever the server's answers do.

    python benchmarks/paced_load.py http://127.0.0.1:8000 requests.jsonl --rate 1000 --seconds 10

`wrk` paces with its `delay()` hook only by connecting first and then waiting before it writes the
request, so each paced request is an idle open connection for the whole delay (under the gunicorn sync
workers the service ran on until 2026-12-08, that held a worker blocked reading). A reverse proxy never
does that: it sends a request once it has all of it. This client does the same: request n is sent on a
new connection at `start + n / rate`, written at once, and its latency is counted from that scheduled
moment to the end of the answer (so a late client or a server that queues both show, as in wrk2).
Requests come from a JSON-lines file of `{"method", "path", "content_type"?, "body"?}` objects, cycled.
Prints one JSON line like the wrk report of `http_bench.py`: requests, seconds, p50_us, p99_us, errors
(non-2xx or failed), plus `late_p99_us`, how far behind its schedule the client itself was (its CPU is
the caller's to count).
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0


@dataclass
class _Exchange:
    sock: socket.socket
    request: bytes
    scheduled: float
    response: bytearray
    open: bool = True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="http://host:port")
    parser.add_argument("requests", help="JSON lines of {method, path, content_type?, body?}")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    url = urlsplit(args.base)
    with open(args.requests, encoding="utf-8") as lines:
        requests = [_raw_request(json.loads(line), url.netloc) for line in lines if line.strip()]
    print(json.dumps(run((url.hostname or "127.0.0.1", url.port or 80), requests, args.rate, args.seconds)))
    return 0


def _raw_request(spec: dict, host: str) -> bytes:
    body = spec.get("body", "").encode("utf-8")
    head = f"{spec['method']} {spec['path']} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if body or spec["method"] == "POST":
        head += f"Content-Type: {spec.get('content_type', 'text/plain')}\r\nContent-Length: {len(body)}\r\n"
    return head.encode("ascii") + b"\r\n" + body


def run(address: tuple[str, int], requests: list[bytes], rate: float, seconds: float) -> dict:
    """Send `rate` requests a second for `seconds`; the latency percentiles and counts."""
    selector = selectors.DefaultSelector()
    in_flight: deque[_Exchange] = deque()  # in the order sent, which is the order they time out
    latencies: list[float] = []
    lateness: list[float] = []
    errors = sent = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        now = time.perf_counter()
        while sent < rate * seconds and start + sent / rate <= now:
            scheduled = start + sent / rate
            lateness.append(now - scheduled)
            exchange = _open(selector, address, requests[sent % len(requests)], scheduled)
            if exchange is None:
                errors += 1
            else:
                in_flight.append(exchange)
            sent += 1
        if sent >= rate * seconds and not selector.get_map():
            break
        next_at = start + sent / rate if sent < rate * seconds else now + 0.1
        for key, mask in selector.select(max(0.0, next_at - time.perf_counter())):
            outcome = _step(selector, key.data, mask)
            if outcome is not None:
                if outcome:
                    latencies.append(time.perf_counter() - key.data.scheduled)
                else:
                    errors += 1
        now = time.perf_counter()
        while in_flight and (not in_flight[0].open or now - in_flight[0].scheduled > TIMEOUT_SECONDS):
            exchange = in_flight.popleft()
            if exchange.open:  # an answer that never came
                _close(selector, exchange)
                errors += 1
    elapsed = max(time.perf_counter() - start, end - start)
    latencies.sort()
    lateness.sort()
    return {"requests": len(latencies), "seconds": elapsed, "p50_us": _percentile_us(latencies, 50),
            "p99_us": _percentile_us(latencies, 99), "errors": errors, "late_p99_us": _percentile_us(lateness, 99)}


def _open(selector: selectors.BaseSelector, address: tuple[str, int], request: bytes,
          scheduled: float) -> _Exchange | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if sock.connect_ex(address) not in (0, 115):  # 115: EINPROGRESS
        sock.close()
        return None
    exchange = _Exchange(sock, request, scheduled, bytearray())
    selector.register(sock, selectors.EVENT_WRITE, exchange)
    return exchange


def _step(selector: selectors.BaseSelector, exchange: _Exchange, mask: int) -> bool | None:
    """Advance one exchange; True once a 2xx answer is complete, False on failure, None while going on."""
    try:
        if mask & selectors.EVENT_WRITE:
            if exchange.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                raise OSError("connect failed")
            exchange.sock.sendall(exchange.request)  # a few hundred bytes: the send buffer takes them at once
            selector.modify(exchange.sock, selectors.EVENT_READ, exchange)
            return None
        chunk = exchange.sock.recv(65536)
    except OSError:
        _close(selector, exchange)
        return False
    if chunk:
        exchange.response += chunk
        return None
    _close(selector, exchange)  # the server closed: the answer is complete
    return exchange.response[9:10] == b"2"  # "HTTP/1.1 2xx"


def _close(selector: selectors.BaseSelector, exchange: _Exchange) -> None:
    exchange.open = False
    selector.unregister(exchange.sock)
    exchange.sock.close()


def _percentile_us(sorted_seconds: list[float], percent: int) -> int:
    if not sorted_seconds:
        return 0
    return round(sorted_seconds[min(len(sorted_seconds) - 1, len(sorted_seconds) * percent // 100)] * 1e6)


if __name__ == "__main__":
    sys.exit(main())
