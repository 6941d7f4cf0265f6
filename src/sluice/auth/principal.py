"""Who a request acts as: the bearer token, then ``userId`` impersonation (contract §2)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sluice.auth.ratelimit import RateLimit, RateLimiter
from sluice.auth.tokens import ORGANIZATION, PERSONAL, Token, TokenStore, hash_secret
from sluice.config import UserConfig
from sluice.errors import AuthError, BadRequest, Forbidden, NotFound

_SPACE = re.compile(r"\s")

BAD_HEADER_MESSAGE = "Bad authorization header, must be formatted as Bearer <token>"
INVALID_TOKEN_MESSAGE = "Invalid bearer token"
FOREIGN_USER_MESSAGE = "User-scoped API keys can only be used to act as their own user"


class BadAuthorizationHeader(AuthError):
    def __init__(self) -> None:
        super().__init__(BAD_HEADER_MESSAGE)


class InvalidToken(Forbidden):
    """Unknown, revoked or expired token: 403 with the ``{"error": {...}}`` body."""

    def __init__(self) -> None:
        super().__init__(INVALID_TOKEN_MESSAGE)


@dataclass(frozen=True, slots=True)
class Principal:
    token: Token
    user: UserConfig | None  # who the token itself acts as: a personal token's user, else None

    @property
    def organization_id(self) -> str:
        return self.token.organization_id

    @property
    def key_scope(self) -> str:
        return "user" if self.token.kind == PERSONAL else "organization"


def bearer_secret(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 400 for anything else."""
    if not header:
        raise BadAuthorizationHeader()
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or _SPACE.search(secret):
        raise BadAuthorizationHeader()
    return secret


class Authenticator:
    """Resolves bearer tokens, with a short-lived in-memory cache in front of the token store.

    A token is re-read from the store at most every ``revalidate_s`` seconds, so a key created
    or revoked with ``sluice keys`` takes effect on a running server (every replica, when the
    store is shared) within that time. Store reads run in a thread: the event loop never touches
    SQLite or Redis.
    """

    def __init__(
        self,
        tokens: TokenStore,
        users: Sequence[UserConfig],
        *,
        rate_limit_per_minute: int = 0,
        limiter: RateLimit | None = None,
        revalidate_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._tokens = tokens
        self.users = {user.id: user for user in users}
        self._limiter = limiter if limiter is not None else RateLimiter(rate_limit_per_minute)
        self._revalidate_s = revalidate_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._cache: dict[str, tuple[Token | None, float]] = {}

    def cached(self, header: str | None) -> Principal | None:
        """``authenticate``'s answer at once, when it needs neither the token store nor the rate
        limiter: a valid token read within ``revalidate_s`` and no rate limit. None: call
        ``authenticate``. Safe from any thread (the Flight SQL endpoint's)."""
        if self._limiter.per_minute > 0 or not header:
            return None
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        cached = self._cache.get(hash_secret(secret.strip()))
        if cached is None or self._clock() - cached[1] > self._revalidate_s:
            return None
        token = cached[0]
        if token is None or not token.usable(self._wall_clock()):
            return None
        user: UserConfig | None = None
        if token.kind == PERSONAL:
            user = self.users.get(token.user_id or "")
            if user is None:
                return None
        return Principal(token, user)

    async def authenticate(self, header: str | None) -> Principal:
        secret = bearer_secret(header)
        digest = hash_secret(secret)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is None or now - cached[1] > self._revalidate_s:
            token = await asyncio.to_thread(self._tokens.lookup, secret)
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[digest] = (token, now)
        else:
            token = cached[0]
        if token is None or not token.usable(self._wall_clock()):
            raise InvalidToken()
        user: UserConfig | None = None
        if token.kind == PERSONAL:
            user = self.users.get(token.user_id or "")
            if user is None:  # the user was removed from sluice.yaml
                raise InvalidToken()
        if self._limiter.per_minute > 0:
            await self._limiter.acquire(token.id, now)
        return Principal(token, user)

    def acting_user(
        self, principal: Principal, query_user_id: str | None, body_user_id: object = None
    ) -> UserConfig | None:
        """The user a query runs as, after ``userId`` impersonation (contract §2)."""
        if query_user_id is not None and body_user_id is not None:
            raise BadRequest(
                "userId may be provided in either the request body or as a query parameter, "
                "but not both"
            )
        requested = query_user_id if query_user_id is not None else body_user_id
        if requested is None:
            return principal.user
        if not isinstance(requested, str) or not requested:
            raise BadRequest("userId must be a non-empty string")
        if principal.token.kind != ORGANIZATION:
            own = principal.user.id if principal.user else None
            if requested != own:
                raise Forbidden(FOREIGN_USER_MESSAGE)
            return principal.user
        user = self.users.get(requested)
        if user is None:
            raise NotFound(f"User {requested} not found")
        return user
