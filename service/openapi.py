"""The OpenAPI 3.1 description of the API, served at `/openapi.json` and checked against real responses."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

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
}
_RANKING_PARAMETERS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
     "description": "stories to return, 1…K (the model's top_k); default 10"},
    {"name": "exclude", "in": "query", "schema": {"type": "string"},
     "description": "comma-separated ids to leave out (already on the page, already read)"},
    {"name": "min_score", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 1},
     "description": "similarity floor; a list is never padded with weaker stories (default 0.1)"},
    {"name": "dedup", "in": "query", "schema": {"type": "boolean"},
     "description": "drop near-copies of the article and of each other (default true)"},
    {"name": "max_age_days", "in": "query", "schema": {"type": "number", "exclusiveMinimum": 0},
     "description": "drop stories further than this many days from the article's date"},
    {"name": "half_life_days", "in": "query", "schema": {"type": "number", "exclusiveMinimum": 0},
     "description": "halve a story's score for every this many days it is older than the article"},
    {"name": "diversity", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 1},
     "description": "0 = by score … 1 = most varied (MMR re-ranking)"},
    {"name": "category", "in": "query", "schema": {"type": "string", "enum": ["any", "prefer", "same"]},
     "description": "prefer or require the article's own category"},
    {"name": "explain", "in": "query", "schema": {"type": "boolean"},
     "description": "add the shared terms, tags and category behind each story"},
]
_RANKING_BODY_PROPERTIES = {
    "limit": {"type": "integer", "minimum": 1},
    "exclude": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "min_score": {"type": "number", "minimum": 0, "maximum": 1},
    "dedup": {"type": "boolean"},
    "max_age_days": {"type": "number", "exclusiveMinimum": 0},
    "half_life_days": {"type": "number", "exclusiveMinimum": 0},
    "diversity": {"type": "number", "minimum": 0, "maximum": 1},
    "category": {"type": "string", "enum": ["any", "prefer", "same"]},
    "explain": {"type": "boolean"},
}
_NULLABLE_STRING = {"type": ["string", "null"]}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Relatedly", "version": "1", "description": "Related stories for news and science articles."},
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
                    "properties": {"articles": {"type": "array", "items": {"type": "object"}}}}}}},
                "responses": {"200": _json(_ref("AdminResult"), "published"), **_ADMIN_ERRORS},
            }
        },
        "/v1/admin/articles/{article_id}": {
            "delete": {
                "summary": "Take an article down from every list (needs RELATEDLY_ADMIN_TOKEN)",
                "security": [{"bearer": []}],
                "parameters": [{"name": "article_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("AdminResult"), "published"), **_ADMIN_ERRORS},
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
        "/v1/articles/{article_id}/related.html": {
            "get": {
                "summary": "The related block as server-rendered HTML (the widget's markup), for includes and ESI",
                "parameters": [
                    {"name": "article_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    *[p for p in _RANKING_PARAMETERS if p["name"] != "explain"],
                    {"name": "heading", "in": "query",
                     "schema": {"type": "string", "pattern": r"\S", "maxLength": 200},
                     "description": "the block's heading (default \"Related stories\")"},
                    {"name": "thumbnails", "in": "query",
                     "schema": {"anyOf": [{"enum": ["", "true", "1", "yes", "on", "false", "0", "no", "off"]},
                                          {"type": "string", "pattern": "^[0-9]{1,4}x[0-9]{1,4}$"}]},
                     "description": "show each story's image: on, off, or its WIDTHxHEIGHT (default 160x90)"},
                ],
                "responses": {
                    "200": {"description": "the block (limit defaults to 5, as in the widget)",
                            "content": {"text/html": {"schema": {"type": "string"}}}},
                    "304": {"description": "not modified (If-None-Match)"},
                    "400": _json(_ref("Error"), "an invalid value, or a parameter the fragment does not take"),
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
            "AdminResult": {
                "type": "object",
                "required": ["model_version", "previous_version", "added", "replaced", "removed", "refused"],
                "properties": {
                    "model_version": {"type": "string"},
                    "previous_version": {"type": "string"},
                    "added": {"type": "array", "items": {"type": "string"}},
                    "replaced": {"type": "array", "items": {"type": "string"}},
                    "removed": {"type": "array", "items": {"type": "string"}},
                    "refused": {"type": "array", "items": {"type": "string"}},
                    "recomputed_lists": {"type": "integer"},
                    "n_articles": {"type": "integer"},
                    "retrain_recommended": {"type": "boolean"},
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
                                              "description": "the stories shown, in order (position 1 first)"}}},
                    {"type": "object", "additionalProperties": False,
                     "required": ["type", "list_id", "article_id", "model_version", "target", "position"],
                     "properties": {"type": {"const": "click"}, "list_id": _ref("Token"),
                                    "article_id": {"type": "string"}, "model_version": _ref("Token"),
                                    "target": {"type": "string"},
                                    "position": {"type": "integer", "minimum": 1, "maximum": 50}}},
                ],
            },
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
                },
            },
            "RelatedStory": {
                "type": "object",
                "required": ["id", "title", "url", "published_at", "score"],
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "url": _NULLABLE_STRING,
                    "published_at": _NULLABLE_STRING,
                    "score": {"type": "number"},
                    "explanation": _ref("Explanation"),
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
            "TextQuery": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "body": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "article_category": {"type": "string"},
                    "published_at": {"type": "string", "description": "ISO 8601; ages are measured from it"},
                    **_RANKING_BODY_PROPERTIES,
                },
            },
            "BatchQuery": {
                "type": "object",
                "required": ["ids"],
                "properties": {
                    "ids": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string"}},
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
                    "last_reload_error": _NULLABLE_STRING,
                    "retrain_recommended": {"type": "boolean"},
                    "added_since_fit": {"type": "integer"},
                },
            },
        }
    },
}


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(SPEC)
