"""Error envelopes for routing errors and internal failures: never a stack trace on the wire."""

from __future__ import annotations

import logging

import pytest

from tests.api.support import ApiClient, ApiFactory, Keys


def test_an_unknown_path_is_a_404_envelope(api: ApiClient, keys: Keys) -> None:
    response = api.get("/api/v1/nothing-here", key=keys.org)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "status": 404}


def test_a_wrong_method_is_a_405_envelope(api: ApiClient, keys: Keys) -> None:
    response = api.get("/api/v1/query/run", key=keys.org)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed", "status": 405}


def test_an_internal_error_is_a_generic_500_with_a_request_id(
    api_factory: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = api_factory()

    def explode(model_id: str) -> None:
        raise RuntimeError("secret internals: /etc/passwd")

    app.services.project.model = explode
    body = {"query": {"modelId": app.model_id(), "table": "users", "fields": ["users.count"]}}
    with caplog.at_level(logging.ERROR, logger="sluice.api"):
        response = app.post("/api/v1/query/run", key=app.keys.org, json=body)
    assert response.status_code == 500
    payload = response.json()
    request_id = payload["request_id"]
    assert payload == {
        "detail": f"Internal server error (request id {request_id})",
        "status": 500,
        "request_id": request_id,
    }
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.headers["X-Request-Id"] == request_id
    assert any(request_id in r.getMessage() for r in caplog.records)


def test_an_internal_error_inside_a_job_is_an_error_line(api_factory: ApiFactory) -> None:
    app = api_factory()

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    app.services.project.compile = explode
    lines = app.run(
        {"modelId": app.model_id(), "table": "users", "fields": ["users.count"]}, key=app.keys.org
    )
    job = lines[1]
    assert job["status"] == "ERROR" and job["error_type"] == "INTERNAL"
    assert "secret" not in job["error_message"] and job["job_id"] in job["error_message"]
