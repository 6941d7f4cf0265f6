"""Contract §10: models (pagination, filters), topics, topic detail, views, and /openapi.json."""

from __future__ import annotations

import pytest

from tests.api.support import ApiClient, Keys

FIELD_KEYS = {
    "field_name", "fully_qualified_name", "view_name", "label", "data_type", "is_dimension",
    "aggregate_type", "format", "hidden", "description",
}  # fmt: skip


def test_models_lists_every_model(api: ApiClient, keys: Keys) -> None:
    body = api.get("/api/v1/models", key=keys.org).json()
    assert body["pageInfo"] == {
        "hasNextPage": False, "nextCursor": None, "pageSize": 20, "totalRecords": 2,
    }  # fmt: skip
    names = [r["name"] for r in body["records"]]
    assert names == ["ecommerce", "lab"]
    record = body["records"][0]
    assert set(record) == {
        "id", "name", "modelKind", "connectionId", "baseModelId", "createdAt", "updatedAt",
        "deletedAt",
    }  # fmt: skip
    assert record["id"] == api.model_id() and record["modelKind"] == "SHARED"


def test_models_cursor_pagination_walks_every_page(api: ApiClient, keys: Keys) -> None:
    first = api.get("/api/v1/models", key=keys.org, params={"pageSize": 1}).json()
    assert first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["totalRecords"] == 2
    cursor = first["pageInfo"]["nextCursor"]
    second = api.get(
        "/api/v1/models", key=keys.org, params={"pageSize": 1, "cursor": cursor}
    ).json()
    assert second["pageInfo"]["hasNextPage"] is False and second["pageInfo"]["nextCursor"] is None
    assert [r["name"] for r in first["records"] + second["records"]] == ["ecommerce", "lab"]


def test_models_filters(api: ApiClient, keys: Keys) -> None:
    by_name = api.get("/api/v1/models", key=keys.org, params={"name": "ECOMMERCE"}).json()
    assert [r["name"] for r in by_name["records"]] == ["ecommerce"]
    by_id = api.get("/api/v1/models", key=keys.org, params={"modelId": api.model_id("lab")}).json()
    assert [r["name"] for r in by_id["records"]] == ["lab"]
    none = api.get("/api/v1/models", key=keys.org, params={"name": "ecomm"}).json()
    assert none["records"] == [] and none["pageInfo"]["totalRecords"] == 0


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "101"}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"modelId": "ecommerce"}, "modelId must be a UUID"),
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"sort": "name"}, "Unknown query parameter 'sort'"),
    ],
)
def test_models_bad_parameters_are_400(
    api: ApiClient, keys: Keys, params: dict[str, str], detail: str
) -> None:
    response = api.get("/api/v1/models", key=keys.org, params=params)
    assert response.status_code == 400
    assert detail in response.json()["detail"] and response.json()["status"] == 400


def test_topic_list(api: ApiClient, keys: Keys) -> None:
    body = api.get(f"/api/v1/models/{api.model_id()}/topic", key=keys.org).json()
    assert body["success"] is True
    by_name = {t["name"]: t for t in body["topics"]}
    assert set(by_name) == {"order_items", "users", "events"}
    assert by_name["order_items"] == {
        "name": "order_items",
        "base_view_name": "order_items",
        "label": "Order Items",
        "description": by_name["order_items"]["description"],
        "group_label": None,
        "hidden": False,
    }


def test_topic_detail_has_typed_fields_and_relationships(api: ApiClient, keys: Keys) -> None:
    """The shapes of omni-model-api.md §6: short field names, qualified names beside them,
    views with their tables and keys, the join path to each view, Omni's relationship keys."""
    body = api.get(f"/api/v1/models/{api.model_id()}/topic/order_items", key=keys.org).json()
    topic = body["topic"]
    assert body["success"] is True and topic["name"] == "order_items"
    views = {v["name"]: v for v in topic["views"]}
    assert {"order_items", "users", "inventory_items", "products"} <= set(views)
    measures = {f["fully_qualified_name"]: f for f in views["order_items"]["measures"]}
    revenue = measures["order_items.total_sale_price"]
    assert set(revenue) == FIELD_KEYS | {"type"}
    assert revenue["field_name"] == "total_sale_price"
    assert revenue["view_name"] == "order_items"
    assert revenue["type"] == "aggregation" and revenue["aggregate_type"] == "SUM"
    assert revenue["data_type"] == "NUMBER"
    assert revenue["format"] == {"value": "usdcurrency_2"} and revenue["is_dimension"] is False
    dims = {f["fully_qualified_name"]: f for f in views["order_items"]["dimensions"]}
    created = dims["order_items.created_at"]
    assert created["field_name"] == "created_at" and created["data_type"] == "TIMESTAMP"
    assert {"raw", "date", "month", "year"} <= set(created["time_frames"])
    assert dims["order_items.status"]["is_dimension"] is True
    assert dims["order_items.status"]["time_frames"] == []
    order_items, users_view = views["order_items"], views["users"]
    assert order_items["table_name"] == "order_items" and order_items["primary_key"] == "id"
    assert users_view["primary_key"] == "id" and "schema" in users_view
    assert topic["join_via_map"]["users"] == ["order_items"]
    assert topic["join_via_map"]["products"] == ["order_items", "inventory_items"]
    assert topic["base_view_name"] == "order_items"
    assert isinstance(topic["default_filters"], dict)
    assert isinstance(topic["always_where_filters"], dict)
    edges = {(r["left_view_name"], r["right_view_name"]): r for r in topic["relationships"]}
    users = edges[("order_items", "users")]
    assert users["type"] == "MANY_TO_ONE" and users["join_type"] == "ALWAYS_LEFT"
    assert users["relationship_type"] == "many_to_one" and users["id"]
    assert "users.id" in users["sql"] or "${users.id}" in users["sql"]
    assert ("inventory_items", "products") in edges
    assert topic["schema_refreshed_at"].endswith("Z")


def test_summary_fields_use_short_field_names(api: ApiClient, keys: Keys) -> None:
    query = {
        "modelId": api.model_id(),
        "join_paths_from_topic_name": "order_items",
        "fields": ["order_items.created_at[month]", "users.state", "order_items.count"],
        "limit": 5,
    }
    lines = api.run(query, key=keys.org)
    fields = lines[1]["summary"]["fields"]
    assert set(fields) == set(query["fields"])  # keyed as requested
    assert fields["users.state"]["field_name"] == "state"
    assert fields["users.state"]["fully_qualified_name"] == "users.state"
    month = fields["order_items.created_at[month]"]
    assert month["field_name"] == "created_at[month]"
    assert month["fully_qualified_name"] == "order_items.created_at[month]"


def test_an_unknown_topic_is_404(api: ApiClient, keys: Keys) -> None:
    response = api.get(f"/api/v1/models/{api.model_id()}/topic/nope", key=keys.org)
    assert response.status_code == 404
    assert response.json() == {"detail": "Topic nope not found", "status": 404}


def test_view_list(api: ApiClient, keys: Keys) -> None:
    body = api.get(f"/api/v1/models/{api.model_id()}/view", key=keys.org).json()
    views = {v["name"]: v for v in body["views"]}
    assert body["success"] is True and "distribution_centers" in views
    fields = {f["name"]: f["type"] for f in views["order_items"]["fields"]}
    assert fields["order_items.count"] == "measure"
    assert fields["order_items.status"] == "dimension"
    assert set(views["users"]) == {"name", "label", "description", "hidden", "fields"}


@pytest.mark.parametrize("suffix", ["topic", "topic/order_items", "view"])
@pytest.mark.parametrize("model", ["00000000-0000-4000-8000-000000000000", "not-a-uuid"])
def test_an_unknown_model_is_404(api: ApiClient, keys: Keys, suffix: str, model: str) -> None:
    response = api.get(f"/api/v1/models/{model}/{suffix}", key=keys.org)
    assert response.status_code == 404
    assert response.json() == {"detail": f"Model {model} not found", "status": 404}


def test_openapi_document_describes_every_endpoint(api: ApiClient) -> None:
    doc = api.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/query/run",
        "/api/v1/query/wait",
        "/api/unstable/query/run",
        "/api/v1/whoami",
        "/api/v1/models",
        "/api/v1/models/{modelId}/topic",
        "/api/v1/models/{modelId}/topic/{topicName}",
        "/api/v1/models/{modelId}/view",
        "/api/v1/query/jobs/{jobId}",
        "/api/v1/query/jobs",
    ):
        assert path in doc["paths"], path
    assert {"delete", "get"} <= set(doc["paths"]["/api/v1/query/jobs/{jobId}"])
    for path in ("/healthz", "/readyz", "/metrics"):
        assert doc["paths"][path]["get"]["security"] == []  # no token: load balancers, scrapers
    run = doc["paths"]["/api/v1/query/run"]["post"]
    assert "text/ndjson" in run["responses"]["200"]["content"]
    assert "text/csv" in run["responses"]["200"]["content"]
    assert run["responses"]["408"]["content"]["application/json"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    history = doc["paths"]["/api/v1/query/jobs"]["get"]
    assert {p["name"] for p in history["parameters"]} == {"limit", "cursor", "status", "userId"}
    assert "progress" in doc["components"]["schemas"]["JobProgress"]["properties"]
