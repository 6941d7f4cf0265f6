"""A loaded project: the config, its models (validated, typed from the warehouse) and engines.

This is the composition root the CLI and the server share: ``Project.open(config)`` loads every
model and opens every connection once; ``compile`` and ``execute`` are what a query needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from sluice import postquery
from sluice.compiler import CompileOptions, compile_query
from sluice.compiler.types import CompiledQuery, arrow_data_type
from sluice.config import Config, ConnectionConfig, ModelConfig, UserConfig
from sluice.engines.base import CancelToken, Engine
from sluice.engines.duckdb import DuckDBEngine
from sluice.engines.snapshots import SnapshotStore, schema_source
from sluice.errors import (
    ConfigError,
    ModelError,
    ModelIssue,
    NotFound,
    PlanError,
    QueryError,
    Unavailable,
)
from sluice.extras import PRIMARY, needs, require
from sluice.model import SemanticModel, load_model
from sluice.model.loader import ColumnTypes, DerivedTypes
from sluice.query.spec import QuerySpec, parse_query

BRANCH_SEPARATOR = "@"  # "<model id>@<branch id>": a branch of a model, where an id is asked


def on_branch(model_id: str, branch_id: str | None) -> str:
    """The id ``Project.model`` resolves to ``branch_id``'s model (``model_id`` without one)."""
    return f"{model_id}{BRANCH_SEPARATOR}{branch_id}" if branch_id else model_id


@dataclass(frozen=True, slots=True)
class QueryResult:
    table: pa.Table
    fields: dict[str, dict[str, Any]]  # summary.fields, one per column of ``table``
    invalid_calculations: dict[str, str]


@dataclass(frozen=True, slots=True)
class QueryStream:
    """A query's result as it streams from the warehouse (``Project.stream``)."""

    reader: pa.RecordBatchReader  # columns named as the fields requested
    fields: dict[str, dict[str, Any]]  # summary.fields, one per column of the reader


@dataclass(frozen=True, slots=True)
class LoadedModel:
    config: ModelConfig
    semantic: SemanticModel
    engine: Engine
    schema_taken_at: float | None = None  # when the schema layer's snapshot was read

    @property
    def id(self) -> str:
        return self.config.id


def open_engine(conn: ConnectionConfig) -> Engine:
    if conn.engine == "duckdb":
        return DuckDBEngine(
            conn.database,
            read_only=conn.read_only,
            threads=conn.threads,
            cursors=conn.max_concurrency + 4,  # the workers, and catalog reads beside them
        )
    feature = f"connection {conn.name} (engine: {conn.engine})"
    if conn.engine in PRIMARY:
        require(conn.engine, feature)
    if conn.engine == "postgres":
        with needs("postgres", feature):
            from sluice.engines.postgres import PostgresEngine

            return PostgresEngine.from_config(conn)
    if conn.engine == "spark":
        with needs("spark", feature):
            from sluice.engines.spark import SparkEngine

            return SparkEngine.from_config(conn)
    if conn.engine == "trino":
        with needs("trino", feature):
            from sluice.engines.trino import TrinoEngine

            return TrinoEngine.from_config(conn)
    raise ConfigError(f"connection {conn.name}: engine {conn.engine!r} is not available")


class Project:
    def __init__(
        self,
        config: Config,
        engines: Mapping[str, Engine],
        models: Mapping[str, LoadedModel],
        unreachable: Mapping[str, str] | None = None,
    ):
        self.config = config
        self.engines = dict(engines)
        self.models = dict(models)  # by model id
        # Connections that could not be reached at start, with why; their models are
        # unavailable until ``reconnect`` opens them.
        self.unreachable = dict(unreachable or {})
        # Models that have never loaded (their files do not validate), with their issues: they
        # are unavailable until a change that validates loads them (``sluice.models.service``).
        self.broken: dict[str, tuple[ModelIssue, ...]] = {}
        # A branch's model: ``model("<model id>@<branch id>")`` asks this (set by the model
        # service; None: no branches).
        self.branch_model: Callable[[str, str], LoadedModel] | None = None
        self._reconnecting = threading.Lock()

    @classmethod
    def open(cls, config: Config, *, degraded: bool = False) -> Project:
        """Open every connection and load every model. With ``degraded``, a connection that
        cannot be reached leaves its models unavailable instead of failing the whole project
        (the server serves the others and retries with ``reconnect``)."""
        engines: dict[str, Engine] = {}
        unreachable: dict[str, str] = {}
        try:
            for name, conn in config.connections.items():
                try:
                    engines[name] = open_engine(conn)
                except QueryError as exc:
                    if not degraded:
                        raise
                    unreachable[name] = exc.message
            models = {}
            broken: dict[str, tuple[ModelIssue, ...]] = {}
            for model_cfg in config.models.values():
                if model_cfg.connection in unreachable:
                    continue
                try:
                    models[model_cfg.id] = _load(config, model_cfg, engines[model_cfg.connection])
                except ModelError as exc:
                    if not degraded:
                        raise
                    broken[model_cfg.id] = exc.issues
        except BaseException:
            for engine in engines.values():
                engine.close()
            raise
        project = cls(config, engines, models, unreachable)
        project.broken.update(broken)
        return project

    def reconnect(self) -> list[str]:
        """Try the unreachable connections again; load the models of those that answer.
        Returns the connections that came back."""
        back: list[str] = []
        with self._reconnecting:
            for name in list(self.unreachable):
                try:
                    engine = open_engine(self.config.connections[name])
                except QueryError as exc:
                    self.unreachable[name] = exc.message
                    continue
                loaded: list[LoadedModel] = []
                broken: dict[str, tuple[ModelIssue, ...]] = {}
                try:
                    for m in self.config.models.values():
                        if m.connection != name:
                            continue
                        try:
                            loaded.append(_load(self.config, m, engine))
                        except ModelError as exc:  # unavailable until its files validate
                            broken[m.id] = exc.issues
                except BaseException:
                    engine.close()
                    raise
                self.engines[name] = engine
                self.broken.update(broken)
                for model in loaded:
                    self.models[model.id] = model
                del self.unreachable[name]
                back.append(name)
        return back

    def refresh(self, model_id: str) -> list[LoadedModel]:
        """Read the model's warehouse again (a fresh schema snapshot, stored) and load every
        model on that connection over it; each new version replaces the old for new queries
        (a query in flight keeps the version it compiled against). Raises ``QueryError`` when
        the warehouse cannot answer, and ``ModelError`` when a model no longer loads (the old
        versions keep serving)."""
        loaded = self.model(model_id)
        name = loaded.config.connection
        conn = self.config.connections[name]
        SnapshotStore(self.config.server.state_dir).read(conn, loaded.engine, fresh=True)
        fresh = [
            _load(self.config, m, loaded.engine)
            for m in self.config.models.values()
            if m.connection == name and m.id in self.models
        ]
        for model in fresh:  # all loaded first: a model that fails leaves every one as it was
            self.models[model.id] = model
        return fresh

    def model(self, model_id: str) -> LoadedModel:
        if BRANCH_SEPARATOR in model_id:
            base, _, branch = model_id.partition(BRANCH_SEPARATOR)
            if self.branch_model is None:
                raise NotFound(f"Branch {branch} not found")
            return self.branch_model(base, branch)
        found = self.models.get(model_id)
        if found is None and model_id in self.broken:
            cfg = next(m for m in self.config.models.values() if m.id == model_id)
            issues = [str(i) for i in self.broken[model_id] if i.severity == "error"]
            raise Unavailable(
                f"Model {cfg.name} is unavailable: it has never loaded ({'; '.join(issues[:5])}"
                f"{'; ...' if len(issues) > 5 else ''}); fix its files, sluice reloads them"
            )
        if found is None:
            for cfg in self.config.models.values():
                if cfg.id == model_id and cfg.connection in self.unreachable:
                    raise Unavailable(
                        f"Model {cfg.name} is unavailable: its connection {cfg.connection} "
                        f"could not be reached ({self.unreachable.get(cfg.connection, '')}); "
                        "sluice retries in the background"
                    )
            raise NotFound(f"Model {model_id} not found")
        return found

    def connection_of(self, model_id: str) -> str:
        """The name of the connection a model's queries run on ("" for an unknown model)."""
        found = self.models.get(model_id.partition(BRANCH_SEPARATOR)[0])
        return found.config.connection if found is not None else ""

    def concurrency_limits(self) -> dict[str, int]:
        """Statements each connection may run at once (``max_concurrency``), by name."""
        return {name: conn.max_concurrency for name, conn in self.config.connections.items()}

    def compile(
        self,
        model_id: str,
        query: QuerySpec | Mapping[str, Any],
        *,
        now: datetime,
        user: UserConfig | None = None,
        timezone: str | None = None,
        allow_raw_sql: bool | None = None,
    ) -> CompiledQuery:
        """Compile a query (a ``QuerySpec`` parsed at the edge, or a query object, parsed here).
        Raw SQL (``rewriteSql: false``) runs for users configured with ``allow_raw_sql`` unless
        the caller decides otherwise (``allow_raw_sql``)."""
        loaded = self.model(model_id)
        spec = query if isinstance(query, QuerySpec) else parse_query(query)
        options = CompileOptions(
            max_rows=self.config.server.max_rows if not self.config.server.high_limit else None,
            allow_raw_sql=(user is not None and user.allow_raw_sql)
            if allow_raw_sql is None
            else allow_raw_sql,
        )
        return compile_query(
            loaded.semantic,
            spec,
            dialect=loaded.engine.dialect,
            now=now,
            timezone=timezone,
            user_attributes=dict(user.attributes) if user else {},
            options=options,
        )

    def run(
        self, model_id: str, compiled: CompiledQuery, cancel: CancelToken | None = None
    ) -> QueryResult:
        """Run a compiled query, its totals queries and its post-query work (pivots, totals,
        fill, calculations); ``fields`` describes exactly the final table's columns."""
        table = self.execute(model_id, compiled, cancel)
        summary = compiled.summary_fields(table if compiled.sql_mode else None)
        post = compiled.post
        if post is None:
            return QueryResult(table, summary, {})
        totals = {kind: self.execute(model_id, query, cancel) for kind, query in post.totals}
        metas = {f.field_name: f for f in compiled.fields}
        placed = postquery.Totals(totals.get("column"), totals.get("row"), totals.get("grand"))
        try:
            done = postquery.finish(table, post, metas, placed)
        except ValueError as exc:  # the fill guard: too many rows to fill
            raise PlanError(str(exc)) from None
        fields: dict[str, dict[str, Any]] = {}
        for name in done.table.column_names:
            if name in summary:
                fields[name] = summary[name]
            elif name in done.fields:
                fields[name] = dict(done.fields[name])
        return QueryResult(done.table, fields, dict(done.invalid_calculations))

    @staticmethod
    def streams(compiled: CompiledQuery) -> bool:
        """Whether ``compiled``'s result can stream: no post-query step (pivots, totals, fill,
        calculations) needs the whole table."""
        return compiled.post is None

    @contextmanager
    def stream(
        self, model_id: str, compiled: CompiledQuery, cancel: CancelToken | None = None
    ) -> Iterator[QueryStream]:
        """Run a compiled query that ``streams``; its result is read batch by batch while the
        warehouse produces it (the statement holds its connection until the context exits)."""
        if not self.streams(compiled):
            raise ValueError("a query with a post-query step cannot stream")
        engine = self.model(model_id).engine
        with engine.execute_reader(compiled.sql, cancel) as source:
            reader = _named(source, compiled)
            summary = compiled.summary_fields(
                reader.schema.empty_table() if compiled.sql_mode else None
            )
            yield QueryStream(reader, summary)

    def execute(
        self, model_id: str, compiled: CompiledQuery, cancel: CancelToken | None = None
    ) -> pa.Table:
        """Run compiled SQL on the model's connection; columns named as the fields requested."""
        table = self.model(model_id).engine.execute(compiled.sql, cancel)
        if compiled.sql_mode and compiled.limit is not None and table.num_rows > compiled.limit:
            table = table.slice(0, compiled.limit)  # SQL mode honours the row limit too
        return compiled.name_columns(table)

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()
        self.engines.clear()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _named(source: pa.RecordBatchReader, compiled: CompiledQuery) -> pa.RecordBatchReader:
    """``source`` with the columns ``execute`` would give: named as the fields requested, and
    cut at the row limit in SQL mode."""
    schema = compiled.name_columns(source.schema.empty_table()).schema
    limit = compiled.limit if compiled.sql_mode else None
    if limit is None and schema.equals(source.schema, check_metadata=True):
        return source

    def batches() -> Iterator[pa.RecordBatch]:
        left = limit
        for batch in source:
            if left is not None:
                if left <= 0:
                    return
                if batch.num_rows > left:
                    batch = batch.slice(0, left)
                left -= batch.num_rows
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _load(
    config: Config,
    model_cfg: ModelConfig,
    engine: Engine,
    files: Mapping[str, str] | None = None,
) -> LoadedModel:
    """Load a model over its connection's schema layer (the stored snapshot, else read now);
    ``files``: the model's files ({relative path: text}) instead of its folder's."""
    conn = config.connections[model_cfg.connection]
    snapshot = SnapshotStore(config.server.state_dir).read(conn, engine)
    semantic = load_model(
        model_cfg.path,
        name=model_cfg.name,
        dialect=engine.dialect,
        column_types=schema_lookup(engine),
        derived_types=derived_lookup(engine),
        schema=schema_source(conn, snapshot),
        files=files,
    )
    return LoadedModel(model_cfg, semantic, engine, snapshot.taken_at)


def schema_lookup(engine: Engine) -> ColumnTypes:
    """The loader's column-type callback for ``engine`` (None for a table that is missing)."""

    def lookup(table: str, schema: str | None) -> dict[str, str] | None:
        try:
            return engine.column_types(table, schema)
        except Exception:  # a missing table is reported by model validation, not here
            return None

    return lookup


def derived_lookup(engine: Engine) -> DerivedTypes:
    """Column types of a derived table: its SELECT, run with no rows, read off the Arrow schema."""

    def lookup(sql: str) -> dict[str, str] | None:
        try:
            empty = engine.execute(f"SELECT * FROM ({sql}) AS derived LIMIT 0")
        except Exception:  # reported by model validation, with the view's file and line
            return None
        return {f.name: arrow_data_type(f.type) for f in empty.schema}

    return lookup
