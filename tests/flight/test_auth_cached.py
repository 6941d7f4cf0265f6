"""``Authenticator.cached``: the answer Flight's threads may use without the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sluice.auth.principal import Authenticator
from sluice.auth.tokens import ORGANIZATION
from sluice.stores.embedded.tokens import SqliteTokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cached_answers_only_what_authenticate_would_answer_without_waiting(
    tmp_path: Path,
) -> None:
    store = SqliteTokenStore(tmp_path)
    try:
        secret, token = store.create(ORGANIZATION, "sluice", name="t")
        clock = Clock()
        auth = Authenticator(store, (), clock=clock, revalidate_s=1.0)
        header = f"Bearer {secret}"
        assert auth.cached(header) is None  # never read: the store must be asked
        principal = asyncio.run(auth.authenticate(header))
        found = auth.cached(header)
        assert found is not None and found.token.id == principal.token.id == token.id
        assert auth.cached("Bearer someone-else") is None
        assert auth.cached(f"Basic {secret}") is None
        clock.now += 1.5  # past revalidate_s: read the store again (a revoke shows there)
        assert auth.cached(header) is None
        limited = Authenticator(store, (), rate_limit_per_minute=5, clock=clock)
        asyncio.run(limited.authenticate(header))
        assert limited.cached(header) is None  # every call must count against the limit
    finally:
        store.close()
