"""API tokens, stored only as SHA-256 hashes of high-entropy secrets.

Two kinds (contract §2): an *organization API key* acts for an organization and may impersonate
any user; a *personal access token* acts as one user. The secret is shown once, when created;
the store keeps its hash, a short public id (for ``keys list`` / ``keys revoke``) and a display
prefix. A lookup hashes the presented secret, finds the row by hash and compares the hashes with
``hmac.compare_digest``.

``TokenStore`` is the protocol; ``SqliteTokenStore`` keeps tokens in ``state_dir/sluice.db`` (one
host), ``sluice.replicas.tokens.RedisTokenStore`` in Redis (every replica sees a key created or
revoked once). ``sluice.replicas.state.open_token_store`` picks one from the configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sluice.errors import NotFound
from sluice.jobs.sqlite import db_path, open_db

ORGANIZATION = "organization"
PERSONAL = "user"
KINDS = (ORGANIZATION, PERSONAL)
_SECRET_PREFIX = {ORGANIZATION: "sluice_org_", PERSONAL: "sluice_pat_"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    user_id TEXT,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
"""
_COLUMNS = "id, kind, organization_id, user_id, name, prefix, created_at, expires_at, revoked_at"


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    kind: str  # ORGANIZATION | PERSONAL
    organization_id: str
    user_id: str | None  # the user a personal token acts as
    name: str
    prefix: str  # the first characters of the secret, for people to recognise it
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(
    kind: str,
    organization_id: str,
    *,
    user_id: str | None = None,
    name: str = "",
    expires_at: float | None = None,
) -> tuple[str, Token]:
    """A fresh secret and the token that describes it (not stored yet)."""
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    if (kind == PERSONAL) != (user_id is not None):
        raise ValueError("a personal access token needs a user id; an organization key has none")
    secret = _SECRET_PREFIX[kind] + secrets.token_urlsafe(32)
    token = Token(
        id=secrets.token_hex(4),
        kind=kind,
        organization_id=organization_id,
        user_id=user_id,
        name=name,
        prefix=secret[: len(_SECRET_PREFIX[kind]) + 4],
        created_at=time.time(),
        expires_at=expires_at,
    )
    return secret, token


def no_single_token(token_id: str, found: int) -> NotFound:
    what = "no token" if not found else f"{found} tokens"
    return NotFound(f"{what} with id or prefix {token_id!r}")


class TokenStore(Protocol):
    """Blocking; thread-safe. The server calls it off the event loop."""

    def create(
        self,
        kind: str,
        organization_id: str,
        *,
        user_id: str | None = None,
        name: str = "",
        expires_at: float | None = None,
    ) -> tuple[str, Token]:
        """A new token: (secret, token). The secret is not stored and cannot be shown again."""
        ...

    def lookup(self, secret: str) -> Token | None:
        """The token whose secret is ``secret`` (revoked and expired ones included), or None."""
        ...

    def list(self, *, include_revoked: bool = False) -> list[Token]: ...

    def revoke(self, token_id: str) -> Token:
        """Revoke by public id (or by the displayed prefix, when it names one token)."""
        ...

    def close(self) -> None: ...


class SqliteTokenStore:
    """Tokens in ``state_dir/sluice.db``."""

    def __init__(self, state_dir: Path) -> None:
        self._conn = open_db(db_path(state_dir))
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def create(
        self,
        kind: str,
        organization_id: str,
        *,
        user_id: str | None = None,
        name: str = "",
        expires_at: float | None = None,
    ) -> tuple[str, Token]:
        secret, token = new_token(
            kind, organization_id, user_id=user_id, name=name, expires_at=expires_at
        )
        with self._lock:
            self._conn.execute(
                f"INSERT INTO tokens (hash, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (hash_secret(secret), *_values(token)),
            )
        return secret, token

    def lookup(self, secret: str) -> Token | None:
        digest = hash_secret(secret)
        with self._lock:
            row = self._conn.execute(
                f"SELECT hash, {_COLUMNS} FROM tokens WHERE hash = ?", (digest,)
            ).fetchone()
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        return Token(*row[1:])

    def list(self, *, include_revoked: bool = False) -> list[Token]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM tokens {where} ORDER BY created_at"
            ).fetchall()
        return [Token(*row) for row in rows]

    def revoke(self, token_id: str) -> Token:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM tokens WHERE id = ? OR prefix = ?", (token_id, token_id)
            ).fetchall()
            if len(rows) != 1:
                raise no_single_token(token_id, len(rows))
            token = Token(*rows[0])
            now = time.time()
            self._conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, token.id),
            )
        return dataclasses.replace(token, revoked_at=token.revoked_at or now)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _values(token: Token) -> tuple[object, ...]:
    return (
        token.id,
        token.kind,
        token.organization_id,
        token.user_id,
        token.name,
        token.prefix,
        token.created_at,
        token.expires_at,
        token.revoked_at,
    )
