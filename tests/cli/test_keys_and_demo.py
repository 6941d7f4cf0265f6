"""``sluice keys create|list|revoke`` and ``sluice demo --no-serve`` through the real CLI app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.auth.tokens import PERSONAL
from sluice.cli import app
from sluice.config import load_config
from sluice.stores.embedded.tokens import SqliteTokenStore
from tests.api.support import ALICE, write_project


@pytest.fixture()
def config(tmp_path: Path, demo_db: Path) -> Path:
    return write_project(tmp_path, demo_db)


def test_keys_create_list_revoke(config: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--config", str(config), "--name", "ci"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("sluice_org_") and len(secret) > 40

    personal = runner.invoke(
        app, ["keys", "create", "-c", str(config), "--personal", "--user", ALICE]
    )
    assert personal.exit_code == 0, personal.output
    pat = personal.stdout.strip().splitlines()[-1]
    state = load_config(config).server.state_dir
    store = SqliteTokenStore(state)
    try:
        token = store.lookup(pat)
        assert token is not None and token.kind == PERSONAL and token.user_id == ALICE
        org_token = store.lookup(secret)
        assert org_token is not None
    finally:
        store.close()

    listed = runner.invoke(app, ["keys", "list", "-c", str(config)])
    assert listed.exit_code == 0 and org_token.id in listed.stdout
    assert secret not in listed.stdout and pat not in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", org_token.id, "-c", str(config)])
    assert revoked.exit_code == 0, revoked.output
    listed = runner.invoke(app, ["keys", "list", "-c", str(config)])
    assert org_token.id not in listed.stdout
    assert org_token.id in runner.invoke(app, ["keys", "list", "-c", str(config), "--all"]).stdout


def test_keys_create_refuses_an_unknown_user(config: Path) -> None:
    result = CliRunner().invoke(
        app, ["keys", "create", "-c", str(config), "--personal", "--user", "nobody"]
    )
    assert result.exit_code == 2 and "no user" in result.output


def test_keys_revoke_unknown_id(config: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "revoke", "deadbeef", "-c", str(config)])
    assert result.exit_code == 1


def test_demo_prepares_a_project_with_a_working_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--dir", str(tmp_path / "demo"), "--scale", "0.005", "--no-serve"]
    )
    assert result.exit_code == 0, result.output
    key = re.search(r"^export KEY=(\S+)$", result.stdout, re.M)
    assert key is not None
    assert "curl -s -X POST $URL/api/v1/query/run" in result.stdout
    assert "order_items.created_at[month]" in result.stdout
    config = load_config(tmp_path / "demo" / "sluice.yaml")
    assert config.server.rate_limit_per_minute == 0
    store = SqliteTokenStore(config.server.state_dir)
    try:
        assert store.lookup(key.group(1)) is not None
    finally:
        store.close()
