"""The ceiling for benchmarks/http_bench.py: a bare WSGI callable returning fixed JSON bytes, shaped and sized
like a default related list of ten stories (1.8 KB, as the product's are on 20 Newsgroups).

    python benchmarks/bare_wsgi.py      # under granian's WSGI interface, with `relatedly serve`'s settings
    gunicorn --chdir benchmarks bare_wsgi:app   # the second reference (gunicorn is not a project dependency)
"""

import json
import sys

from granian import Granian
from granian.constants import HTTPModes, Interfaces, RuntimeModes
from granian.http import HTTP1Settings

from service.config import Settings
from service.server.config import HEADER_READ_TIMEOUT_MS

_STORY = {"id": "20ng-sci.space-61234", "title": "A related story with a title of a usual length", "url": None,
          "published_at": "1993-04-13T09:39:55Z", "score": 0.312345, "source": "model"}
BODY = json.dumps({"article_id": "20ng-sci.space-60000", "model_version": "20261208T021633707661Z-2dcfbe",
                   "limit": 10, "count": 10, "related": [_STORY] * 10}, separators=(",", ":")).encode()


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def bare_server() -> Granian:
    """The bare app under granian's WSGI interface, with `relatedly serve`'s server settings (workers, one Rust
    I/O thread per worker, HTTP/1 only, header timeout, respawn; service/server/config.py) from the same
    environment, and one Python thread per worker."""
    settings = Settings.from_env()
    return Granian("bare_wsgi:app", address=settings.host, port=settings.port, interface=Interfaces.WSGI,
                   workers=settings.workers, blocking_threads=1, runtime_mode=RuntimeModes.st, http=HTTPModes.http1,
                   websockets=False, http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
                   respawn_failed_workers=True, log_access=False)


if __name__ == "__main__":
    sys.exit(bare_server().serve())
