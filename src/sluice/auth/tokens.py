"""API tokens, stored only as SHA-256 hashes of high-entropy secrets.

Two kinds (contract §2): an *organization API key* acts for an organization and may impersonate
any user; a *personal access token* acts as one user. The secret is shown once, when created;
the store keeps its hash, a short public id (for ``keys list`` / ``keys revoke``) and a display
prefix. A lookup hashes the presented secret, finds the row by hash and compares the hashes with
``hmac.compare_digest``.

``TokenStore`` is the protocol; ``sluice.stores.embedded.tokens.SqliteTokenStore`` keeps tokens
in ``state_dir/sluice.db`` (one host), ``sluice.stores.redis.tokens.RedisTokenStore`` in Redis
(every replica sees a key created or revoked once). ``sluice.stores.select.open_token_store``
picks one from the configuration.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from sluice.errors import NotFound

ORGANIZATION = "organization"
PERSONAL = "user"
KINDS = (ORGANIZATION, PERSONAL)
_SECRET_PREFIX = {ORGANIZATION: "sluice_org_", PERSONAL: "sluice_pat_"}


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
