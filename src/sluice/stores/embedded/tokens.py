"""The embedded token store: API tokens (their hashes) in ``state_dir/sluice.db``, one host."""

from __future__ import annotations

import dataclasses
import hmac
import threading
import time
from pathlib import Path

from sluice.auth.tokens import Token, hash_secret, new_token, no_single_token
from sluice.stores.embedded.sqlite import db_path, open_db

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
