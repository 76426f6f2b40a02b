"""Default related lists: rendered by the service when a version loads, served for any article at once.

The page renderer asks for every article view with no options, for any article of the archive. The
model gives every article's default list as ids and scores (`recommender.default_lists.ArticleLists`);
`render_defaults` turns them into the response documents off the request path, before the new version
is swapped in, so that request costs a dictionary lookup right after a publish: nothing to warm.

A rendered list can be replaced without a new model version (`DefaultResponses.replace`): the lists
`relatedly learn` publishes arrive that way (`apply_learned`, from `service.models.learned`). Editorial
rules work through the same seam: when the overrides' revision changes, the lists they touch (pins,
blocks, lists holding an excluded story) are rendered again with the rules, on top of the base lists
(in the learned order where there is one).

`DefaultListPath` answers exactly those requests in front of Flask, through the same response code as
every route (`service.pipeline`), and hands every other request to Flask unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from publishing.learned import LearnedLists
from recommender.default_lists import ArticleLists
from recommender.model import RelatedModel
from recommender.overrides import Overrides
from recommender.reader_evidence import LearnedList
from service.api.reader_lists import MODEL_ARM, arm_of, with_arm
from service.api.routes import (
    RELATED_RULE,
    default_request_options,
    dumps,
    explored_body,
    list_document,
    render_with_rules,
    story_entry,
)
from service.extensions import Relatedly
from service.pipeline.http import finish_get

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_PREFIX, _SUFFIX = RELATED_RULE.split("<path:article_id>")


def render_defaults(version: str, lists: ArticleLists) -> DefaultResponses:
    """Every article's default-list response, byte for byte what the route renders for it."""
    render = ListRenderer(lists.model, version, lists.limit)
    bodies = {article_id: render(article_id, ids, scores) for article_id, ids, scores in lists.all_lists()}
    return DefaultResponses(version, lists, bodies)


# How a story's score and a document's list appear in the compact JSON of `dumps` (a float is written as
# its repr, and scores are finite; no JSON string can hold `"score":` or `"related":[` unescaped).
_SCORE_MARK = 0.0
_SCORE_KEY = '"score":'
_SCORE_JSON = _SCORE_KEY + repr(_SCORE_MARK)
_RELATED = b'"related":['


class ListRenderer:
    """Renders model lists (ids and scores) of one version as the route's JSON documents.

    Each story's JSON is encoded once, in two pieces around its score, and each list is joined from those
    pieces: encoding 19,466 whole documents took 0.80-0.96 s of CPU per worker for 20 Newsgroups, this
    0.57-0.72 s, time in which the loading thread competes for the GIL with the requests (docs/performance.md).
    """

    def __init__(self, model: RelatedModel, version: str, limit: int) -> None:
        self.model, self.version, self.limit = model, version, limit
        self._pieces: dict[str, tuple[str, str]] = {}

    def __call__(self, article_id: str, ids: Sequence[str], scores: Sequence[float]) -> bytes:
        stories = [self._pieces.get(s) or self._encoded(s) for s in ids]
        head = dumps(list_document(article_id, self.version, self.limit, [0] * len(ids)))  # "related" comes last
        head = head[: head.rindex(_RELATED) + len(_RELATED)]
        listed = ",".join([before + repr(round(score, 6)) + after
                           for (before, after), score in zip(stories, scores, strict=True)])
        return head + listed.encode() + b"]}"

    def _encoded(self, story_id: str) -> tuple[str, str]:
        text = dumps(story_entry(self.model.article(story_id), _SCORE_MARK, "model")).decode()
        before, after = text.split(_SCORE_JSON, 1)
        self._pieces[story_id] = found = (before + _SCORE_KEY, after)
        return found


@dataclass(frozen=True)
class _Edited:
    """The lists editorial rules change at one overrides revision, rendered with those rules."""

    revision: int = -1
    bodies: dict[str, bytes] = field(default_factory=dict)


class DefaultResponses:
    """Every article's rendered default list for one model version; lists may be replaced in place."""

    def __init__(self, version: str, lists: ArticleLists, bodies: dict[str, bytes]) -> None:
        self.version, self.lists = version, lists
        self._bodies = bodies
        self._edited = _Edited()
        self._lock = threading.Lock()
        self.learned: LearnedLists | None = None  # the reader-evidence lists applied (`apply_learned`)
        self.learned_revision = 0  # bumped by every `apply_learned`, part of the cache keys

    @property
    def limit(self) -> int:
        return self.lists.limit

    def body(self, article_id: str, overrides: Overrides) -> bytes | None:
        """The article's default response under `overrides` (None for an unknown id).

        The lists the rules change are rendered again once per overrides revision.
        """
        edited = self._edited
        if edited.revision != overrides.revision:
            edited = self._edit(overrides)
        return edited.bodies.get(article_id) or self._bodies.get(article_id)

    def learned_for(self, article_id: str) -> LearnedList | None:
        """The article's learned order, if reader evidence changed its list."""
        learned = self.learned
        return learned.lists.get(article_id) if learned is not None else None

    def apply_learned(self, learned: LearnedLists | None) -> int:
        """Serve `learned`'s lists instead of the model's (None: the model's again); how many lists
        were rendered. Lists learned before and not now get the model's list back."""
        if learned is not None and learned.model_version != self.version:
            raise ValueError(f"learned lists of model {learned.model_version} offered to model {self.version}")
        before = set(self.learned.lists) if self.learned is not None else set()
        now = learned.lists if learned is not None else {}
        limit = self.limit
        render = ListRenderer(self.lists.model, self.version, limit)
        bodies = {a: render(a, entry.order[:limit], entry.scores[:limit])
                  for a, entry in now.items() if a in self._bodies}  # as rendered at load: ~10 µs a list
        for article_id in before - now.keys():
            bodies[article_id] = render(article_id, *self.lists.default_list(article_id))
        with self._lock:
            self.learned = learned
            self.learned_revision += 1
        self.replace(bodies)
        return len(bodies)

    def replace(self, bodies: Mapping[str, bytes]) -> None:
        """Replace some articles' base lists (the editorial rules still apply on top)."""
        with self._lock:
            self._bodies = {**self._bodies, **{k: v for k, v in bodies.items() if k in self._bodies}}
            self._edited = _Edited()

    def _edit(self, overrides: Overrides) -> _Edited:
        with self._lock:
            if self._edited.revision == overrides.revision:
                return self._edited
            touched = set(overrides.pins) | set(overrides.blocks)
            if overrides.exclusions:
                touched.update(self.lists.articles_listing(overrides.exclusions))
            model, version, limit = self.lists.model, self.version, self.limit
            edited = _Edited(overrides.revision, {
                a: render_with_rules(model, version, a, overrides, limit, self.learned_for(a))
                for a in sorted(touched) if a in self._bodies})
            self._edited = edited
            return edited


def register_default_list_path(app: Flask) -> None:
    """Put the default-list path in front of the Flask app (after the extensions are bound)."""
    app.wsgi_app = DefaultListPath(app.wsgi_app, app.extensions["relatedly"])  # type: ignore[method-assign]


class DefaultListPath:
    """WSGI layer: answer `GET /v1/articles/<id>/related` without options from the rendered lists."""

    def __init__(self, flask_wsgi: WsgiApp, parts: Relatedly) -> None:
        self.flask_wsgi, self.parts = flask_wsgi, parts

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        article_id = _plain_related_request(environ)
        loaded = self.parts.store.current() if article_id is not None else None
        defaults = loaded.defaults if loaded is not None else None
        body = defaults.body(article_id, self.parts.overrides.current()) if defaults else None
        settings = self.parts.settings
        arm = arm_of(settings, article_id) if body is not None else None
        if body is None or (arm == MODEL_ARM and defaults.learned_for(article_id) is not None):
            return self.flask_wsgi(environ, start_response)  # not that request, no model, an unknown id, or the
            # experiment's model arm of a learned list: Flask answers
        options = default_request_options(defaults.limit, loaded.model.top_k)
        explored = explored_body(self.parts, loaded, article_id, options, body) if settings.explore_share else None
        status, headers, content = finish_get(
            environ, with_arm(explored or body, arm), settings=settings, model_version=loaded.version,
            cache="precomputed", endpoint=RELATED_RULE, started=started, cacheable=explored is None,
        )
        start_response(status, headers)
        return content


def _plain_related_request(environ: dict[str, Any]) -> str | None:
    """The article id of `GET /v1/articles/<id>/related` without a query string, else None.

    Only ASCII paths: others need WSGI's latin-1 → UTF-8 decoding, which Flask does for them.
    """
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING"):
        return None
    path = environ.get("PATH_INFO", "")
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX) and path.isascii()):
        return None
    article_id = path[len(_PREFIX) : -len(_SUFFIX)]
    return article_id if article_id and not article_id.startswith("/") else None
