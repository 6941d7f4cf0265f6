"""``POST /query/run`` and ``GET /query/wait`` (contract §3, §6, §9)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from sluice.api.envelope import parse_job_ids, parse_run_body
from sluice.api.errors import endpoint
from sluice.api.ndjson import footer_line, header_line, ndjson_response
from sluice.api.state import services
from sluice.errors import BadRequest
from sluice.jobs.service import JobRequest

MAX_BODY_BYTES = 4 << 20  # a query object is a few KB; this bounds what one request can hold


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with a 400 beyond ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(f"The request body is larger than {limit >> 20} MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"The request body is larger than {limit >> 20} MB")
        chunks.append(chunk)
    return b"".join(chunks)


@endpoint
async def run_query(request: Request) -> Response:
    """Submit one job and hold the request for the run window (or until the job is done)."""
    svc = services(request)
    principal = await svc.principal(request)
    envelope = parse_run_body(await read_body(request))
    user = svc.auth.acting_user(
        principal, request.query_params.get("userId"), envelope.body_user_id
    )
    svc.project.model(envelope.model_id)  # 404 before a job exists
    record = svc.jobs.submit(
        JobRequest(
            organization_id=principal.organization_id,
            user=user,
            model_id=envelope.model_id,
            query=envelope.query,
            plan_only=envelope.plan_only,
            timezone=envelope.timezone,
        )
    )
    waited = await svc.jobs.wait(
        principal.organization_id, [record.id], svc.config.server.run_window_s
    )
    if waited.remaining:  # the id leaves as a running job: make sure a restart knows it
        await svc.jobs.persist(record.id)
    header = header_line({record.id: record.client_result_id})
    return ndjson_response([header, *waited.lines, footer_line(waited.remaining)])


@endpoint
async def wait_query(request: Request) -> Response:
    """Hold until every listed job is terminal or the wait window passes; re-deliver finished."""
    svc = services(request)
    principal = await svc.principal(request)
    params = request.query_params
    job_ids = parse_job_ids([*params.getlist("job_ids"), *params.getlist("jobIds")])
    waited = await svc.jobs.wait(
        principal.organization_id, job_ids, svc.config.server.wait_window_s
    )
    return ndjson_response([*waited.lines, footer_line(waited.remaining)])
