"""The ceiling for benchmarks/http_bench.py: a bare WSGI callable returning fixed JSON bytes."""

BODY = b'{"article_id":"x","model_version":"v","count":0,"related":[]}'


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]
