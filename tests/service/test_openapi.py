"""`/openapi.json` stays true: real responses validate against it, and fuzzed requests never get a 5xx."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.conftest import SPACE_STATION_ID


@pytest.fixture()
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _validate(spec: dict, path: str, method: str, response) -> None:
    """Validate a response body against the schema the spec gives for its status."""
    declared = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in declared, f"{method.upper()} {path} answered undeclared {response.status_code}"
    content = declared[str(response.status_code)].get("content")
    if content is None:
        return
    schema = {**content["application/json"]["schema"], "components": spec["components"]}
    Draft202012Validator(schema).validate(response.get_json())


RELATED = "/v1/articles/{article_id}/related"


@pytest.mark.parametrize(
    ("method", "path", "url", "body"),
    [
        ("get", RELATED, f"/v1/articles/{SPACE_STATION_ID}/related?limit=3&explain=true", None),
        ("get", RELATED, "/v1/articles/unknown/related", None),
        ("get", RELATED, f"/v1/articles/{SPACE_STATION_ID}/related?diversity=7", None),
        ("get", "/v1/articles/{article_id}", f"/v1/articles/{SPACE_STATION_ID}", None),
        ("get", "/v1/articles/{article_id}", "/v1/articles/unknown", None),
        ("post", "/v1/related", "/v1/related", {"title": "Crew docks at the station", "body": "", "explain": True}),
        ("post", "/v1/related", "/v1/related", {"title": 3}),
        ("post", "/v1/related:batch", "/v1/related:batch", {"ids": [SPACE_STATION_ID, "unknown"], "limit": 2}),
        ("post", "/v1/related:batch", "/v1/related:batch", {"ids": []}),
        ("get", "/healthz", "/healthz", None),
        ("get", "/readyz", "/readyz", None),
    ],
)
def test_real_responses_match_the_spec(client, spec, method, path, url, body) -> None:
    response = client.get(url) if method == "get" else client.post(url, json=body)
    _validate(spec, path, method, response)


def test_every_route_is_documented(app, spec) -> None:
    documented = {re.sub(r"\{(\w+)\}", r"<path:\1>", p) for p in spec["paths"]}
    routes = {re.sub(r"<\w+:(\w+)>", r"<path:\1>", rule.rule) for rule in app.url_map.iter_rules()
              if not rule.endpoint.endswith("static")}
    assert routes - {"/openapi.json"} == documented


_values = st.one_of(st.text(max_size=12), st.integers(-10, 1000).map(str), st.floats(allow_nan=True).map(str),
                    st.sampled_from(["true", "false", "any", "same", "prefer", ""]))
_params = st.dictionaries(
    st.sampled_from(["limit", "exclude", "min_score", "dedup", "max_age_days", "half_life_days", "diversity",
                     "category", "explain", "other"]),
    _values,
    max_size=5,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=_params, article_id=st.one_of(st.just(SPACE_STATION_ID), st.text(min_size=1, max_size=20)))
def test_fuzzed_get_requests_never_fail_on_the_server(client, spec, params, article_id) -> None:
    response = client.get(f"/v1/articles/{quote(article_id, safe='')}/related", query_string=params)
    assert response.status_code < 500
    if response.status_code != 404 or response.is_json:
        _validate(spec, RELATED, "get", response)


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_body = st.dictionaries(
    st.sampled_from(["title", "body", "tags", "limit", "exclude", "min_score", "diversity", "category", "explain",
                     "published_at", "article_category", "ids", "dedup"]),
    _json_values,
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_body, path=st.sampled_from(["/v1/related", "/v1/related:batch"]))
def test_fuzzed_post_bodies_never_fail_on_the_server(client, spec, body, path) -> None:
    response = client.post(path, json=body)
    assert response.status_code < 500, response.get_json()
    _validate(spec, path, "post", response)


# --- the document says exactly what the server accepts (issue 14) -----------------------------------------------


def _schema(spec: dict, name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def test_limit_maximum_is_the_served_models_k(app, spec) -> None:
    top_k = app.extensions["relatedly"].store.current().model.top_k
    related = spec["paths"][RELATED]["get"]["parameters"]
    limits = [p["schema"] for p in related if p["name"] == "limit"]
    limits += [spec["components"]["schemas"][name]["properties"]["limit"] for name in ("TextQuery", "BatchQuery")]
    assert [schema["maximum"] for schema in limits] == [top_k] * 3


@pytest.mark.parametrize(("limit", "status"), [("5.0", 200), ("5", 200), ("5.5", 400), ("1e1", 200), ("nan", 400)])
def test_integral_floats_are_integers(client, limit: str, status: int) -> None:
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit={limit}")
    assert response.status_code == status
    if status == 200:
        assert response.get_json()["limit"] == int(float(limit))
    assert client.post("/v1/related:batch", json={"ids": [SPACE_STATION_ID], "limit": 3.0}).status_code == 200


def test_a_405_names_the_allowed_methods(client) -> None:
    response = client.put(f"/v1/articles/{SPACE_STATION_ID}/related")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in {method.strip() for method in response.headers["Allow"].split(",")}


@pytest.mark.parametrize("body", [{}, {"title": " \n"}, {"title": "", "body": "\t"}])
def test_a_text_query_without_text_is_refused_by_both(client, spec, body: dict) -> None:
    assert not _schema(spec, "TextQuery").is_valid(body)
    assert client.post("/v1/related", json=body).status_code == 400
    assert _schema(spec, "TextQuery").is_valid({**body, "body": "some text"})


def test_an_empty_admin_upsert_is_refused_by_both(spec) -> None:
    operation = spec["paths"]["/v1/admin/articles"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    assert not validator.is_valid({"articles": []})
    assert validator.is_valid({"articles": [{"id": "a", "title": "A", "body": ""}]})
