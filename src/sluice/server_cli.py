"""Server commands of the ``sluice`` CLI: ``serve``, ``demo`` and ``keys create|list|revoke``.

``sluice.cli`` calls :func:`register`. ``python -m sluice.server_cli`` runs these commands alone.
The ``keys`` commands work on the project's token store: Redis when the project has a Redis URL
(``SLUICE_REDIS_URL`` or ``server.redis_url``), so every replica sees the key, else SQLite.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from sluice.api.statedir import StateDirProbe
from sluice.auth.tokens import ORGANIZATION, PERSONAL, Token
from sluice.config import LOG_FORMATS, Config, UserConfig, load_config
from sluice.errors import SluiceError
from sluice.progress import step_bar
from sluice.project import Project
from sluice.stores.select import open_token_store

out = Console()
err = Console(stderr=True)

#: The demo's key, in the demo folder (mode 0600), reused on every run.
DEMO_KEY_FILE = "demo-key"

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="the project's sluice.yaml")]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
    keys = typer.Typer(
        help="API keys: organization keys and personal access tokens (stored as hashes).",
        no_args_is_help=True,
    )
    keys.command("create")(keys_create)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)
    app.add_typer(keys, name="keys")


# -- serve ---------------------------------------------------------------------------------------


def serve(
    config_path: ConfigOption = Path("sluice.yaml"),
    host: Annotated[str | None, typer.Option(help="bind address (default: server.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: server.port)")] = None,
    log_level: Annotated[str, typer.Option(help="log level (info logs every request)")] = "info",
    log_format: Annotated[
        str | None, typer.Option(help="json or text (default: server.log_format, json)")
    ] = None,
    flight_port: Annotated[
        int | None,
        typer.Option(help="Arrow Flight SQL port (default: server.flight_port; 0: off)"),
    ] = None,
) -> None:
    """Serve Omni's query API for the project in sluice.yaml."""
    config = _load(config_path)
    if flight_port is not None or host is not None:
        server = dataclasses.replace(
            config.server,
            host=host or config.server.host,
            flight_port=config.server.flight_port if flight_port is None else flight_port,
        )
        config = dataclasses.replace(config, server=server)
    chosen = log_format or config.server.log_format
    if chosen not in LOG_FORMATS:
        err.print(f"[red]--log-format must be one of {', '.join(LOG_FORMATS)}[/red]")
        raise typer.Exit(2)
    host, port = host or config.server.host, port or config.server.port
    _run_server(config, host, port, log_level, log_format=chosen)


def _run_server(
    config: Config,
    host: str,
    port: int,
    log_level: str,
    announce: Callable[[], str] | None = None,
    log_format: str = "json",
) -> None:
    """Serve until stopped. ``announce`` runs once the server listens; what it returns is printed.

    Anything that must not happen unless the server really starts (the demo's key) goes in
    ``announce``; if it raises, the server stops and the error is one line on stderr.
    """
    import uvicorn

    from sluice.api import create_app
    from sluice.observability.logs import configure

    configure(log_format, log_level)
    project = _preflight(config, host, port)
    server_config = uvicorn.Config(
        create_app(config, project=project),
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # every record goes through sluice's handler (JSON or text)
        access_log=False,  # sluice logs each request itself, with its request id and timing
        # A long-poll can hold a connection for the whole wait window; don't wait for it.
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(server_config)
    failed: list[str] = []

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while announce and not server.started and not task.done():
            await asyncio.sleep(0.05)
        if announce and server.started:
            try:
                text = announce()
            except (SluiceError, OSError) as exc:  # e.g. the key store or key file unusable
                failed.append(exc.message if isinstance(exc, SluiceError) else str(exc))
                server.should_exit = True
            else:
                out.print(text, markup=False, highlight=False, soft_wrap=True)
        await task

    # uvloop (and httptools) when installed, as ``uvicorn.run`` would pick them.
    with asyncio.Runner(loop_factory=server_config.get_loop_factory()) as runner:
        runner.run(run())
    if failed:
        err.print(f"error: {failed[0]}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if not server.started:
        raise typer.Exit(1)


# -- demo ----------------------------------------------------------------------------------------

FLIGHT_PORT = 8815  # the demo's Arrow Flight SQL port


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="the demo project folder")] = Path(
        "sluice-demo"
    ),
    scale: Annotated[float, typer.Option(help="data size: 1 is ~1M order items")] = 1.0,
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    as_of: Annotated[
        str | None,
        typer.Option(help="last day of the generated history, YYYY-MM-DD (default: today)"),
    ] = None,
    run_server: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the server (default) or only prepare")
    ] = True,
    flight_port: Annotated[int, typer.Option(help="Arrow Flight SQL port (0: off)")] = FLIGHT_PORT,
) -> None:
    """Generate the demo data if missing, write the demo project and serve it with its key.

    The key is created on the first run and kept in the demo folder (DIR/demo-key, readable by
    you only); later runs reuse it. Only `sluice keys revoke` revokes it.
    """
    from sluice.demo.project import MODEL_NAME, ensure_demo_data, write_demo_project

    if scale <= 0:
        err.print("[red]--scale must be positive[/red]")
        raise typer.Exit(2)
    day = _as_of(as_of)
    directory = directory.resolve()
    first = f"demo data (scale {scale:g}, as of {day})"
    with step_bar(err, first, "generating", done="demo data ready") as step:
        data, generated = ensure_demo_data(directory, scale, day, progress=step)
    err.print(f"{'generated' if generated else 'using'} {data} (history up to {day})")
    config_path = write_demo_project(directory, data)
    config = _load(config_path)
    model_id = config.models[MODEL_NAME].id
    restart = _restart_command(directory, scale, port, host, as_of, flight_port)
    url = f"http://{host}:{port}"
    flight_uri = f"grpc://{host}:{flight_port}" if flight_port else None
    if flight_port:
        server = dataclasses.replace(config.server, host=host, flight_port=flight_port)
        config = dataclasses.replace(config, server=server)

    def ready() -> str:
        secret, created = demo_key(config, directory)
        announce = demo_instructions(
            url, secret, model_id, directory, created=created, restart=restart, serving=run_server
        )
        if flight_uri is not None:
            announce = announce.rstrip("\n") + "\n" + flight_instructions(flight_uri, secret)
        return announce

    if not run_server:
        out.print(ready(), markup=False, highlight=False, soft_wrap=True)
        return
    _run_server(config, host, port, "warning", announce=ready, log_format="text")


def _as_of(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"--as-of must be a date YYYY-MM-DD, got {value!r}", markup=False)
        raise typer.Exit(2) from None


def demo_key_file(directory: Path) -> Path:
    return directory / DEMO_KEY_FILE


def demo_key(config: Config, directory: Path) -> tuple[str, bool]:
    """The demo's organization key: the one kept in ``DIR/demo-key`` while it is still usable,
    else a new one (saved there, mode 0600). Returns (secret, created). Never revokes a key.
    """
    path = demo_key_file(directory)
    with open_token_store(config.server) as store:
        if path.is_file():
            secret = path.read_text().strip()
            token = store.lookup(secret) if secret else None
            if token is not None and token.usable(time.time()):
                return secret, False
        secret, _ = store.create(ORGANIZATION, config.server.organization_id, name="demo")
    _write_private(path, secret + "\n")
    return secret, True


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _program() -> str:
    """How this shell reaches ``sluice``: the bare name when it is on PATH, else its path."""
    argv0 = Path(sys.argv[0])
    on_path = shutil.which("sluice")
    if argv0.name != "sluice" or (on_path and Path(on_path).resolve() == argv0.resolve()):
        return "sluice"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(argv0)


def _restart_command(
    directory: Path, scale: float, port: int, host: str, as_of: str | None, flight_port: int
) -> str:
    parts = [_program(), "demo", "--dir", _shown(directory)]
    if flight_port != FLIGHT_PORT:
        parts += ["--flight-port", str(flight_port)]
    if scale != 1:
        parts += ["--scale", f"{scale:g}"]
    if port != 8000:
        parts += ["--port", str(port)]
    if host != "127.0.0.1":
        parts += ["--host", host]
    if as_of is not None:
        parts += ["--as-of", as_of]
    return shlex.join(parts)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def demo_instructions(
    url: str,
    secret: str,
    model_id: str,
    directory: Path,
    *,
    created: bool = True,
    restart: str = "sluice demo",
    serving: bool = True,
) -> str:
    """What to print once the demo is ready: URL, key and working curl commands (plain text)."""
    fields = [
        "order_items.created_at[month]",
        "order_items.total_sale_price",
        "order_items.count",
    ]
    query = {
        "modelId": model_id,
        "join_paths_from_topic_name": "order_items",
        "fields": fields,
        "sorts": [{"column_name": "order_items.created_at[month]", "sort_descending": True}],
        "limit": 12,
    }
    csv_body = json.dumps({"query": query, "resultType": "csv"})
    arrow_body = json.dumps({"query": query})
    key_file = demo_key_file(directory)
    key_note = (
        f"The key is new; it is kept in {_shown(key_file)} (readable by you only)"
        if created
        else f"The key is the one kept in {_shown(key_file)} (readable by you only)"
    )
    if serving:
        state = f"Ctrl+C stops the server; `{restart}` starts it again with the same key."
    else:
        config = _shown(directory / "sluice.yaml")
        state = (
            f"The server is not running (--no-serve). Start it with `{restart}`, or "
            f"`{_program()} serve -c {config}`."
        )
    return f"""
sluice demo: the ecommerce model from {_shown(directory)}

  URL         {url}
  Playground  {url}/  (paste the API key; API docs at {url}/docs)
  API key     {secret}
  model       ecommerce ({model_id}); topics: order_items, users, events

Try it (in this shell, the three exports first): the last 12 months as CSV

export URL={url}
export KEY={secret}
export MODEL_ID={model_id}
curl -s -X POST $URL/api/v1/query/run -H "Authorization: Bearer $KEY" \\
  -H 'Content-Type: application/json' -d '{csv_body}'

Without "resultType" the answer is Omni's NDJSON, the result as base64 Arrow:
curl -s -X POST $URL/api/v1/query/run -H "Authorization: Bearer $KEY" \\
  -H 'Content-Type: application/json' -d '{arrow_body}'

From Python (pip install omni-python-sdk):
  from omni_python_sdk import OmniAPI
  api = OmniAPI(api_key="{secret}", base_url="{url}")
  table, fields = api.run_query_blocking({{"query": {query!r}}})

{key_note} and works on every
run until `{_program()} keys revoke <id> -c {_shown(directory / "sluice.yaml")}` revokes it.
{state}
"""


FLIGHT_SNIPPET_START = "# -- semantic SQL over Flight SQL --"


def flight_instructions(uri: str, secret: str) -> str:
    """The ADBC snippet ``sluice demo`` prints when its Flight SQL endpoint is on."""
    return f"""
Semantic SQL over Arrow Flight SQL (pip install adbc-driver-flightsql), from Python:

{FLIGHT_SNIPPET_START}
import adbc_driver_flightsql.dbapi as flightsql
auth = {{"adbc.flight.sql.authorization_header": "Bearer {secret}"}}
with flightsql.connect("{uri}", db_kwargs=auth, autocommit=True) as conn:
    with conn.cursor() as cur:
        cur.execute('''SELECT "products.category", MEASURE("order_items.total_sale_price")
                       AS sales FROM ecommerce.topics.order_items
                       GROUP BY 1 ORDER BY 2 DESC LIMIT 10''')
        print(cur.fetch_arrow_table())
# --
"""


# -- keys ----------------------------------------------------------------------------------------


def keys_create(
    config_path: ConfigOption = Path("sluice.yaml"),
    personal: Annotated[
        bool, typer.Option("--personal", help="a personal access token (needs --user)")
    ] = False,
    user: Annotated[
        str | None,
        typer.Option("--user", help="the user's id, email or name (sluice.yaml users)"),
    ] = None,
    name: Annotated[str, typer.Option(help="a label to recognise the key by")] = "",
    organization: Annotated[
        str | None, typer.Option(help="organization id (default: server.organization_id)")
    ] = None,
    expires_in_days: Annotated[
        float | None, typer.Option(help="expire after this many days (default: never)")
    ] = None,
) -> None:
    """Create a key. Prints the secret once, alone on stdout; only its hash is stored."""
    config = _load(config_path)
    if personal != (user is not None):
        err.print("[red]a personal token needs --user ID, and --user needs --personal[/red]")
        raise typer.Exit(2)
    if user is not None:
        user = _find_user(config, user, config_path)
    if expires_in_days is not None and not 0 < expires_in_days <= 36500:
        err.print(
            f"[red]--expires-in-days must be more than 0 and at most 36500; got "
            f"{expires_in_days:g} (leave it out for a key that never expires)[/red]"
        )
        raise typer.Exit(2)
    expires = time.time() + expires_in_days * 86400 if expires_in_days is not None else None
    try:
        with open_token_store(config.server) as store:
            secret, token = store.create(
                PERSONAL if personal else ORGANIZATION,
                organization or config.server.organization_id,
                user_id=user,
                name=name,
                expires_at=expires,
            )
    except SluiceError as exc:  # Redis unreachable
        err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(1) from None
    kind = f"personal access token for {user}" if personal else "organization API key"
    err.print(f"created {kind} [bold]{token.id}[/bold]; store the secret now, it is not kept:")
    print(secret)


def keys_list(
    config_path: ConfigOption = Path("sluice.yaml"),
    include_revoked: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
) -> None:
    """List keys (never their secrets)."""
    config = _load(config_path)
    try:
        with open_token_store(config.server) as store:
            tokens = store.list(include_revoked=include_revoked)
    except SluiceError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table(
        Column("id", no_wrap=True, min_width=8),
        "kind",
        "organization",
        "user",
        "name",
        Column("prefix", no_wrap=True),
        "created",
        "state",
    )
    for token in tokens:
        table.add_row(
            token.id,
            token.kind,
            token.organization_id,
            token.user_id or "",
            token.name,
            token.prefix + "…",
            _day(token.created_at),
            _state(token),
        )
    # Piped or redirected, the table keeps its full width instead of wrapping at 80 columns.
    (out if out.is_terminal else Console(width=10_000)).print(table)


def keys_revoke(
    token_id: Annotated[
        str, typer.Argument(help="the key's id or prefix (`sluice keys list`), or the key itself")
    ],
    config_path: ConfigOption = Path("sluice.yaml"),
) -> None:
    """Revoke a key; a running server refuses it within a second."""
    config = _load(config_path)
    try:
        with open_token_store(config.server) as store:
            held = store.lookup(token_id)  # the whole secret, pasted as it was printed
            token = store.revoke(held.id if held is not None else token_id)
    except SluiceError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(1) from None
    err.print(f"revoked {token.kind} key {token.id} ({token.name or token.prefix + '…'})")


def _find_user(config: Config, wanted: str, config_path: Path) -> str:
    """The id of the configured user ``wanted`` names: its id, email, the email's local part or
    its name (case-insensitive), when exactly one user matches."""
    if any(u.id == wanted for u in config.users):
        return wanted
    key = wanted.casefold()
    matches = [
        u
        for u in config.users
        if key
        in {
            (u.email or "").casefold(),
            (u.email or "").partition("@")[0].casefold(),
            (u.name or "").casefold(),
            (u.name or "").split(" ")[0].casefold(),
        }
        - {""}
    ]
    if len(matches) == 1:
        return matches[0].id
    known = ", ".join(_user_label(u) for u in config.users) or "none"
    what = "several users match" if matches else "no user matches"
    err.print(f"{what} --user {wanted!r} in {config_path} (users: {known})", markup=False)
    raise typer.Exit(2)


def _user_label(user: UserConfig) -> str:
    return f"{user.id} ({user.email})" if user.email else user.id


def _state(token: Token) -> str:
    if token.revoked_at is not None:
        return f"revoked {_day(token.revoked_at)}"
    if token.expires_at is not None:
        return ("expired " if token.expires_at < time.time() else "expires ") + _day(
            token.expires_at
        )
    return "active"


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _preflight(config: Config, host: str, port: int) -> Project:
    """What would stop the server, found before it starts: each is one line naming the path or
    port and the cause, and exit code 2 (never a traceback)."""
    state_dir = config.server.state_dir
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"state_dir {state_dir} cannot be created: {exc.strerror or exc}")
    problem = StateDirProbe(state_dir).problem()
    if problem is not None:
        _fail(f"state_dir {state_dir} cannot be written: {problem}")
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        return Project.open(config, degraded=True)
    except SluiceError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(f"{exc.filename or 'the project'}: {exc.strerror or exc}")


def _fail(message: str) -> NoReturn:
    line = " ".join(message.split())  # one line, even for a model error listing its issues
    err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except SluiceError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(2) from None


def _main() -> Any:
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    register(app)
    return app()


if __name__ == "__main__":
    _main()
