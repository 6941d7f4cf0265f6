"""Schema refresh over HTTP (``omni-model-api.md`` §4): ``POST /api/v1/models/{id}/refresh``
starts reading the model's warehouse again in the background; ``GET /api/v1/jobs/{jobId}/status``
says how it went. The new version serves new queries as soon as it has loaded; queries in flight
finish on the version they started with.

Refresh jobs are kept in memory on the replica that ran them (the last 1,000), for their status;
they change the model on that replica. Who may refresh: an organization key, or a personal token
of an admin (``admin: true``); everyone else gets 403.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sluice.api.errors import endpoint
from sluice.api.state import services
from sluice.errors import Forbidden, NotFound, SluiceError
from sluice.models.refresh import RefreshJob
from sluice.query.spec import is_uuid

log = logging.getLogger("sluice.refresh")


@endpoint
async def refresh_model(request: Request) -> Response:
    svc = services(request)
    principal = await svc.principal(request)
    user = principal.user
    if principal.key_scope != "organization" and not (user is not None and user.admin):
        raise Forbidden("Permission denied")
    model_id = str(request.path_params["modelId"]).lower()
    if not is_uuid(model_id):
        raise NotFound(f"Model {request.path_params['modelId']} not found")
    svc.project.model(model_id)  # 404 (or 503, unreachable) before a job exists
    job = RefreshJob(str(uuid.uuid4()), model_id, principal.organization_id)
    svc.refreshes.add(job)

    async def run() -> None:
        try:
            await asyncio.to_thread(svc.project.refresh, model_id)
        except SluiceError as exc:
            job.status, job.error = "FAILED", exc.message
            log.warning("schema refresh of %s failed: %s", model_id, exc.message)
        except Exception:
            job.status, job.error = "FAILED", "internal error; see the server log"
            log.exception("schema refresh of %s failed", model_id)
        else:
            job.status = "COMPLETED"

    task = asyncio.get_running_loop().create_task(run())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return JSONResponse({"jobId": job.job_id, "modelId": model_id, "status": "running"})


_RUNNING: set[asyncio.Task[None]] = set()  # keeps each background task referenced until done


@endpoint
async def job_status(request: Request) -> Response:
    svc = services(request)
    principal = await svc.principal(request)
    job = svc.refreshes.get(str(request.path_params["jobId"]))
    if job is None or job.organization_id != principal.organization_id:
        raise NotFound(f"Job {request.path_params['jobId']} not found")
    body = {"job_id": job.job_id, "job_type": "refresh_schema", "status": job.status}
    if job.error is not None:
        body["error"] = job.error
    return JSONResponse(body)
