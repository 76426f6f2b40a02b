"""The ceiling for benchmarks/http_bench.py: a bare WSGI callable returning fixed JSON bytes, shaped and sized
like a default related list of ten stories (1.8 KB, as the product's are on 20 Newsgroups).

    python benchmarks/bare_wsgi.py      # under granian, with `relatedly serve`'s settings (same environment)
    gunicorn --chdir benchmarks bare_wsgi:app   # the second reference (gunicorn is not a project dependency)
"""

import json
import sys

_STORY = {"id": "20ng-sci.space-61234", "title": "A related story with a title of a usual length", "url": None,
          "published_at": "1993-04-13T09:39:55Z", "score": 0.312345, "source": "model"}
BODY = json.dumps({"article_id": "20ng-sci.space-60000", "model_version": "20261208T021633707661Z-2dcfbe",
                   "limit": 10, "count": 10, "related": [_STORY] * 10}, separators=(",", ":")).encode()


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]


if __name__ == "__main__":
    from service.config import Settings
    from service.server.config import build_server

    sys.exit(build_server(Settings.from_env(), target="bare_wsgi:app").serve())
