"""``whoami``, ``models``, ``topic`` list and detail, ``view`` list (contract §10)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sluice.api import catalog
from sluice.api.errors import endpoint
from sluice.api.model_routes import branch_page
from sluice.api.state import services
from sluice.errors import BadRequest, NotFound
from sluice.model.types import SemanticModel
from sluice.project import LoadedModel, on_branch
from sluice.query.spec import is_uuid


@endpoint
async def whoami(request: Request) -> Response:
    svc = services(request)
    principal = await svc.principal(request)
    raw = request.query_params.get("modelId") or ""
    model_ids = [m.strip().lower() for m in raw.split(",") if m.strip()]
    body = catalog.whoami(
        svc.config,
        key_scope=principal.key_scope,
        organization_id=principal.organization_id,
        user=principal.user,
        model_ids=model_ids,
    )
    return JSONResponse(body)


@endpoint
async def list_models(request: Request) -> Response:
    svc = services(request)
    await svc.principal(request)
    params = request.query_params
    for key in params:
        if len(params.getlist(key)) > 1:
            raise BadRequest(f"query parameter {key!r} was given more than once")
    model_id = params.get("modelId")
    if model_id is not None and not is_uuid(model_id):
        raise BadRequest(f"modelId must be a UUID; got {model_id!r}")
    if params.get("modelKind", "").upper() == "BRANCH" and svc.models is not None:
        return JSONResponse(await asyncio.to_thread(branch_page, svc.models, dict(params)))
    page = catalog.models_page(svc.config, dict(params), timestamps=svc.model_timestamps)
    return JSONResponse(page)


@endpoint
async def list_topics(request: Request) -> Response:
    return JSONResponse(catalog.topic_list(await _model(request)))


@endpoint
async def get_topic(request: Request) -> Response:
    loaded = await _loaded(request)
    name = request.path_params["topicName"]
    detail = catalog.topic_detail(loaded.semantic, name, schema_taken_at=loaded.schema_taken_at)
    return JSONResponse(detail)


@endpoint
async def list_views(request: Request) -> Response:
    return JSONResponse(catalog.view_list(await _model(request)))


async def _model(request: Request) -> SemanticModel:
    return (await _loaded(request)).semantic


async def _loaded(request: Request) -> LoadedModel:
    svc = services(request)
    await svc.principal(request)
    model_id = str(request.path_params["modelId"]).lower()
    if not is_uuid(model_id):
        raise NotFound(f"Model {request.path_params['modelId']} not found")
    branch_id = request.query_params.get("branch_id")  # a branch's catalog (contract §3)
    if branch_id and svc.models is not None:
        svc.project.model(model_id)  # 404 for an unknown model first
        return await asyncio.to_thread(svc.project.model, on_branch(model_id, branch_id))
    if branch_id:
        raise NotFound(f"Branch {branch_id} not found")
    return svc.project.model(model_id)
