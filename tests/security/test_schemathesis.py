"""A bounded schemathesis run against the server's own ``/openapi.json``: every operation gets
generated requests, valid and invalid, with a real organization key (so they reach the
handlers) and, for a query, a real model id half of the time; no answer may be a 5xx.

Bounded for CI: ``MAX_EXAMPLES`` per operation (about a minute in all on a shared machine)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from sluice.api.openapi import openapi_document
from tests.api.support import ApiClient, open_api

MAX_EXAMPLES = 25

schema = schemathesis.openapi.from_dict(openapi_document("test"))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Iterator[ApiClient]:
    client = open_api(
        tmp_path_factory.mktemp("schemathesis"), demo_db, run_window_s=1, wait_window_s=1
    )
    yield client
    client.close()


def request_of(case: Any, app: ApiClient) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url="http://sluice.test")
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "connection"}
    headers["Authorization"] = f"Bearer {app.keys.org}"
    out: dict[str, Any] = {"headers": headers, "params": kwargs.get("params") or {}}
    body = kwargs.get("json")
    half = zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode()) % 2
    if isinstance(body, dict) and isinstance(body.get("query"), dict) and half:
        body["query"]["modelId"] = app.model_id()
    if "json" in kwargs:
        out["content"] = json.dumps(kwargs["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        out["content"] = data if isinstance(data, bytes) else str(data).encode()
    path = kwargs["url"].removeprefix("http://sluice.test")
    return {"method": kwargs["method"], "url": path, **out}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_generated_request_gets_a_5xx(case: Any, app: ApiClient) -> None:
    request = request_of(case, app)
    response = app.request(request.pop("method"), request.pop("url"), **request)
    assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
