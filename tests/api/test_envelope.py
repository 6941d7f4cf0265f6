"""Every 400 of contract §3, with its exact envelope, and the other request-level errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluice.api.budgets import Budgets
from sluice.api.envelope import REMEMBERED_BODY_BYTES, parse_run_body
from sluice.config import model_uuid
from sluice.errors import BadRequest, UserError
from sluice.query.spec import parse_query
from tests.api.support import ALICE, ApiClient, Keys

MODEL = model_uuid("ecommerce")  # the demo model's id, derived from its name
OK_QUERY = {"modelId": MODEL, "table": "users", "fields": ["users.count"]}


def q(**changes: Any) -> dict[str, Any]:
    return {**OK_QUERY, **changes}


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("no query", {}, "query is required"),
    ("query null", {"query": None}, "query is required"),
    ("query is a list", {"query": []}, "query must be an object"),
    ("query is a string", {"query": "users.count"}, "query must be an object"),
    ("no modelId", {"query": {"fields": ["users.count"]}}, "query.modelId is required"),
    ("modelId not a UUID", {"query": q(modelId="ecommerce")}, "query.modelId must be a UUID"),
    ("modelId a number", {"query": q(modelId=12)}, "query.modelId must be a UUID"),
    ("fields not an array", {"query": q(fields="users.count")}, "query.fields must be an array"),
    (
        "fields not strings",
        {"query": q(fields=["users.count", 3])},
        "query.fields must be an array",
    ),
    ("limit zero", {"query": q(limit=0)}, "query.limit must be a positive integer or null"),
    ("limit negative", {"query": q(limit=-5)}, "query.limit must be a positive integer or null"),
    ("limit string", {"query": q(limit="10")}, "query.limit must be a positive integer or null"),
    ("limit float", {"query": q(limit=1.5)}, "query.limit must be a positive integer or null"),
    ("limit bool", {"query": q(limit=True)}, "query.limit must be a positive integer or null"),
    ("cache outside enum", {"query": OK_QUERY, "cache": "Always"}, "cache must be one of"),
    (
        "planOnly with resultType",
        {"query": OK_QUERY, "planOnly": True, "resultType": "csv"},
        "planOnly and resultType cannot both be provided",
    ),
    (
        "formatResults without resultType",
        {"query": OK_QUERY, "formatResults": True},
        "formatResults cannot be provided without resultType",
    ),
    (
        "branchId inside query",
        {"query": q(branchId="0f8fad5b-d9cb-469f-a165-70867728950e")},
        "branchId must be given at the top level",
    ),
    (
        "unlimited pivot",
        {"query": q(limit=None, pivots=["users.state"])},
        "Unlimited limit (null) cannot be used with pivoted queries",
    ),
    (
        "resultType unknown",
        {"query": OK_QUERY, "resultType": "parquet"},
        "resultType must be one of",
    ),
    ("planOnly not bool", {"query": OK_QUERY, "planOnly": "yes"}, "planOnly must be a boolean"),
    ("bad time zone", {"query": OK_QUERY, "timezone": "Mars/Olympus"}, "timezone must be an IANA"),
    (
        "branchId not a UUID",
        {"query": OK_QUERY, "branchId": "main"},
        "branchId must be a UUID",
    ),
    ("body is a list", [OK_QUERY], "The request body must be a JSON object"),
]


@pytest.mark.parametrize(
    ("body", "detail"), [(b, d) for _, b, d in BAD_BODIES], ids=[n for n, _, _ in BAD_BODIES]
)
def test_bad_run_bodies_are_400_with_a_clear_detail(
    api: ApiClient, keys: Keys, body: Any, detail: str
) -> None:
    response = api.post("/api/v1/query/run", key=keys.org, json=body)
    assert response.status_code == 400
    payload = response.json()
    assert set(payload) == {"detail", "status"} and payload["status"] == 400
    assert detail in payload["detail"]


# Errors the query parser finds (not only the envelope's own checks): a 400 at the edge, with
# the parser's message, and the same message from every entry point (HTTP and in process).
BAD_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("sorts not an array", q(sorts="users.count")),
    ("sort without column_name", q(sorts=[{"sort_descending": True}])),
    ("sort null_sort unknown", q(sorts=[{"column_name": "users.count", "null_sort": "MIDDLE"}])),
    ("offset negative", q(offset=-1)),
    ("pivot not in fields", q(pivots=["users.state"])),
    ("column_limit zero", q(column_limit=0)),
    ("calculations not objects", q(calculations=["x"])),
    ("userEditedSQL not a string", q(userEditedSQL=5)),
    ("topic not a string", q(join_paths_from_topic_name=3)),
    ("filter kind unknown", q(filters={"users.created_at": {"type": "date", "kind": "NOPE"}})),
    ("filter not an object", q(filters={"users.state": 5})),
]


@pytest.mark.parametrize("query", [b for _, b in BAD_QUERIES], ids=[n for n, _ in BAD_QUERIES])
def test_every_query_error_is_a_400_with_the_parsers_message(
    api: ApiClient, keys: Keys, query: dict[str, Any]
) -> None:
    with pytest.raises(UserError) as parsed:
        parse_query(query)
    response = api.post("/api/v1/query/run", key=keys.org, json={"query": query})
    assert response.status_code == 400
    assert response.json() == {"detail": parsed.value.message, "status": 400}


def test_body_that_is_not_json_is_400(api: ApiClient, keys: Keys) -> None:
    response = api.post(
        "/api/v1/query/run", key=keys.org, content=b"{nope", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The request body is not valid JSON", "status": 400}


def test_user_id_in_both_places_is_400(api: ApiClient, keys: Keys) -> None:
    response = api.post(
        "/api/v1/query/run",
        key=keys.org,
        params={"userId": ALICE},
        json={"query": OK_QUERY, "userId": ALICE},
    )
    assert response.status_code == 400
    assert "not both" in response.json()["detail"]


def test_null_limit_without_pivots_is_accepted(api: ApiClient, keys: Keys) -> None:
    response = api.post("/api/v1/query/run", key=keys.org, json={"query": q(limit=None)})
    assert response.status_code == 200


def test_limit_null_with_pivots_needs_result_type_only_when_pivots_are_non_empty(
    api: ApiClient, keys: Keys
) -> None:
    response = api.post("/api/v1/query/run", key=keys.org, json={"query": q(limit=None, pivots=[])})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "policy", ["Standard", "SkipRequery", "SkipCache", "SkipCacheAndRebuildExtracts"]
)
def test_every_cache_policy_is_accepted(api: ApiClient, keys: Keys, policy: str) -> None:
    response = api.post(
        "/api/v1/query/run", key=keys.org, json={"query": OK_QUERY, "cache": policy}
    )
    assert response.status_code == 200


def test_an_unknown_model_is_404(api: ApiClient, keys: Keys) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    response = api.post("/api/v1/query/run", key=keys.org, json={"query": q(modelId=unknown)})
    assert response.status_code == 404
    assert response.json() == {"detail": f"Model {unknown} not found", "status": 404}


def test_a_valid_time_zone_is_accepted(api: ApiClient, keys: Keys) -> None:
    response = api.post(
        "/api/v1/query/run", key=keys.org, json={"query": OK_QUERY, "timezone": "America/New_York"}
    )
    assert response.status_code == 200 and '"COMPLETE"' in response.text


def test_an_oversized_body_is_400(api: ApiClient, keys: Keys) -> None:
    huge = {"query": {**OK_QUERY, "padding": "x" * (5 << 20)}}
    response = api.post("/api/v1/query/run", key=keys.org, json=huge)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The request body is larger than 4 MB (server.max_body_mb)",
        "status": 400,
    }


def test_a_body_seen_before_is_parsed_once_and_a_bad_one_every_time() -> None:
    body = json.dumps({"query": q(), "cache": "SkipCache"}).encode()
    first = parse_run_body(body, Budgets())
    assert parse_run_body(body, Budgets()) is first  # remembered
    assert parse_run_body(body, Budgets(max_fields=1)) is not first  # other budgets: anew
    big = json.dumps({"query": q(), "pad": "x" * REMEMBERED_BODY_BYTES}).encode()
    assert parse_run_body(big, Budgets()) is not parse_run_body(big, Budgets())
    bad = json.dumps({"query": q(fields=[1])}).encode()
    for _ in range(2):
        with pytest.raises(BadRequest, match="fields"):
            parse_run_body(bad, Budgets())
