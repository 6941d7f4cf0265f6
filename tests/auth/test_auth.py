"""Contract §2: the bearer header, token kinds, impersonation, organizations, rate limits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sluice.auth.principal import Authenticator, InvalidToken
from sluice.auth.tokens import ORGANIZATION, PERSONAL
from sluice.config import UserConfig
from sluice.stores.embedded.tokens import SqliteTokenStore
from tests.api.support import ALICE, BOB, ApiClient, ApiFactory, Keys, job_lines

BAD_HEADER = {
    "detail": "Bad authorization header, must be formatted as Bearer <token>",
    "status": 400,
}
INVALID_TOKEN = {"error": {"code": 403, "message": "Invalid bearer token"}}
PATHS = [
    ("POST", "/api/v1/query/run"),
    ("GET", "/api/v1/query/wait?job_ids=a"),
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/models"),
    ("GET", "/api/v1/models/x/topic"),
    ("GET", "/api/v1/models/x/topic/order_items"),
    ("GET", "/api/v1/models/x/view"),
]


def query(api: ApiClient) -> dict[str, object]:
    return {"query": {"modelId": api.model_id(), "table": "users", "fields": ["users.count"]}}


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("header", [None, "", "Token abc", "Bearer", "Bearer  ", "Bearer a b"])
def test_a_missing_or_malformed_header_is_400(
    api: ApiClient, method: str, path: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = api.request(method, path, headers=headers, json={})
    assert response.status_code == 400
    assert response.json() == BAD_HEADER


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_an_unknown_token_is_403(api: ApiClient, method: str, path: str) -> None:
    response = api.request(method, path, key="sluice_org_not-a-real-key", json={})
    assert response.status_code == 403
    assert response.json() == INVALID_TOKEN


def test_revoked_and_expired_tokens_are_403(api: ApiClient, keys: Keys) -> None:
    for key in (keys.revoked, keys.expired):
        response = api.get("/api/v1/whoami", key=key)
        assert (response.status_code, response.json()) == (403, INVALID_TOKEN)


def test_the_bearer_scheme_is_case_insensitive(api: ApiClient, keys: Keys) -> None:
    response = api.get("/api/v1/whoami", headers={"Authorization": f"bearer {keys.org}"})
    assert response.status_code == 200


def test_a_personal_token_cannot_act_as_another_user(api: ApiClient, keys: Keys) -> None:
    for params, body in (({"userId": BOB}, {}), ({}, {"userId": BOB})):
        response = api.post(
            "/api/v1/query/run", key=keys.alice, params=params, json={**query(api), **body}
        )
        assert response.status_code == 403
        assert response.json() == {
            "detail": "User-scoped API keys can only be used to act as their own user",
            "status": 403,
        }


def test_impersonating_an_unknown_user_is_404(api: ApiClient, keys: Keys) -> None:
    response = api.post(
        "/api/v1/query/run", key=keys.org, params={"userId": "nobody"}, json=query(api)
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "User nobody not found", "status": 404}


def test_another_organizations_job_looks_like_an_unknown_job(api: ApiClient, keys: Keys) -> None:
    (job,) = job_lines(api.run(query(api)["query"], key=keys.org))  # type: ignore[arg-type]
    mine = api.get("/api/v1/query/wait", key=keys.org, params={"jobIds": job["job_id"]})
    assert '"status":"COMPLETE"' in mine.text
    theirs = api.get("/api/v1/query/wait", key=keys.other_org, params={"jobIds": job["job_id"]})
    never = api.get(
        "/api/v1/query/wait",
        key=keys.other_org,
        params={"jobIds": "11111111-1111-4111-8111-111111111111"},
    )
    unknown = {"job_id": job["job_id"], "status": "FAILED", "error_message": "Unable to find job"}
    footer = {"remaining_job_ids": [], "timed_out": "false"}
    assert theirs.text == f"{_compact(unknown)}\n{_compact(footer)}\n"
    assert never.text.replace("11111111-1111-4111-8111-111111111111", job["job_id"]) == theirs.text


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def test_whoami_reports_scope_and_roles(api: ApiClient, keys: Keys) -> None:
    org = api.get("/api/v1/whoami", key=keys.org).json()
    assert org["keyScope"] == "organization" and org["user"]["id"] is None
    assert org["orgRole"] == "ADMIN"
    roles = org["rolesByModel"]
    assert set(roles) == {api.model_id(), api.model_id("lab")}
    assert "QUERY_TOPICS" in roles[api.model_id()]["permissions"]
    alice = api.get("/api/v1/whoami", key=keys.alice).json()
    assert alice["keyScope"] == "user"
    assert alice["user"] == {
        "id": ALICE, "membershipId": ALICE, "email": "alice@example.com", "name": "Alice",
    }  # fmt: skip
    assert "QUERY_SQL" not in alice["rolesByModel"][api.model_id()]["permissions"]
    assert "QUERY_SQL" not in org["rolesByModel"][api.model_id()]["permissions"]
    bob = api.get("/api/v1/whoami", key=keys.org).json()  # the org key itself is no user
    assert bob["user"]["id"] is None
    only = api.get("/api/v1/whoami", key=keys.org, params={"modelId": api.model_id()}).json()
    assert set(only["rolesByModel"]) == {api.model_id()}


def test_rate_limit_answers_429_with_retry_after(api_factory: ApiFactory) -> None:
    limited = api_factory(rate_limit_per_minute=2)
    key = limited.keys.org
    assert limited.get("/api/v1/whoami", key=key).status_code == 200
    assert limited.get("/api/v1/whoami", key=key).status_code == 200
    response = limited.get("/api/v1/whoami", key=key)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["status"] == 429 and "Rate limit" in response.json()["detail"]
    # The bucket is per token: another token is not limited.
    assert limited.get("/api/v1/whoami", key=limited.keys.alice).status_code == 200


def test_tokens_are_stored_only_as_hashes(tmp_path: Path) -> None:
    store = SqliteTokenStore(tmp_path)
    secret, token = store.create(ORGANIZATION, "org")
    store.close()
    raw = (tmp_path / "sluice.db").read_bytes()
    assert secret.encode() not in raw and secret[len(token.prefix) :].encode() not in raw
    store = SqliteTokenStore(tmp_path)
    try:
        assert store.lookup(secret) == token
        assert store.lookup(secret + "x") is None
    finally:
        store.close()


def test_a_revoked_key_stops_working_on_a_running_server(tmp_path: Path) -> None:
    store = SqliteTokenStore(tmp_path)
    secret, token = store.create(PERSONAL, "org", user_id="u1")
    auth = Authenticator(store, [UserConfig(id="u1", email="u1@x")], revalidate_s=0.0)

    async def check() -> None:
        principal = await auth.authenticate(f"Bearer {secret}")
        assert principal.user is not None and principal.user.id == "u1"
        store.revoke(token.id)
        with pytest.raises(InvalidToken):
            await auth.authenticate(f"Bearer {secret}")

    try:
        asyncio.run(check())
    finally:
        store.close()


def test_a_personal_token_whose_user_left_the_config_is_invalid(tmp_path: Path) -> None:
    store = SqliteTokenStore(tmp_path)
    secret, _ = store.create(PERSONAL, "org", user_id="gone")
    auth = Authenticator(store, [])
    try:
        with pytest.raises(InvalidToken):
            asyncio.run(auth.authenticate(f"Bearer {secret}"))
    finally:
        store.close()
