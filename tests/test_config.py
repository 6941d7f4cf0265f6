"""sluice.yaml: paths relative to the file, stable model ids, clear errors, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.config import load_config, model_uuid
from sluice.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "models" / "shop").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "w.duckdb").write_bytes(b"")
    path = tmp_path / "sluice.yaml"
    path.write_text(text)
    return path


GOOD = """
connections:
  warehouse: {engine: duckdb, database: data/w.duckdb}
models:
  shop: {connection: warehouse, path: models/shop}
server: {run_window_s: 2.5, max_rows: 100}
users:
  - {id: u1, email: a@example.com, attributes: {region: EU}}
"""


def test_paths_are_relative_to_the_file_and_ids_are_stable(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={})
    assert config.connections["warehouse"].database == tmp_path / "data" / "w.duckdb"
    assert config.models["shop"].path == tmp_path / "models" / "shop"
    assert (
        config.models["shop"].id
        == model_uuid("shop")
        == load_config(tmp_path / "sluice.yaml", env={}).models["shop"].id
    )
    assert config.server.run_window_s == 2.5 and config.server.max_rows == 100
    assert config.server.state_dir == tmp_path / ".sluice"
    assert config.users[0].attributes == {"region": "EU"}
    assert config.model_by_id(model_uuid("shop")) is config.models["shop"]


def test_environment_overrides_server_settings(tmp_path: Path) -> None:
    env = {
        "SLUICE_SERVER_RUN_WINDOW_S": "0.5",
        "SLUICE_SERVER_HIGH_LIMIT": "true",
        "SLUICE_SERVER_PORT": "9001",
    }
    server = load_config(write(tmp_path, GOOD), env=env).server
    assert (server.run_window_s, server.high_limit, server.port) == (0.5, True, 9001)
    with pytest.raises(ConfigError, match="SLUICE_SERVER_PORT: 'abc' is not a valid int"):
        load_config(tmp_path / "sluice.yaml", env={"SLUICE_SERVER_PORT": "abc"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("server:", "sever:"), "unknown key `sever`; did you mean `server`"),
        (
            GOOD.replace("run_window_s", "run_windw_s"),
            "unknown key `run_windw_s`; did you mean `run_window_s`",
        ),
        (
            GOOD.replace("engine: duckdb", "engine: duckbd"),
            "unknown engine `duckbd`; did you mean `duckdb`",
        ),
        (
            GOOD.replace("data/w.duckdb", "data/missing.duckdb"),
            "database file .*missing.duckdb.* does not exist",
        ),
        (
            GOOD.replace("path: models/shop", "path: models/nope"),
            "model folder .*nope.* does not exist",
        ),
        (GOOD.replace("connection: warehouse", "connection: whse"), "unknown connection `whse`"),
        (GOOD.replace("models:\n  shop: {", "models:\n  shop: {id: not-a-uuid, "), "is not a UUID"),
        (
            GOOD.replace("max_rows: 100", "max_rows: lots"),
            "server.max_rows: 'lots' is not a valid int",
        ),
        ("connections: [1, 2]", "`connections` must be a mapping"),
        ("connections: {a: {engine: duckdb\n", "invalid YAML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
