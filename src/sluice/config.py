"""Settings: ``sluice.yaml`` plus ``SLUICE_<SECTION>_<KEY>`` environment overrides.

Paths in the file are relative to the file. Unknown keys and missing files are errors that name
the key or path; secrets (passwords, Redis URLs) come from the environment, never from the file.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit, urlunsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sluice.errors import ConfigError, did_you_mean

ENGINES = ("duckdb", "postgres", "spark", "trino")
MODEL_NAMESPACE = uuid.UUID("6f1c0c5e-2a4b-4d0e-9a55-51c3e0d1a7b2")


def model_uuid(name: str) -> str:
    """The stable id of a model that does not set one: a UUID derived from its name."""
    return str(uuid.uuid5(MODEL_NAMESPACE, name))


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    name: str
    engine: str
    database: Path | None = None  # duckdb: the database file; None is in-memory
    read_only: bool = True
    threads: int | None = None
    id: str = ""
    # postgres, spark, trino: where the warehouse is, as a URL (postgresql://host:5432/db,
    # sc://host:15002, http://host:8080) or as host/port; `password_env` names the environment
    # variable holding the password (default SLUICE_CONNECTION_<NAME>_PASSWORD), never the file.
    url: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    dbname: str | None = None  # postgres: the database
    catalog: str | None = None  # trino: the catalog
    schema: str | None = None  # where unqualified tables are looked up
    password_env: str | None = None
    pool_size: int = 4  # postgres: pooled connections
    # Every engine: statements this server runs on the connection at once; more queue (FIFO).
    max_concurrency: int = 4
    statement_timeout_s: float = 300.0  # the warehouse cancels a statement after this; 0: none
    # The schema layer names every view <schema>__<table>, the default schema's too.
    always_scope_view_names: bool = False

    def password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The connection's password, read from the environment only."""
        env = os.environ if env is None else env
        name = "".join(c if c.isalnum() else "_" for c in self.name.upper())
        return env.get(self.password_env or f"SLUICE_CONNECTION_{name}_PASSWORD") or None


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str
    id: str
    connection: str
    path: Path


@dataclass(frozen=True, slots=True)
class UserConfig:
    id: str
    email: str
    name: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    allow_raw_sql: bool = False
    admin: bool = False  # a personal token of an admin sees the whole organization's history
    role: str = ""  # "modeler" (or "admin"): may change models (the model YAML API, branches)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    run_window_s: float = 10.0
    wait_window_s: float = 30.0
    result_retention_s: float = 3600.0
    model_poll_s: float = 0.3  # how often model folders are checked for changes; 0: never
    history_retention_days: float = 30.0  # GET /api/v1/query/jobs lists jobs this far back
    max_rows: int = 50_000
    high_limit: bool = False
    workers: int = 4
    state_dir: Path = Path(".sluice")
    rate_limit_per_minute: int = 0  # 0: off
    organization_id: str = "sluice"
    organization_name: str = "sluice"
    # The query API (src/sluice/api, src/sluice/jobs):
    query_timeout_s: float = 300.0  # a job still running after this is cancelled; 0: no limit
    orphan_timeout_s: float = 120.0  # a running job nobody waits on this long is cancelled; 0: off
    result_memory_mb: float = 256.0  # finished job lines kept in memory for /query/wait
    shutdown_grace_s: float = 10.0  # on shutdown, running jobs get this long to finish
    # Results and the result cache (src/sluice/results, src/sluice/cache):
    cache_ttl_s: float = 3600.0  # results stay fresh this long unless the topic's cache_policy says
    cache_max_mb: float = 1024.0  # the result cache on disk (state_dir/cache), LRU; 0: no cache
    cache_max_stale_s: float = 86400.0  # `Standard` may serve an expired result this much longer
    max_result_mb: float = 512.0  # a larger result (Arrow IPC bytes) is a job error; 0: no limit
    # Replicas (src/sluice/stores/redis): with a Redis URL, jobs, results, completion events, the
    # result cache, API keys and rate limits live in Redis and every replica shares them.
    # SLUICE_REDIS_URL wins over this key; a URL carrying a password belongs in the environment.
    redis_url: str | None = None
    redis_prefix: str = "sluice"  # every Redis key starts with "<prefix>:"
    redis_results_max_mb: float = 1024.0  # job results kept in Redis, oldest out; 0: none
    lease_s: float = 3.0  # a replica's lease; its running jobs fail this long after it dies
    # Budgets for every input (src/sluice/api/budgets.py): larger input is a 400 naming it.
    max_body_mb: float = 4.0  # a request body
    max_json_depth: int = 64  # nesting of a request body
    max_fields: int = 500  # fields, sorts, pivots, calculations and filters, each
    max_filter_values: int = 10_000  # values in one filter (a plain string: its parts)
    max_filter_values_total: int = 50_000  # values in all filters of a query
    max_name_length: int = 1_000  # a field, sort, topic or filter name, in characters
    max_sql_length: int = 100_000  # userEditedSQL, in characters
    # Operations (src/sluice/observability):
    log_format: str = "json"  # `sluice serve` logs: json (one object a line) or text
    ready_timeout_s: float = 2.0  # /readyz: each check's time limit
    # Arrow Flight SQL (src/sluice/flight): 0 turns it off; TLS when both files are set.
    flight_port: int = 0
    flight_tls_cert: Path | None = None  # PEM certificate chain
    flight_tls_key: Path | None = None  # PEM private key
    reconnect_s: float = 10.0  # a connection unreachable at start is retried this often


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    connections: Mapping[str, ConnectionConfig]
    models: Mapping[str, ModelConfig]  # by name
    server: ServerConfig
    users: tuple[UserConfig, ...] = ()

    def model_by_id(self, model_id: str) -> ModelConfig | None:
        for model in self.models.values():
            if model.id == model_id:
                return model
        return None


_SECTIONS = ("connections", "models", "server", "users")


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read ``sluice.yaml`` at ``path`` and apply ``SLUICE_*`` overrides from ``env``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        raw = YAML(typ="safe").load(path.read_text()) or {}
    except YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return config_from_dict(raw, base=path.parent, path=path, env=env)


def config_from_dict(
    raw: Mapping[str, Any],
    *,
    base: Path,
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    where = str(path) if path else "config"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: the top level must be a mapping")
    _reject_unknown(raw, _SECTIONS, where)
    env = os.environ if env is None else env
    connections = {
        name: _connection(name, spec, base, where)
        for name, spec in _section(raw, "connections", where).items()
    }
    models = {
        name: _model(name, spec, base, connections, where)
        for name, spec in _section(raw, "models", where).items()
    }
    server = _dataclass_from(ServerConfig, _section(raw, "server", where), f"{where}: server")
    server = _apply_env(server, env)
    if not server.state_dir.is_absolute():
        server = dataclasses.replace(server, state_dir=base / server.state_dir)
    users_raw = raw.get("users") or []
    if not isinstance(users_raw, list):
        raise ConfigError(f"{where}: users must be a list")
    users = tuple(
        _dataclass_from(UserConfig, u, f"{where}: users[{i}]") for i, u in enumerate(users_raw)
    )
    return Config(path=path, connections=connections, models=models, server=server, users=users)


def _section(raw: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: `{name}` must be a mapping")
    return value


def _reject_unknown(spec: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in spec:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key `{key}`{did_you_mean(str(key), allowed)}")


def _connection(name: str, spec: Any, base: Path, where: str) -> ConnectionConfig:
    here = f"{where}: connections.{name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{here} must be a mapping")
    conn = _dataclass_from(ConnectionConfig, {"name": name, **spec}, here)
    if conn.engine not in ENGINES:
        raise ConfigError(
            f"{here}: unknown engine `{conn.engine}`{did_you_mean(conn.engine, ENGINES)}"
            f" (available: {', '.join(ENGINES)})"
        )
    database = conn.database
    if database is not None and str(database) != ":memory:":
        database = database if database.is_absolute() else base / database
        if conn.read_only and not database.exists():
            raise ConfigError(f"{here}: database file {str(database)!r} does not exist")
    found: ConnectionConfig = dataclasses.replace(
        conn, database=database, id=conn.id or model_uuid("conn:" + name)
    )
    return found


def _model(
    name: str, spec: Any, base: Path, connections: Mapping[str, ConnectionConfig], where: str
) -> ModelConfig:
    here = f"{where}: models.{name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{here} must be a mapping")
    _reject_unknown(spec, ("connection", "path", "id"), here)
    conn = spec.get("connection")
    if conn not in connections:
        raise ConfigError(
            f"{here}: unknown connection `{conn}`{did_you_mean(str(conn), connections)}"
        )
    if "path" not in spec:
        raise ConfigError(f"{here}: `path` (the model folder) is required")
    folder = Path(spec["path"])
    folder = folder if folder.is_absolute() else base / folder
    if not folder.is_dir():
        raise ConfigError(f"{here}: model folder {str(folder)!r} does not exist")
    model_id = str(spec.get("id") or model_uuid(name))
    try:
        model_id = str(uuid.UUID(model_id))
    except ValueError:
        raise ConfigError(f"{here}: id {model_id!r} is not a UUID") from None
    return ModelConfig(name=name, id=model_id, connection=str(conn), path=folder)


def _dataclass_from(cls: Any, spec: Any, where: str) -> Any:
    """Build the dataclass ``cls`` from a mapping, converting and checking each field's type."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    names = [f.name for f in dataclasses.fields(cls)]
    _reject_unknown(spec, tuple(names), where)
    hints = get_type_hints(cls)
    return cls(**{k: _convert(hints[k], v, f"{where}.{k}") for k, v in spec.items()})


def _convert(hint: Any, value: Any, where: str) -> Any:
    text = str(hint) if "|" in str(hint) else getattr(hint, "__name__", str(hint))
    try:
        if value is None:
            return None
        if hint is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if hint is int or text == "int | None":
            return int(value)
        if hint is float:
            return float(value)
        if "Path" in text:
            return Path(str(value))
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a valid {text}") from None
    return value


LOG_FORMATS = ("json", "text")
REDIS_URL_ENV = "SLUICE_REDIS_URL"


def _apply_env(server: ServerConfig, env: Mapping[str, str]) -> ServerConfig:
    """``SLUICE_SERVER_<KEY>`` overrides ``server.<key>``; ``SLUICE_REDIS_URL`` overrides both
    for the Redis URL (a secret: it may carry a password)."""
    hints = get_type_hints(ServerConfig)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(ServerConfig):
        key = f"SLUICE_SERVER_{f.name.upper()}"
        if key in env:
            changes[f.name] = _convert(hints[f.name], env[key], key)
    if env.get(REDIS_URL_ENV):
        changes["redis_url"] = env[REDIS_URL_ENV]
    elif server.redis_url and "redis_url" not in changes and _has_password(server.redis_url):
        raise ConfigError(
            f"server.redis_url carries a password: secrets never go in the file; set "
            f"{REDIS_URL_ENV} in the environment instead"
        )
    server = dataclasses.replace(server, **changes) if changes else server
    if server.log_format not in LOG_FORMATS:
        raise ConfigError(
            f"server.log_format must be one of {', '.join(LOG_FORMATS)}; "
            f"got {server.log_format!r}{did_you_mean(server.log_format, LOG_FORMATS)}"
        )
    if server.redis_url is not None and not server.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError(
            "the Redis URL must start with redis://, rediss:// or unix://; "
            f"got {_without_password(server.redis_url)!r}"
        )
    if server.lease_s <= 0:
        raise ConfigError(f"server.lease_s must be positive; got {server.lease_s:g}")
    return server


def _has_password(url: str) -> bool:
    return urlsplit(url).password is not None


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
