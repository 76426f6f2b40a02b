"""The OpenAPI 3.1 description of the API, served at `/openapi.json` and checked against real responses.

The document says exactly what the server accepts (schemathesis checks it in the suite): bounds the
server enforces are in it, and `limit`'s maximum is the served model's K, filled in per request.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from recommender.limits import MAX_ARTICLES_PER_REQUEST as MAX_ARTICLES
from recommender.limits import MAX_BATCH_IDS, MAX_ID_CHARS
from service.api.params import MAX_DAYS, MAX_EXCLUDE
from service.extensions import relatedly

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "invalid parameter or body"),
    "404": _json(_ref("Error"), "unknown article"),
    "503": _json(_ref("Error"), "no model loaded yet"),
}
_ADMIN_ERRORS = {
    "400": _json(_ref("Error"), "invalid body"),
    "401": _json(_ref("Error"), "no bearer token"),
    "403": _json(_ref("Error"), "wrong token"),
    "404": _json(_ref("Error"), "admin API off, or unknown article"),
    "429": _json(_ref("Error"), "too many failed tokens (or editor sign-ins) from this address; see Retry-After"),
}
_DAYS = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DAYS}
_UNIT = {"type": "number", "minimum": 0, "maximum": 1}
# The one id rule (recommender/limits.py `check_article_id`), and text that holds no lone surrogate.
_PLAIN = {"type": "string", "pattern": "^[^\\ud800-\\udfff]*$"}
_ARTICLE_ID = {
    "type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS,
    "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ufeff]+$",
    "not": {"pattern": "^\\s|\\s$|^/|(^|/)\\.\\.?(/|$)|/related$"},
    "description": "no control characters, line separators or byte-order marks; no leading '/', no '.' or '..' "
                   "segment, no last segment 'related'; stored in Unicode NFC",
}



_RANKING_PARAMETERS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
     "description": "stories to return, 1…K (the model's top_k); default 10"},
    {"name": "exclude", "in": "query", "schema": {"type": "string"},
     "description": f"comma-separated ids to leave out (already on the page, already read), at most {MAX_EXCLUDE}"},
    {"name": "min_score", "in": "query", "schema": _UNIT,
     "description": "similarity floor; a list is never padded with weaker stories (default 0.1)"},
    {"name": "dedup", "in": "query", "schema": {"type": "boolean"},
     "description": "drop near-copies of the article and of each other (default true)"},
    {"name": "max_age_days", "in": "query", "schema": _DAYS,
     "description": "drop stories further than this many days from the article's date"},
    {"name": "half_life_days", "in": "query", "schema": _DAYS,
     "description": "halve a story's score for every this many days it is older than the article"},
    {"name": "diversity", "in": "query", "schema": _UNIT,
     "description": "0 = by score … 1 = most varied (MMR re-ranking)"},
    {"name": "category", "in": "query", "schema": {"type": "string", "enum": ["any", "prefer", "same"]},
     "description": "prefer or require the article's own category"},
    {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["same", "any"]},
     "description": "same (default): only stories in the article's language; any: every language"},
    {"name": "exclude_category", "in": "query", "schema": {"type": "string"},
     "description": "comma-separated categories whose stories to leave out"},
    {"name": "fallback", "in": "query", "schema": {"type": "string", "enum": ["recent", "popular"]},
     "description": "when nothing is related: the newest stories of the article's category (recent) or the most"
                    " followed of the last 7 days (popular), marked with \"fallback\"; default: none"},
    {"name": "explain", "in": "query", "schema": {"type": "boolean"},
     "description": "add the shared terms, tags and category behind each story"},
]
_RANKING_BODY_PROPERTIES = {  # null, like leaving an option out, means its default
    "limit": {"type": ["integer", "null"], "minimum": 1},
    "exclude": {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": MAX_EXCLUDE, "items": {"type": "string"}},
                          {"type": "null"}]},
    "min_score": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "dedup": {"type": ["boolean", "null"]},
    "max_age_days": {**_DAYS, "type": ["number", "null"]},
    "half_life_days": {**_DAYS, "type": ["number", "null"]},
    "diversity": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "category": {"enum": ["any", "prefer", "same", None]},
    "lang": {"enum": ["same", "any", None]},
    "exclude_category": {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": MAX_EXCLUDE,
                                                        "items": {"type": "string"}}, {"type": "null"}]},
    "explain": {"type": ["boolean", "null"]},
}
_ISO_DATE = {"anyOf": [{"type": "string", "format": "date-time"}, {"const": ""}, {"type": "null"}],
             "description": "ISO 8601"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_LANGUAGE_TAG = r"^\s*([A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*)?\s*$"  # recommender.languages.language_tag
_TEXT = {"type": "string", "pattern": r"\S"}  # some text that is not white space

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Relatedly", "version": "1", "description": (
        "Related stories for news and science articles. Titles, bodies, tags and categories are plain text, never"
        " markup: HTML in an export is cleaned to text at ingest and entities are decoded, so a client must"
        " insert them as text (textContent), never as HTML. url and image are absolute http(s) URLs or absent."
        " Article ids follow one rule at ingest (1-512 characters, no control characters, no leading '/', no"
        " '.'/'..' segment, no last segment 'related') and are compared in Unicode NFC.")},
    "paths": {
        "/v1/articles/{article_id}/related": {
            "get": {
                "summary": "Related stories of an article",
                "parameters": [
                    {"name": "article_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    *_RANKING_PARAMETERS,
                ],
                "responses": {"200": _json(_ref("RelatedList"), "the related stories"),
                              "304": {"description": "not modified (If-None-Match)"}, **_ERRORS},
            }
        },
        "/v1/articles/{article_id}": {
            "get": {
                "summary": "Stored metadata of an article",
                "parameters": [{"name": "article_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("ArticleResponse"), "the article"),
                              "304": {"description": "not modified (If-None-Match)"}, **_ERRORS},
            }
        },
        "/v1/related": {
            "post": {
                "summary": "Related stories for a text not in the model (a draft, a new story)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("TextQuery")}}},
                "responses": {"200": _json(_ref("TextRelatedList"), "the related stories"),
                              "413": _json(_ref("Error"), "body too large"),
                              "415": _json(_ref("Error"), "not JSON"), **_ERRORS},
            }
        },
        "/v1/related:batch": {
            "post": {
                "summary": "Related stories of up to 100 articles",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BatchQuery")}}},
                "responses": {"200": _json(_ref("BatchResponse"), "one result per id, in order"),
                              "413": _json(_ref("Error"), "body too large"),
                              "415": _json(_ref("Error"), "not JSON"), **_ERRORS},
            }
        },
        "/v1/admin/articles": {
            "post": {
                "summary": "Add or replace articles without a refit (needs RELATEDLY_ADMIN_TOKEN)",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["articles"],
                    "properties": {"articles": {"type": "array", "minItems": 1, "maxItems": MAX_ARTICLES,
                                                "items": _ref("ArticleInput")}}}}}},
                "responses": {"200": _json(_ref("AdminResult"), "published (the job ended within the wait)"),
                              "202": _json(_ref("AdminJobStarted"), "still publishing: ask status_url"),
                              "409": _json(_ref("Error"), "the publish failed"), **_ADMIN_ERRORS},
            }
        },
        "/v1/admin/articles/{article_id}": {
            "delete": {
                "summary": "Take an article down from every list (needs RELATEDLY_ADMIN_TOKEN)",
                "security": [{"bearer": []}],
                "parameters": [{"name": "article_id", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "withdraw", "in": "query", "schema": {"type": "boolean"},
                                "description": "true: the CMS unpublished it; adding the id again serves it again "
                                               "(default: a takedown that later updates refuse to undo)"}],
                "responses": {"200": _json(_ref("AdminResult"), "published (the job ended within the wait)"),
                              "202": _json(_ref("AdminJobStarted"), "still publishing: ask status_url"),
                              "409": _json(_ref("Error"), "the publish failed"), **_ADMIN_ERRORS},
            }
        },
        "/v1/admin/jobs/{job_id}": {
            "get": {
                "summary": "An admin write's job: running, done (with its result) or failed (with its error)",
                "security": [{"bearer": []}],
                "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("AdminJob"), "the job"),
                              "404": _json(_ref("Error"), "admin API off, or unknown job"),
                              **{k: v for k, v in _ADMIN_ERRORS.items() if k in ("401", "403")}},
            }
        },
        "/v1/widget.js": {
            "get": {
                "summary": "The embeddable widget script (vanilla JavaScript; ETag, short Cache-Control)",
                "responses": {"200": {"description": "the script",
                                      "content": {"text/javascript": {"schema": {"type": "string"}}}},
                              "304": {"description": "not modified (If-None-Match)"}},
            }
        },
        "/v1/widget.css": {
            "get": {
                "summary": "The block's shipped stylesheet (for the fragment; the script applies it itself)",
                "responses": {"200": {"description": "the stylesheet",
                                      "content": {"text/css": {"schema": {"type": "string"}}}},
                              "304": {"description": "not modified (If-None-Match)"}},
            }
        },
        "/v1/articles/{article_id}/related.html": {
            "get": {
                "summary": "The related block as server-rendered HTML (the widget's markup), for includes and ESI",
                "parameters": [
                    {"name": "article_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    *[p for p in _RANKING_PARAMETERS if p["name"] != "explain"],
                    {"name": "heading", "in": "query",
                     "schema": {"type": "string", "pattern": r"\S", "maxLength": 200},
                     "description": "the block's heading (default \"Related stories\" in the block's language)"},
                    {"name": "heading_level", "in": "query", "schema": {"enum": ["2", "3", "4", "5", "6"]},
                     "description": "the heading's element, h2 (default) … h6"},
                    {"name": "layout", "in": "query", "schema": {"enum": ["list", "grid"]},
                     "description": "list (default) or grid of cards, for the shipped stylesheet"},
                    {"name": "style", "in": "query", "schema": {"type": "string"},
                     "description": "none: the shipped stylesheet leaves this block alone"},
                    {"name": "locale", "in": "query", "schema": {"type": "string"},
                     "description": "the page's language (dates, default heading); default en"},
                    {"name": "thumbnails", "in": "query",
                     "schema": {"anyOf": [{"enum": ["", "true", "1", "yes", "on", "false", "0", "no", "off"]},
                                          {"type": "string", "pattern": "^[0-9]{1,4}x[0-9]{1,4}$"}]},
                     "description": "show each story's image: on, off, or its WIDTHxHEIGHT (default 160x90)"},
                ],
                "responses": {
                    "200": {"description": "the block (limit defaults to 5, as in the widget)",
                            "content": {"text/html": {"schema": {"type": "string"}}}},
                    "304": {"description": "not modified (If-None-Match)"},
                    "400": {"description": "an invalid value: an empty body (other parameters are ignored)",
                            "content": {"text/html": {"schema": {"type": "string", "maxLength": 0}}}},
                    "404": {"description": "unknown article: an empty body, so an include shows nothing",
                            "content": {"text/html": {"schema": {"type": "string", "maxLength": 0}}}},
                    "503": {"description": "no model loaded yet: an empty body",
                            "content": {"text/html": {"schema": {"type": "string", "maxLength": 0}}}},
                },
            }
        },
        "/v1/events": {
            "post": {
                "summary": "Report an impression or a click of a related list (the widget sends them as beacons)",
                "requestBody": {
                    "required": True,
                    "description": "one Event as JSON; the same JSON text sent as text/plain (what the widget's "
                                   "navigator.sendBeacon sends, so no CORS preflight) is accepted too",
                    "content": {"application/json": {"schema": _ref("Event")}},
                },
                "responses": {
                    "204": {"description": "accepted; stored with the next batch"},
                    "400": _json(_ref("Error"), "invalid JSON or event: a missing, extra or ill-typed field, a"
                                                " position past the list, a story repeated or the list's own article"),
                    "404": _json(_ref("Error"), "an article or model version that does not exist"),
                    "413": _json(_ref("Error"), "body over 64 KB"),
                    "415": _json(_ref("Error"), "neither text/plain nor application/json"),
                    "429": _json(_ref("Error"), "over the per-client rate; see Retry-After"),
                    "503": _json(_ref("Error"), "no model loaded yet, or too many events waiting to be stored"),
                },
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json(_ref("Health"), "alive")}}},
        "/readyz": {
            "get": {
                "summary": "Readiness: a model is loaded",
                "responses": {"200": _json(_ref("Ready"), "ready or degraded"),
                              "503": _json(_ref("Ready"), "no model")},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics",
                             "responses": {"200": {"description": "text exposition format"}}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "AdminJobStarted": {
                "type": "object",
                "required": ["job_id", "state", "status_url"],
                "properties": {"job_id": {"type": "string"}, "state": {"const": "running"},
                               "status_url": {"type": "string"}},
            },
            "AdminJob": {
                "type": "object",
                "required": ["id", "kind", "state", "created_at", "finished_at"],
                "properties": {
                    "id": {"type": "string"},
                    "kind": {"type": "string", "enum": ["upsert", "remove"]},
                    "state": {"type": "string", "enum": ["running", "done", "failed"]},
                    "created_at": {"type": "string"},
                    "finished_at": {"type": ["string", "null"]},
                    "result": _ref("AdminResult"),
                    "error": {"type": "object", "required": ["code", "message"],
                              "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                },
            },
            "AdminResult": {
                "type": "object",
                "required": ["model_version", "previous_version", "added", "replaced", "removed", "refused"],
                "properties": {
                    "job_id": {"type": "string"},
                    "model_version": {"type": "string"},
                    "previous_version": {"type": "string"},
                    "added": {"type": "array", "items": {"type": "string"}},
                    "replaced": {"type": "array", "items": {"type": "string"}},
                    "removed": {"type": "array", "items": {"type": "string"}},
                    "refused": {"type": "array", "items": {"type": "string"}},
                    "recomputed_lists": {"type": "integer"},
                    "n_articles": {"type": "integer"},
                    "retrain_recommended": {"type": "boolean"},
                    "notes": {"type": "array", "items": {"type": "string"},
                              "description": "values dropped at ingest (a url or image that is not http(s))"},
                },
            },
            "Event": {
                "oneOf": [
                    {"type": "object", "additionalProperties": False,
                     "required": ["type", "list_id", "article_id", "model_version", "items"],
                     "properties": {"type": {"const": "impression"}, "list_id": _ref("Token"),
                                    "article_id": {"type": "string"}, "model_version": _ref("Token"),
                                    "items": {"type": "array", "minItems": 1, "maxItems": 50, "uniqueItems": True,
                                              "items": {"type": "string"},
                                              "description": "the stories shown, in order (position 1 first)"},
                                    "arm": _ref("Arm"),
                                    "explored": {"type": "integer", "minimum": 1, "maximum": 50,
                                                 "description": "the position of the explored story, if any"}}},
                    {"type": "object", "additionalProperties": False,
                     "required": ["type", "list_id", "article_id", "model_version", "target", "position"],
                     "properties": {"type": {"const": "click"}, "list_id": _ref("Token"),
                                    "article_id": {"type": "string"}, "model_version": _ref("Token"),
                                    "target": {"type": "string"},
                                    "position": {"type": "integer", "minimum": 1, "maximum": 50},
                                    "arm": _ref("Arm"),
                                    "explored": {"type": "boolean",
                                                 "description": "the story was in the explored slot"}}},
                ],
            },
            "Arm": {"type": "string", "pattern": "^[a-z0-9_-]{1,16}$",
                    "description": "the experiment arm the list was served in (the response's arm)"},
            "Token": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "Explanation": {
                "type": "object",
                "required": ["similarity", "terms", "semantic", "shared_tags", "same_category"],
                "properties": {
                    "similarity": {"type": "number"},
                    "terms": {"type": "array", "items": {
                        "type": "object", "required": ["term", "contribution"],
                        "properties": {"term": {"type": "string"}, "contribution": {"type": "number"}}}},
                    "semantic": {"type": "number"},
                    "shared_tags": {"type": "array", "items": {"type": "string"}},
                    "same_category": {"type": "boolean"},
                    "reader_evidence": {
                        "type": "object", "description": "present when reader evidence moved the story",
                        "required": ["moved", "model_position", "impressions", "clicks", "expected_clicks", "ratio"],
                        "properties": {"moved": {"type": "boolean"}, "model_position": {"type": "integer"},
                                       "impressions": {"type": "integer"}, "clicks": {"type": "integer"},
                                       "expected_clicks": {"type": "number"}, "ratio": {"type": "number"}}},
                },
            },
            "RelatedStory": {
                "type": "object",
                "required": ["id", "title", "url", "published_at", "score", "source"],
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "url": _NULLABLE_STRING,
                    "published_at": _NULLABLE_STRING,
                    "score": {"type": "number"},
                    "source": {"enum": ["pinned", "model", "recent", "popular"],
                               "description": "pinned: an editor put it there (shown first); model: ranked;"
                                              " recent, popular: the fallback asked for"},
                    "explanation": _ref("Explanation"),
                    "explored": {"const": True, "description": "drawn from further down the candidate pool for "
                                                              "this view (RELATEDLY_EXPLORE_SHARE)"},
                },
            },
            "RelatedList": {
                "type": "object",
                "required": ["article_id", "model_version", "limit", "count", "related"],
                "properties": {
                    "article_id": {"type": "string"},
                    "model_version": {"type": "string"},
                    "limit": {"type": "integer"},
                    "count": {"type": "integer"},
                    "related": {"type": "array", "items": _ref("RelatedStory")},
                    "fallback": {"enum": ["recent", "popular"],
                                 "description": "present when nothing was related and these are the fallback"},
                    "arm": {"enum": ["learned", "model"],
                            "description": "the experiment arm of this view (RELATEDLY_EXPERIMENT=learning)"},
                },
            },
            "TextRelatedList": {
                "type": "object",
                "required": ["model_version", "limit", "count", "related"],
                "properties": {
                    "model_version": {"type": "string"},
                    "limit": {"type": "integer"},
                    "count": {"type": "integer"},
                    "related": {"type": "array", "items": _ref("RelatedStory")},
                },
            },
            "ArticleInput": {
                "type": "object",
                "description": "one article as in the corpus; other fields are kept as extra metadata",
                "required": ["id", "title", "body"],
                "properties": {
                    "id": {"anyOf": [_ARTICLE_ID, {"type": "integer"}]},
                    "title": {"allOf": [_TEXT, _PLAIN]},
                    "body": _PLAIN,
                    "url": _NULLABLE_STRING,
                    "category": {"anyOf": [_PLAIN, {"type": "null"}]},
                    "published_at": _ISO_DATE,
                    "tags": {"anyOf": [_PLAIN, {"type": "array", "items": _PLAIN}, {"type": "null"}]},
                },
            },
            "TextQuery": {
                "type": "object",
                "description": "title or body must hold some text (not only white space)",
                "anyOf": [{"required": ["title"], "properties": {"title": _TEXT}},
                          {"required": ["body"], "properties": {"body": _TEXT}}],
                "properties": {
                    "title": {"type": "string"},
                    "body": {"type": "string"},
                    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
                    "article_category": _NULLABLE_STRING,
                    "article_lang": {"type": ["string", "null"], "pattern": _LANGUAGE_TAG,
                                     "description": "the text's language (BCP 47, e.g. de or pt-BR); detected "
                                                    "when absent"},
                    "published_at": {**_ISO_DATE, "description": "ISO 8601; ages are measured from it"},
                    "article_id": {"type": ["string", "null"],
                                   "description": "the article this text is (a draft of it): it is left out, and its "
                                                  "editorial pins and blocks apply"},
                    **_RANKING_BODY_PROPERTIES,
                },
            },
            "BatchQuery": {
                "type": "object",
                "required": ["ids"],
                "properties": {
                    "ids": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_IDS, "items": {"type": "string"}},
                    **_RANKING_BODY_PROPERTIES,
                },
            },
            "BatchResponse": {
                "type": "object",
                "required": ["model_version", "results"],
                "properties": {
                    "model_version": {"type": "string"},
                    "results": {"type": "array", "items": {"oneOf": [
                        {"type": "object", "required": ["article_id", "limit", "count", "related"],
                         "properties": {"article_id": {"type": "string"}, "limit": {"type": "integer"},
                                        "count": {"type": "integer"},
                                        "related": {"type": "array", "items": _ref("RelatedStory")}}},
                        {"type": "object", "required": ["article_id", "error"],
                         "properties": {"article_id": {"type": "string"},
                                        "error": {"$ref": "#/components/schemas/Error/properties/error"}}},
                    ]}},
                },
            },
            "ArticleResponse": {
                "type": "object",
                "required": ["model_version", "article"],
                "properties": {
                    "model_version": {"type": "string"},
                    "article": {
                        "type": "object",
                        "required": ["id", "title", "url", "published_at", "tags", "category"],
                        "properties": {
                            "id": {"type": "string"},
                            "title": {"type": "string"},
                            "url": _NULLABLE_STRING,
                            "published_at": _NULLABLE_STRING,
                            "tags": {"type": "array", "items": {"type": "string"}},
                            "category": _NULLABLE_STRING,
                        },
                    },
                },
            },
            "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
            "Ready": {
                "type": "object",
                "required": ["status", "cache"],
                "properties": {
                    "status": {"enum": ["ready", "degraded", "unavailable"]},
                    "model_version": {"type": "string"},
                    "n_articles": {"type": "integer"},
                    "top_k": {"type": "integer"},
                    "cache": {"type": "object", "required": ["backend", "state"]},
                    "events": {"type": "object", "required": ["state", "queued_rows", "spooled_rows", "last_error"],
                               "description": "the event store: degraded while database writes fail (events"
                                              " are then spooled on local disk, then written once it is back)",
                               "properties": {"state": {"enum": ["ok", "degraded"]},
                                              "queued_rows": {"type": "integer"},
                                              "spooled_rows": {"type": "integer"},
                                              "last_error": _NULLABLE_STRING}},
                    "last_reload_error": _NULLABLE_STRING,
                    "retrain_recommended": {"type": "boolean"},
                    "added_since_fit": {"type": "integer"},
                },
            },
        }
    },
}

# Lookup by URL (issue 10): the article is found by its canonical URL, then answered exactly as
# /v1/articles/{article_id}/related (same body, cache entry and ETag); stories may carry an image.
SPEC["paths"]["/v1/related"]["get"] = {
    "summary": "Related stories of the article at a URL (the page being drawn)",
    "description": "The URL is compared in canonical form: scheme, host case, www., default ports, a trailing"
                   " slash, the fragment, utm_*, fbclid, gclid, mc_cid/mc_eid and AMP variants (?amp=1, /amp/)"
                   " do not matter. The answer is the same as /v1/articles/{article_id}/related's.",
    "parameters": [
        {"name": "url", "in": "query", "required": True, "schema": {"type": "string", "pattern": r"\S"},
         "description": "the article's URL as the page knows it"},
        *_RANKING_PARAMETERS,
    ],
    "responses": {"200": _json(_ref("RelatedList"), "the related stories"),
                  "304": {"description": "not modified (If-None-Match)"},
                  "400": _json(_ref("Error"), "no url, or an invalid option"),
                  "404": _json(_ref("Error"), "no article has this URL"),
                  "503": _json(_ref("Error"), "no model loaded yet")},
}
_FRAGMENT = SPEC["paths"]["/v1/articles/{article_id}/related.html"]["get"]
SPEC["paths"]["/v1/related.html"] = {"get": {
    **_FRAGMENT,
    "summary": "The related block of the article at a URL, as server-rendered HTML",
    "parameters": [SPEC["paths"]["/v1/related"]["get"]["parameters"][0],
                   *[p for p in _FRAGMENT["parameters"] if p["in"] == "query"]],
    "responses": {**_FRAGMENT["responses"],
                  "400": {"description": "no url, or an invalid value: an empty body",
                          "content": {"text/html": {"schema": {"type": "string", "maxLength": 0}}}},
                  "404": {"description": "no article has this URL: an empty body, so an include shows nothing",
                          "content": {"text/html": {"schema": {"type": "string", "maxLength": 0}}}}},
}}
_IMAGE = {"type": "string", "description": "thumbnail URL (the featured image), present when the article has one"}
SPEC["components"]["schemas"]["RelatedStory"]["properties"]["image"] = _IMAGE
SPEC["components"]["schemas"]["ArticleResponse"]["properties"]["article"]["properties"]["image"] = _IMAGE



# --- editorial overrides and the editor page (issue 12) ---
_OVERRIDE_ERRORS = {
    "401": _json(_ref("Error"), "no bearer token and no editor session"),
    "403": _json(_ref("Error"), "wrong token, or an editor session without its CSRF token (X-CSRF-Token)"),
    "404": _json(_ref("Error"), "admin API off (no RELATEDLY_ADMIN_TOKEN), or an unknown article or override"),
    "429": _json(_ref("Error"), "too many failed tokens (or editor sign-ins) from this address; see Retry-After"),
    "503": _json(_ref("Error"), "no model loaded yet, or the overrides database cannot be reached"),
}
_CHANGE_ERRORS = {"400": _json(_ref("Error"), "invalid body or parameter"),
                  "413": _json(_ref("Error"), "body too large"), **_OVERRIDE_ERRORS}
_ADMIN_SECURITY = [{"bearer": []}, {"editorSession": []}]
_ID_PATH = {"in": "path", "required": True, "schema": {"type": "string"}}
_SELF_CONFLICT = {"409": _json(_ref("Error"), "the article named under itself (code conflicting_override)")}
_GIVEN_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}  # an id an editor names
_CHANGED = {"200": _json(_ref("OverrideListing"), "changed; the overrides it affects, as now served")}
_ALLOW_INACTIVE = {"type": "boolean", "description": "keep ids not in the served model (inactive until they are)"}


def _change(summary: str, body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    operation = {"summary": summary, "security": _ADMIN_SECURITY, "responses": {**_CHANGED, **_CHANGE_ERRORS}, **extra}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


_STORY = {"type": "object", "required": ["id", "title", "active", "inactive_reason"], "properties": {
    "id": {"type": "string"}, "title": _NULLABLE_STRING, "active": {"type": "boolean"},
    "inactive_reason": {"type": ["string", "null"], "enum": [
        None, "not_in_model", "article_not_in_model", "blocked", "excluded", "same_article"]}}}
SPEC["components"]["securitySchemes"]["editorSession"] = {
    "type": "apiKey", "in": "cookie", "name": "relatedly_editor",
    "description": "the editor page's session (sign in at /editor); state-changing requests need X-CSRF-Token"}
SPEC["components"]["schemas"]["OverrideListing"] = {
    "type": "object",
    "required": ["revision", "model_version", "model_trained_at", "pins", "blocks", "exclusions"],
    "properties": {
        "revision": {"type": "integer", "description": "bumped by every change; part of every cache key"},
        "model_version": {"type": "string"},
        "model_trained_at": {"type": "string"},
        "pins": {"type": "array", "items": {"type": "object", "required": ["article_id", "title", "stories"],
                                            "properties": {"article_id": {"type": "string"}, "title": _NULLABLE_STRING,
                                                           "stories": {"type": "array", "items": _STORY}}}},
        "blocks": {"type": "array", "items": {"type": "object", "required": ["article_id", "story_id", "active"],
                                              "properties": {"article_id": {"type": "string"},
                                                             "article_title": _NULLABLE_STRING,
                                                             "story_id": {"type": "string"},
                                                             "story_title": _NULLABLE_STRING,
                                                             "active": {"type": "boolean"}}}},
        "exclusions": {"type": "array", "items": {"type": "object", "required": ["story_id", "reason", "active"],
                                                  "properties": {"story_id": {"type": "string"},
                                                                 "title": _NULLABLE_STRING,
                                                                 "reason": {"type": "string"},
                                                                 "active": {"type": "boolean"}}}},
    },
}
SPEC["components"]["schemas"]["Ready"]["properties"]["overrides"] = {
    "type": "object", "required": ["revision", "error"], "description": "the editorial overrides this worker serves",
    "properties": {"revision": {"type": "integer"}, "error": _NULLABLE_STRING}}
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
SPEC["paths"].update({
    "/v1/admin/overrides": {"get": {
        "summary": "Every editorial override (or one article's pins and blocks), marked active or inactive",
        "security": _ADMIN_SECURITY,
        "parameters": [{"name": "article_id", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": _json(_ref("OverrideListing"), "the overrides"), **_OVERRIDE_ERRORS}}},
    "/v1/admin/overrides/pins/{article_id}": {
        "put": _change("Set the article's pins: shown first in this order, at most 10; [] unpins all", {
            "type": "object", "required": ["stories"], "properties": {
                "stories": {"type": "array", "maxItems": 10, "uniqueItems": True, "items": _GIVEN_ID},
                "allow_inactive": _ALLOW_INACTIVE}}, parameters=[{"name": "article_id", **_ID_PATH}], responses={
                    **_CHANGED, **_CHANGE_ERRORS, **_SELF_CONFLICT}),
        "delete": _change("Unpin every story of the article", parameters=[{"name": "article_id", **_ID_PATH}]),
    },
    "/v1/admin/overrides/blocks": {
        "post": _change("Never show story_id under article_id (both_ways: nor the reverse)", {
            "type": "object", "required": ["article_id", "story_id"], "properties": {
                "article_id": _GIVEN_ID, "story_id": _GIVEN_ID, "both_ways": {"type": "boolean"},
                "reason": {"type": "string", "maxLength": 500, "description": "recorded in the audit trail"},
                "allow_inactive": _ALLOW_INACTIVE}}, responses={**_CHANGED, **_CHANGE_ERRORS, **_SELF_CONFLICT}),
        "delete": _change("Lift a block", parameters=[
            {"name": "article_id", "in": "query", "required": True, "schema": _GIVEN_ID},
            {"name": "story_id", "in": "query", "required": True, "schema": _GIVEN_ID},
            {"name": "both_ways", "in": "query", "schema": {"type": "boolean"}}]),
    },
    "/v1/admin/overrides/exclusions": {"post": _change(
        "Keep a story out of every list (its own page keeps a list)", {
            "type": "object", "required": ["story_id"], "properties": {
                "story_id": _GIVEN_ID, "reason": {"type": "string", "maxLength": 500},
                "allow_inactive": _ALLOW_INACTIVE}})},
    "/v1/admin/overrides/exclusions/{story_id}": {
        "delete": _change("Let an excluded story appear in lists again", parameters=[{"name": "story_id", **_ID_PATH}]),
    },
    "/v1/admin/overrides/audit": {"get": {
        "summary": "Who changed which override when, newest first",
        "security": _ADMIN_SECURITY,
        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                       {"name": "article_id", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": _json({"type": "object", "required": ["entries"], "properties": {"entries": {
            "type": "array", "items": {"type": "object", "required": [
                "revision", "changed_at", "actor", "action", "article_id", "story_ids", "detail"]}}}}, "the changes"),
            "400": _json(_ref("Error"), "invalid limit"), **_OVERRIDE_ERRORS}}},
    "/v1/admin/story-stats": {"get": {
        "summary": "Readers' figures per story: impressions (showings in a list), clicks and CTR over the last days",
        "security": _ADMIN_SECURITY,
        "parameters": [{"name": "ids", "in": "query", "required": True, "schema": {"type": "string", "pattern": r"\S"},
                        "description": "comma-separated article ids, at most 100"},
                       {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 365}}],
        "responses": {"200": _json({"type": "object", "required": ["days", "stories"], "properties": {
            "days": {"type": "integer"}, "stories": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["impressions", "clicks", "ctr"], "properties": {
                    "impressions": {"type": "integer"}, "clicks": {"type": "integer"}, "ctr": {"type": "number"}}}}}},
            "the figures, zeros for a story never shown"),
            "400": _json(_ref("Error"), "ids or days invalid"), **_OVERRIDE_ERRORS}}},
    "/v1/admin/search": {"get": {
        "summary": "Articles of the served model whose title holds every word of q (or whose id is q)",
        "security": _ADMIN_SECURITY,
        "parameters": [{"name": "q", "in": "query", "required": True,
                        "schema": {"type": "string", "pattern": r"\S", "maxLength": 200}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
        "responses": {"200": _json({"type": "object", "required": ["model_version", "results"], "properties": {
            "model_version": {"type": "string"}, "results": {"type": "array", "items": {"type": "object"}}}},
            "matches, best first"), "400": _json(_ref("Error"), "q missing or too long"), **_OVERRIDE_ERRORS}}},
    "/editor": {"get": {"summary": "The editor page (HTML): the sign-in form, or the editor once signed in",
                        "responses": {"200": {"description": "the page", **_HTML},
                                      "404": _json(_ref("Error"), "no RELATEDLY_ADMIN_TOKEN")}}},
    "/editor/sign-in": {"post": {
        "summary": "Sign in with the admin token (form fields token, name); sets the HttpOnly session cookie",
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
            "token": {"type": "string"}, "name": {"type": "string"}}}}}},
        "responses": {"303": {"description": "signed in: back to /editor"},
                      "400": {"description": "invalid name", **_HTML},
                      "401": {"description": "wrong token", **_HTML},
                      "404": _json(_ref("Error"), "no RELATEDLY_ADMIN_TOKEN"),
                      "429": {"description": "too many failed sign-ins from this address (Retry-After)", **_HTML}}}},
    "/editor/sign-out": {"post": {
        "summary": "Sign out (form field csrf_token)",
        "responses": {"303": {"description": "signed out: back to /editor"},
                      "403": _json(_ref("Error"), "the CSRF token is missing or wrong"),
                      "404": _json(_ref("Error"), "no RELATEDLY_ADMIN_TOKEN")}}},
})


def spec_for(max_limit: int | None, example_id: str | None = None) -> dict[str, Any]:
    """The document with `limit`'s maximum set to the served model's K (no maximum while none is loaded)
    and one of its article ids as the example of every `article_id`."""
    spec = copy.deepcopy(SPEC)
    if example_id is not None:
        for operations in spec["paths"].values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "article_id":
                        parameter["example"] = example_id
    if max_limit is not None:
        schemas = spec["components"]["schemas"]
        related = spec["paths"]["/v1/articles/{article_id}/related"]["get"]["parameters"]
        limits = [p["schema"] for p in related if p["name"] == "limit"]
        limits += [schemas[name]["properties"]["limit"] for name in ("TextQuery", "BatchQuery")]
        for schema in limits:
            schema["maximum"] = max_limit
    return spec


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    loaded = relatedly().store.current()
    if loaded is None:
        return jsonify(spec_for(None))
    return jsonify(spec_for(loaded.model.top_k, loaded.model.catalog_.id_at(0)))
