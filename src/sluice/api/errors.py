"""Error envelopes. Statuses come from ``sluice.errors.http_status`` (one table), never from a
Python exception type; no stack trace ever reaches a client.

* ``{"detail": "<message>", "status": <status>}`` for every error, except
* an invalid bearer token: 403 ``{"error": {"code": 403, "message": "Invalid bearer token"}}``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sluice.auth.principal import InvalidToken
from sluice.auth.ratelimit import TooManyRequests
from sluice.errors import SluiceError, Unavailable, UserError, http_status
from sluice.observability.logs import new_request_id, request_id

log = logging.getLogger("sluice.api")

Handler = Callable[[Request], Awaitable[Response]]


def detail_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail, "status": status}, status_code=status, headers=headers)


def error_response(err: SluiceError) -> Response:
    status = http_status(err)
    if isinstance(err, InvalidToken):
        return JSONResponse({"error": {"code": status, "message": err.message}}, status_code=status)
    if isinstance(err, Unavailable):  # a 503 that says what and when to try again
        return detail_response(status, err.message, {"Retry-After": str(err.retry_after_s)})
    if status >= 500 and not isinstance(err, UserError):
        return internal_error_response(err)
    headers = {"Retry-After": str(err.retry_after_s)} if isinstance(err, TooManyRequests) else None
    return detail_response(status, err.message, headers)


def internal_error_response(exc: BaseException) -> Response:
    """Log ``exc`` with the request's id; answer 500 with a generic message and that id."""
    rid = request_id.get() or new_request_id()
    log.error("internal error (request id %s)", rid, exc_info=exc, extra={"request_id": rid})
    body = {
        "detail": f"Internal server error (request id {rid})",
        "status": 500,
        "request_id": rid,
    }
    return JSONResponse(body, status_code=500, headers={"X-Request-Id": rid})


def endpoint(handler: Handler) -> Handler:
    """Map every error a handler raises to its envelope."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except SluiceError as err:
            return error_response(err)
        except Exception as exc:
            return internal_error_response(exc)

    return wrapped


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method) in the same envelope."""
    if isinstance(exc, HTTPException):
        return detail_response(exc.status_code, str(exc.detail), exc.headers)
    return internal_error_response(exc)


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    return internal_error_response(exc)
