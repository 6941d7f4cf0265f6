"""``GET /api/v1/query/jobs``: the organization's query history, newest first, paged.

An organization key lists every job of its organization (``userId`` narrows it to one user); a
personal token lists its own user's jobs only, unless that user is an admin (``admin: true``
in ``sluice.yaml``). Jobs stay listed for ``server.history_retention_days``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sluice.api.errors import endpoint
from sluice.api.state import services
from sluice.auth.principal import Principal
from sluice.errors import BadRequest, Forbidden
from sluice.jobs.history import (
    HistoryCursor,
    HistoryQuery,
    history_entry,
    parse_limit,
    parse_status,
)

PARAMS = ("limit", "cursor", "status", "userId")
OWN_JOBS_ONLY = "A personal token lists only its own user's jobs"


@endpoint
async def list_jobs(request: Request) -> Response:
    svc = services(request)
    principal = await svc.principal(request)
    params = request.query_params
    for key in params:
        if key not in PARAMS:
            raise BadRequest(
                f"unknown query parameter {key!r}; expected one of {', '.join(PARAMS)}"
            )
        if len(params.getlist(key)) > 1:
            raise BadRequest(f"query parameter {key!r} was given more than once")
    limit = parse_limit(params.get("limit"))
    cursor = params.get("cursor")
    status = params.get("status")
    query = HistoryQuery(
        principal.organization_id,
        limit=limit + 1,  # one more: whether there is a next page
        cursor=HistoryCursor.decode(cursor) if cursor else None,
        user_id=_user_scope(principal, params.get("userId") or None),
        status=parse_status(status) if status else None,
    )
    records = await svc.jobs.history(query)
    page = records[:limit]
    more = len(records) > limit
    next_cursor = HistoryCursor(page[-1].created_at, page[-1].id).encode() if more else None
    return JSONResponse(
        {
            "records": [history_entry(record) for record in page],
            "pageInfo": {"hasNextPage": more, "nextCursor": next_cursor, "pageSize": limit},
        }
    )


def _user_scope(principal: Principal, requested: str | None) -> str | None:
    """Whose jobs the caller may list: ``requested`` (None: everyone's) within its rights."""
    user = principal.user
    if principal.key_scope == "organization" or (user is not None and user.admin):
        return requested
    own = user.id if user is not None else None
    if requested is not None and requested != own:
        raise Forbidden(OWN_JOBS_ONLY)
    return own
