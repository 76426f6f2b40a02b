"""The OpenAPI 3.1 description of the API, served at `/openapi.json` and checked against real responses.

The document says exactly what the server accepts (schemathesis checks it in the suite): bounds the
server enforces are in it, and `limit`'s maximum is the served model's K, filled in per request.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from service.admin import MAX_ARTICLES
from service.api import MAX_BATCH_IDS
from service.extensions import relatedly
from service.params import MAX_DAYS, MAX_EXCLUDE

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
_DAYS = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DAYS}
_RANKING_PARAMETERS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
     "description": "stories to return, 1…K (the model's top_k); default 10"},
    {"name": "exclude", "in": "query", "schema": {"type": "string"},
     "description": f"comma-separated ids to leave out (already on the page, already read), at most {MAX_EXCLUDE}"},
    {"name": "min_score", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 1},
     "description": "similarity floor; a list is never padded with weaker stories (default 0.1)"},
    {"name": "dedup", "in": "query", "schema": {"type": "boolean"},
     "description": "drop near-copies of the article and of each other (default true)"},
    {"name": "max_age_days", "in": "query", "schema": _DAYS,
     "description": "drop stories further than this many days from the article's date"},
    {"name": "half_life_days", "in": "query", "schema": _DAYS,
     "description": "halve a story's score for every this many days it is older than the article"},
    {"name": "diversity", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 1},
     "description": "0 = by score … 1 = most varied (MMR re-ranking)"},
    {"name": "category", "in": "query", "schema": {"type": "string", "enum": ["any", "prefer", "same"]},
     "description": "prefer or require the article's own category"},
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
    "explain": {"type": ["boolean", "null"]},
}
_ISO_DATE = {"anyOf": [{"type": "string", "format": "date-time"}, {"const": ""}, {"type": "null"}],
             "description": "ISO 8601"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_TEXT = {"type": "string", "pattern": r"\S"}  # some text that is not white space

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
                    "properties": {"articles": {"type": "array", "minItems": 1, "maxItems": MAX_ARTICLES,
                                                "items": _ref("ArticleInput")}}}}}},
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
            "ArticleInput": {
                "type": "object",
                "description": "one article as in the corpus; other fields are kept as extra metadata",
                "required": ["id", "title", "body"],
                "properties": {
                    "id": {"anyOf": [_TEXT, {"type": "integer"}]},
                    "title": _TEXT,
                    "body": {"type": "string"},
                    "url": _NULLABLE_STRING,
                    "category": _NULLABLE_STRING,
                    "published_at": _ISO_DATE,
                    "tags": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                                       {"type": "null"}]},
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
                    "published_at": {**_ISO_DATE, "description": "ISO 8601; ages are measured from it"},
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
                    "last_reload_error": _NULLABLE_STRING,
                    "retrain_recommended": {"type": "boolean"},
                    "added_since_fit": {"type": "integer"},
                },
            },
        }
    },
}


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
