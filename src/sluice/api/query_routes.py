"""``POST /query/run``, ``GET /query/wait`` (contract §3, §6, §7, §9) and the sluice extensions
``GET /query/jobs/{jobId}`` (a job's status, queue position included) and
``DELETE /query/jobs/{jobId}`` (cancel a job)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pyarrow as pa
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from sluice.api.budgets import Budgets, check_text
from sluice.api.envelope import RunEnvelope, parse_job_ids, parse_run_body
from sluice.api.errors import detail_response, endpoint
from sluice.api.ndjson import footer_line, header_line, ndjson_response
from sluice.api.state import Services, services
from sluice.api.statedir import StateDirProbe
from sluice.cache import CachePolicy
from sluice.errors import BadRequest, NotFound
from sluice.jobs.state import JobStatus
from sluice.jobs.types import JobRequest, Outcome
from sluice.observability.logs import note_job
from sluice.results.documents import (
    FILE_NAMES,
    MEDIA_TYPES,
    IpcSource,
    document_chunks,
    ipc_chunks,
    ipc_size,
    too_many_rows,
)

# A document answer's headers naming its job and where its result came from (MISS, EXACT, ...).
JOB_ID_HEADER = "x-sluice-job-id"
CACHE_TYPE_HEADER = "x-sluice-cache-type"

_NO_PARAMS: dict[str, str] = {}  # a request without a query string: nothing to parse
MAX_BODY_BYTES = 4 << 20  # a query object is a few KB; this bounds what one request can hold

# A failed job in resultType mode: the HTTP status for its error_type (never a 500 for a
# mistake in the query; an engine failure is a 500 carrying the engine's message).
DOCUMENT_ERROR_STATUS = {
    "PLAN": 400,
    "UNSUPPORTED": 400,
    "FORBIDDEN": 403,
    "RATE_LIMIT": 429,
    "QUERY": 500,
    "KILL": 500,
    "INTERNAL": 500,
}


def budgets_of(svc: Services) -> Budgets:
    s = svc.config.server
    return Budgets(
        max_body_mb=s.max_body_mb,
        max_json_depth=s.max_json_depth,
        max_fields=s.max_fields,
        max_filter_values=s.max_filter_values,
        max_filter_values_total=s.max_filter_values_total,
        max_name_length=s.max_name_length,
        max_sql_length=s.max_sql_length,
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with a 400 beyond ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length")
    too_large = f"The request body is larger than {limit / (1 << 20):g} MB (server.max_body_mb)"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(too_large)
    chunks: list[bytes] = []
    size = 0
    receive = request.receive  # the ASGI messages as they come: no generator per request
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BadRequest(too_large)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@endpoint
async def run_query(request: Request) -> Response:
    """Submit one job and hold the request for the run window (or until the job is done)."""
    svc = services(request)
    principal = await svc.principal(request)
    budgets = budgets_of(svc)
    raw = await read_body(request, int(budgets.max_body_mb * (1 << 20)))
    envelope = parse_run_body(raw, budgets)
    params = request.query_params if request.scope.get("query_string") else _NO_PARAMS
    user_param = params.get("userId")
    if user_param is not None:
        check_text(user_param, "userId")
    user = svc.auth.acting_user(principal, user_param, envelope.body_user_id)
    svc.project.model(envelope.model_id)  # 404 (503 while its connection is down) before a job
    if envelope.branch_id is not None and svc.models is not None:
        # 404 for an unknown branch (the store may be Redis: off the loop)
        await asyncio.to_thread(svc.models.branch, envelope.model_id, envelope.branch_id)
    elif envelope.branch_id is not None:
        raise NotFound(f"Branch {envelope.branch_id} not found")
    if svc.state_dir is not None:  # no job id that would be lost
        await require_state_dir(svc.state_dir)
    job = JobRequest(
        organization_id=principal.organization_id,
        user=user,
        model_id=envelope.model_id,
        query=envelope.query,
        spec=envelope.spec,
        plan_only=envelope.plan_only,
        timezone=envelope.timezone,
        cache=CachePolicy(envelope.cache),
        document=envelope.result_type is not None,
        branch_id=envelope.branch_id,
    )
    if envelope.result_type is not None:
        return await _run_document(svc, job, envelope)
    record = svc.jobs.submit(job)
    note_job(record.id)
    window = run_window(params.get("runWindowS"), svc.config.server.run_window_s)
    waited = await svc.jobs.wait(principal.organization_id, [record.id], window)
    if waited.remaining:  # the id leaves as a running job: make sure a restart knows it
        await svc.jobs.persist(record.id)
    header = header_line({record.id: record.client_result_id})
    return ndjson_response([header, *waited.lines, footer_line(waited.remaining)])


async def require_state_dir(probe: StateDirProbe) -> None:
    """503 when ``state_dir`` cannot be written; the probe (a real write) runs off the loop, and
    at most once a second: in between, the answer comes from memory without a thread hop."""
    if not probe.require_known():
        await asyncio.to_thread(probe.require)


def run_window(raw: str | None, limit: float) -> float:
    """How long a run holds: ``?runWindowS=`` (a sluice extension, for clients that want the
    job id at once to show progress and offer cancel) within the server's ``run_window_s``."""
    if raw is None:
        return limit
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise BadRequest(f"runWindowS must be a number of seconds, 0 or more; got {raw!r}")
    return min(value, limit)


async def _run_document(svc: Services, job: JobRequest, envelope: RunEnvelope) -> Response:
    """resultType mode (contract §7): the result as one CSV, JSON or XLSX document, or as the
    Arrow IPC stream itself (``arrow``, a sluice extension)."""
    result_type = envelope.result_type or "csv"
    job_id, outcome = await svc.jobs.run_document(job, svc.config.server.run_window_s)
    note_job(job_id)
    if outcome is None:
        body = {"detail": "Query timed out", "remaining_job_ids": [job_id], "timed_out": True}
        return JSONResponse(body, status_code=408)
    record = outcome.record
    if record.status is not JobStatus.COMPLETE or outcome.result is None:
        status = DOCUMENT_ERROR_STATUS.get(record.error_type or "", 500)
        return detail_response(status, record.error_message or "The query failed")
    problem = too_many_rows(result_type, record.result_rows or 0)
    if problem is not None:
        _close(outcome)
        return detail_response(400, problem)
    headers = {
        "content-type": MEDIA_TYPES[result_type],
        "content-disposition": f'attachment; filename="{FILE_NAMES[result_type]}"',
        # What the NDJSON line would say, for clients (and benchmarks) that check the path.
        JOB_ID_HEADER: job_id,
        CACHE_TYPE_HEADER: str((record.summary or {}).get("cache_type", "MISS")),
    }
    if result_type == "arrow":
        return _arrow_response(outcome.result, headers)
    fields = (record.summary or {}).get("fields") or {}
    chunks = document_chunks(
        result_type,
        outcome.result,
        fields,
        formatted=envelope.format_results,
        temp_dir=svc.config.server.state_dir,
    )
    return StreamingResponse(chunks, headers=headers)


def _arrow_response(source: IpcSource, headers: dict[str, str]) -> Response:
    """The stored IPC stream sent as it is (never decoded nor re-encoded), one chunk at a time:
    from memory without a thread hop, from a file (a large result) read in a worker thread."""
    size = ipc_size(source)
    if size is not None:
        headers = {**headers, "content-length": str(size)}
    if isinstance(source, pa.Buffer):
        return StreamingResponse(_in_memory(source), headers=headers)
    return StreamingResponse(ipc_chunks(source), headers=headers)


async def _in_memory(source: pa.Buffer) -> AsyncIterator[bytes | memoryview]:
    for chunk in ipc_chunks(source):
        yield chunk


def _close(outcome: Outcome) -> None:
    result = outcome.result
    if result is not None and not isinstance(result, bytes) and hasattr(result, "close"):
        result.close()


@endpoint
async def wait_query(request: Request) -> Response:
    """Hold until every listed job is terminal or the wait window passes; re-deliver finished."""
    svc = services(request)
    principal = await svc.principal(request)
    params = request.query_params
    job_ids = parse_job_ids([*params.getlist("job_ids"), *params.getlist("jobIds")])
    for job_id in job_ids:
        note_job(job_id)
    waited = await svc.jobs.wait(
        principal.organization_id, job_ids, svc.config.server.wait_window_s
    )
    return ndjson_response([*waited.lines, footer_line(waited.remaining)])


@endpoint
async def cancel_job(request: Request) -> Response:
    """Cancel a job (a sluice extension): its statement is interrupted and it ends ``ERROR``
    with ``error_type: KILL``. A finished job is left as it is. Answers the job's final line."""
    svc = services(request)
    principal = await svc.principal(request)
    job_id = request.path_params["jobId"]
    check_text(job_id, "jobId")
    note_job(job_id)
    line = await svc.jobs.cancel(principal.organization_id, job_id)
    if line is None:
        raise NotFound(f"Job {job_id} not found")
    return Response(line.rstrip(b"\n"), media_type="application/json")


@endpoint
async def job_status(request: Request) -> Response:
    """A job's status (a sluice extension): its line once finished, else
    ``{"job_id", "status": "QUEUED"|"RUNNING", "queue_position" (queued), "connection"}``."""
    svc = services(request)
    principal = await svc.principal(request)
    job_id = request.path_params["jobId"]
    check_text(job_id, "jobId")
    note_job(job_id)
    found = await svc.jobs.status(principal.organization_id, job_id)
    if found is None:
        raise NotFound(f"Job {job_id} not found")
    if isinstance(found, bytes):
        return Response(found.rstrip(b"\n"), media_type="application/json")
    return JSONResponse(found)
