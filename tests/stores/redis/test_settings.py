"""Replica and operations settings: where the Redis URL comes from, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.config import ServerConfig, load_config
from sluice.errors import ConfigError


def config(tmp_path: Path, server: str, env: dict[str, str]) -> ServerConfig:
    path = tmp_path / "sluice.yaml"
    path.write_text(f"server: {{{server}}}\n")
    return load_config(path, env=env).server


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    env = {"SLUICE_REDIS_URL": "redis://:secret@cache.internal:6379/2"}
    server = config(tmp_path, "redis_url: 'redis://127.0.0.1:6379/0'", env)
    assert server.redis_url == "redis://:secret@cache.internal:6379/2"
    assert config(tmp_path, "", {}).redis_url is None
    plain = config(tmp_path, "redis_url: 'redis://127.0.0.1:6379/0', redis_prefix: blue", {})
    assert (plain.redis_url, plain.redis_prefix) == ("redis://127.0.0.1:6379/0", "blue")


@pytest.mark.parametrize(
    ("server", "env", "message"),
    [
        ("redis_url: 'redis://:pw@host:6379'", {}, "set SLUICE_REDIS_URL in the environment"),
        ("", {"SLUICE_REDIS_URL": "http://host"}, "must start with redis://"),
        ("log_format: jsn", {}, "did you mean `json`"),
        ("lease_s: 0", {}, "server.lease_s must be positive"),
    ],
)
def test_bad_settings_are_refused_with_the_key_named(
    tmp_path: Path, server: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        config(tmp_path, server, env)
    assert "pw@" not in str(refused.value)  # a password never reaches a message


def test_defaults(tmp_path: Path) -> None:
    server = config(tmp_path, "", {})
    assert (server.log_format, server.lease_s, server.redis_prefix) == ("json", 3.0, "sluice")
