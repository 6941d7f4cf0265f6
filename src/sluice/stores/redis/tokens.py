"""API tokens in Redis, so a key created or revoked once is seen by every replica.

``tokens`` (a hash: SHA-256 of the secret -> the token's JSON) and ``tokens:ids`` (public id ->
that hash). As with SQLite, only the hash of a secret is stored.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import time

import redis

from sluice.auth.tokens import Token, hash_secret, new_token, no_single_token
from sluice.stores.redis.keys import Keys


class RedisTokenStore:
    """The ``TokenStore`` of replicas. Blocking and thread-safe."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    def create(
        self,
        kind: str,
        organization_id: str,
        *,
        user_id: str | None = None,
        name: str = "",
        expires_at: float | None = None,
    ) -> tuple[str, Token]:
        while True:
            secret, token = new_token(
                kind, organization_id, user_id=user_id, name=name, expires_at=expires_at
            )
            digest = hash_secret(secret)
            if self._client.hsetnx(self._keys.token_ids, token.id, digest):
                break  # else: the 32-bit public id is taken; draw another token
        self._client.hset(self._keys.tokens, digest, _json(token))
        return secret, token

    def lookup(self, secret: str) -> Token | None:
        digest = hash_secret(secret)
        text = self._client.hget(self._keys.tokens, digest)
        if text is None or not hmac.compare_digest(hash_secret(secret), digest):
            return None
        return _token(text)

    def list(self, *, include_revoked: bool = False) -> list[Token]:
        tokens = [_token(text) for text in self._client.hvals(self._keys.tokens)]
        if not include_revoked:
            tokens = [t for t in tokens if t.revoked_at is None]
        return sorted(tokens, key=lambda t: t.created_at)

    def revoke(self, token_id: str) -> Token:
        digests: list[bytes | str] = []
        by_id = self._client.hget(self._keys.token_ids, token_id)
        if by_id is not None:
            digests.append(by_id)
        else:
            for digest, text in self._client.hgetall(self._keys.tokens).items():
                if _token(text).prefix == token_id:
                    digests.append(digest)
        if len(digests) != 1:
            raise no_single_token(token_id, len(digests))
        (digest,) = digests
        found = self._client.hget(self._keys.tokens, digest)
        if found is None:
            raise no_single_token(token_id, 0)
        token = _token(found)
        if token.revoked_at is None:
            token = dataclasses.replace(token, revoked_at=time.time())
            self._client.hset(self._keys.tokens, digest, _json(token))
        return token

    def close(self) -> None:
        """The client belongs to whoever opened it (``sluice.stores.select``)."""


def _json(token: Token) -> str:
    return json.dumps(dataclasses.asdict(token), separators=(",", ":"))


def _token(text: bytes | str) -> Token:
    return Token(**json.loads(text))
