"""The model API's bodies are read within the server's budgets, like the query API's: JSON
nested too deeply, invalid Unicode and oversize bodies are a 400 naming the problem (the YAML
write and branch endpoints answered 500 for a deep body before)."""

from __future__ import annotations

import pytest

from tests.api.support import ApiClient

DEEP = b"[" * 5000 + b"]" * 5000
SURROGATE = b'{"fileName": "x.view", "yaml": "label: \\ud800"}'


@pytest.mark.parametrize("path", ["/yaml", "", "/branch/b1/merge"])
def test_a_deeply_nested_body_is_a_400(api: ApiClient, path: str) -> None:
    url = f"/api/v1/models/{api.model_id()}{path}" if path else "/api/v1/models"
    response = api.post(
        url, key=api.keys.org, content=DEEP, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.json()["detail"]


def test_invalid_unicode_in_a_yaml_write_is_a_400(api: ApiClient) -> None:
    response = api.post(
        f"/api/v1/models/{api.model_id()}/yaml",
        key=api.keys.org,
        content=SURROGATE,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "not valid Unicode" in response.json()["detail"]


def test_an_oversize_yaml_write_is_a_400(api: ApiClient) -> None:
    big = b'{"fileName": "x.view", "yaml": "' + b"a" * (5 << 20) + b'"}'
    response = api.post(
        f"/api/v1/models/{api.model_id()}/yaml",
        key=api.keys.org,
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "server.max_body_mb" in response.json()["detail"]
