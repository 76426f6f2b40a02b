"""Canonical article URLs, so a page renderer's URL finds the article whatever decorates it.

`http://WWW.Example.com/a/b/?utm_source=x&amp=1#top` and `https://example.com/a/b` are one page:
the scheme, `www.`, host case, default ports, a trailing slash, the fragment, tracking parameters
(`utm_*`, `fbclid`, `gclid`, `mc_cid`, `mc_eid`, …) and AMP variants (`?amp=1`, `/amp/`) are normalised away.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

MAX_URL_LENGTH = 4096
TRACKING_PARAMETERS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "amp", "_ga", "igshid"})
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def canonical_url(url: str) -> str | None:
    """The normalised form of `url` (`host/path?sorted-query`, no scheme), or None when it is not a URL."""
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH or any(c.isspace() for c in text):
        return None
    if "://" not in text and not text.startswith("//"):
        text = "//" + text  # example.com/a: a host without a scheme
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    host = host.removeprefix("www.")
    if port is not None and port not in (80, 443):
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE).rstrip("/")
    if path.endswith("/amp"):
        path = path[: -len("/amp")]
    query = sorted(
        (key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in TRACKING_PARAMETERS
    )
    return f"{host}{path}" + (f"?{urlencode(query)}" if query else "")
