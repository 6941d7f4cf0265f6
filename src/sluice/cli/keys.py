"""``sluice keys create|list|revoke``: organization keys and personal access tokens.

The commands work on the project's token store: Redis when the project has a Redis URL
(``SLUICE_REDIS_URL`` or ``server.redis_url``), so every replica sees the key, else SQLite.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from sluice.auth.tokens import ORGANIZATION, PERSONAL, Token
from sluice.cli.output import err, error_exit, load, out
from sluice.config import Config, UserConfig
from sluice.errors import SluiceError
from sluice.stores.select import open_token_store

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="the project's sluice.yaml")]

app = typer.Typer(
    help="API keys: organization keys and personal access tokens (stored as hashes).",
    no_args_is_help=True,
)


@app.command("create")
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
    config = load(config_path)
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
        error_exit(exc.message, 1)
    kind = f"personal access token for {user}" if personal else "organization API key"
    err.print(f"created {kind} [bold]{token.id}[/bold]; store the secret now, it is not kept:")
    print(secret)


@app.command("list")
def keys_list(
    config_path: ConfigOption = Path("sluice.yaml"),
    include_revoked: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
) -> None:
    """List keys (never their secrets)."""
    config = load(config_path)
    try:
        with open_token_store(config.server) as store:
            tokens = store.list(include_revoked=include_revoked)
    except SluiceError as exc:
        error_exit(exc.message, 1)
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


@app.command("revoke")
def keys_revoke(
    token_id: Annotated[
        str, typer.Argument(help="the key's id or prefix (`sluice keys list`), or the key itself")
    ],
    config_path: ConfigOption = Path("sluice.yaml"),
) -> None:
    """Revoke a key; a running server refuses it within a second."""
    config = load(config_path)
    try:
        with open_token_store(config.server) as store:
            held = store.lookup(token_id)  # the whole secret, pasted as it was printed
            token = store.revoke(held.id if held is not None else token_id)
    except SluiceError as exc:
        error_exit(exc.message, 1)
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
