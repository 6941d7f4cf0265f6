"""The model surface (contract: omni-model-api.md §2, §4, §5): the model YAML API and
``validate``. Routes only; the work is ``sluice.models``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sluice.api.budgets import loads
from sluice.api.errors import endpoint
from sluice.api.query_routes import budgets_of
from sluice.api.state import Services, services
from sluice.auth.principal import Principal
from sluice.errors import BadRequest, Forbidden, NotFound
from sluice.models.branches import Branch
from sluice.models.changes import Author
from sluice.models.files import select
from sluice.models.service import ModelService
from sluice.models.yaml_api import files_answer, issue_answer
from sluice.query.spec import is_uuid

PERMISSION_DENIED = "Permission denied"
MODES = ("combined", "extension", "staged")
WRITE_KEYS = frozenset(
    {"fileName", "yaml", "mode", "branchId", "commitMessage", "previousChecksum"}
)
WRITER_ROLES = frozenset({"modeler", "admin"})


def may_write(principal: Principal) -> bool:
    """Organization keys, and personal tokens of modelers and admins, may change models."""
    user = principal.user
    if principal.key_scope == "organization" and user is None:
        return True
    return user is not None and (user.role.lower() in WRITER_ROLES or user.admin)


async def _writer(svc: Services, request: Request) -> Principal:
    principal = await svc.principal(request)
    if not may_write(principal):
        raise Forbidden(PERMISSION_DENIED)
    return principal


def _author(svc: Services, principal: Principal) -> Author:
    user = principal.user
    if user is not None:
        return Author(user.name or user.email, user.email)
    name = principal.token.name or "organization key"
    return Author(f"{name} (API key)", f"{principal.organization_id}@sluice.invalid")


def _service(svc: Services) -> ModelService:
    found = svc.models
    if found is None:
        raise NotFound("models cannot be changed on this server")
    return found


def _model_id(request: Request, models: ModelService) -> str:
    raw = str(request.path_params["modelId"]).lower()
    if not is_uuid(raw):
        raise NotFound(f"Model {request.path_params['modelId']} not found")
    models.config(raw)  # 404 for an unknown one
    return raw


def _branch(models: ModelService, model_id: str, value: Any) -> Branch | None:
    """The branch a ``branchId`` names (None without one); 404 for an unknown one."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadRequest("branchId must be a string")
    return models.branch(model_id, value)


def _mode(value: Any) -> str:
    mode = "combined" if value in (None, "") else value
    if mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return "extension" if mode == "staged" else str(mode)


def _flag(value: str | None, name: str) -> bool:
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise BadRequest(f"{name} must be true or false; got {value!r}")


@endpoint
async def validate(request: Request) -> Response:
    svc = services(request)
    await svc.principal(request)
    models = _service(svc)
    model_id = _model_id(request, models)
    branch = _branch(models, model_id, request.query_params.get("branchId"))
    await asyncio.to_thread(models.catch_up, model_id)  # what other replicas changed
    if branch is None:
        issues = models.issues(model_id)
    else:
        issues = (await asyncio.to_thread(models.check_branch, branch)).issues
    return JSONResponse([issue_answer(i) for i in issues])


@endpoint
async def get_yaml(request: Request) -> Response:
    svc = services(request)
    await svc.principal(request)
    models = _service(svc)
    model_id = _model_id(request, models)
    params = request.query_params
    branch = _branch(models, model_id, params.get("branchId"))
    mode = _mode(params.get("mode"))
    cfg = models.config(model_id)

    def answer() -> dict[str, Any]:
        models.catch_up(model_id)  # the shared text (and version) of what other replicas changed
        body = files_answer(
            svc.project,
            cfg,
            mode=mode,
            selected=None,
            version=models.version(model_id) if branch is None else models.branch_version(branch),
            with_checksums=_flag(params.get("includeChecksums"), "includeChecksums"),
            overlay=None if branch is None else models.branch_files(branch),
        )
        pattern = params.get("fileName")
        if pattern:
            keep = select(body["files"], pattern)
            body["files"] = keep
            if "checksums" in body:
                body["checksums"] = {k: v for k, v in body["checksums"].items() if k in keep}
        return body

    return JSONResponse(await asyncio.to_thread(answer))


@endpoint
async def post_yaml(request: Request) -> Response:
    svc = services(request)
    principal = await _writer(svc, request)
    models = _service(svc)
    model_id = _model_id(request, models)
    body = await _json_object(svc, request, WRITE_KEYS)
    name, text = body.get("fileName"), body.get("yaml")
    if not isinstance(name, str) or not name:
        raise BadRequest("fileName is required (a model file key such as `orders.view`)")
    if not isinstance(text, str):
        raise BadRequest("yaml is required (the file's text; empty with mode extension removes it)")
    for key in ("commitMessage", "previousChecksum", "branchId"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise BadRequest(f"{key} must be a string")
    branch = _branch(models, model_id, body.get("branchId"))
    mode = _mode(body.get("mode"))
    remove = text.strip() == "" and mode == "extension"
    author = _author(svc, principal)
    await asyncio.to_thread(
        models.write,
        model_id,
        name,
        None if remove else text,
        author=author,
        message=body.get("commitMessage"),
        previous=body.get("previousChecksum"),
        branch_id=branch.id if branch is not None else None,
    )
    return JSONResponse({"fileName": name, "success": True})


@endpoint
async def delete_yaml(request: Request) -> Response:
    svc = services(request)
    principal = await _writer(svc, request)
    models = _service(svc)
    model_id = _model_id(request, models)
    params = request.query_params
    branch = _branch(models, model_id, params.get("branchId"))
    _mode(params.get("mode"))
    name = params.get("fileName") or ""
    if not name.endswith((".view", ".topic")):
        raise BadRequest("fileName must name a `.view` or `.topic` file")
    await asyncio.to_thread(
        models.write,
        model_id,
        name,
        None,
        author=_author(svc, principal),
        message=params.get("commitMessage"),
        branch_id=branch.id if branch is not None else None,
    )
    return JSONResponse({"fileName": name, "success": True})


CREATE_KEYS = frozenset({"modelKind", "baseModelId", "connectionId", "modelName"})
MERGE_KEYS = frozenset({"delete_branch", "commit_message"})


async def _json_object(svc: Services, request: Request, allowed: frozenset[str]) -> dict[str, Any]:
    """The body as a JSON object with only ``allowed`` keys, read within the server's budgets
    (size, nesting depth, valid Unicode: a 400 naming the problem, never a 500)."""
    raw = await request.body()
    budgets = budgets_of(svc)
    if len(raw) > budgets.max_body_mb * (1 << 20):
        raise BadRequest(f"the body is larger than {budgets.max_body_mb:g} MB (server.max_body_mb)")
    body = loads(raw, budgets) if raw.strip() else {}
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(
            f"Unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return body


@endpoint
async def create_model(request: Request) -> Response:
    """``POST /api/v1/models``: sluice creates branches (a shared model is a folder)."""
    svc = services(request)
    await _writer(svc, request)
    models = _service(svc)
    body = await _json_object(svc, request, CREATE_KEYS)
    if str(body.get("modelKind", "")).upper() != "BRANCH":
        raise BadRequest("modelKind must be BRANCH: a shared model is a folder in sluice.yaml")
    base, name = body.get("baseModelId"), body.get("modelName")
    if not isinstance(base, str) or not is_uuid(base):
        raise BadRequest("baseModelId (the shared model's id) is required")
    if not isinstance(name, str) or not name:
        raise BadRequest("modelName (the branch's name) is required")
    connection = body.get("connectionId")
    if connection is not None and not isinstance(connection, str):
        raise BadRequest("connectionId must be a string")
    branch = await asyncio.to_thread(models.create_branch, base.lower(), name, connection)
    return JSONResponse({"success": True, "model": branch.answer()})


def branch_page(models: ModelService, params: Mapping[str, str]) -> dict[str, Any]:
    """``GET /api/v1/models?modelKind=BRANCH``: the branches, filtered, one cursor page."""
    base = params.get("baseModelId")
    found = models.list_branches(base.lower() if base else None)
    if "name" in params:
        found = [b for b in found if b.name == params["name"]]
    if "modelId" in params:
        found = [b for b in found if b.id == params["modelId"].lower()]
    if "connectionId" in params:
        found = [b for b in found if b.connection_id == params["connectionId"].lower()]
    size = _page_size(params.get("pageSize"))
    start = _offset(params.get("cursor"))
    page = found[start : start + size]
    more = start + size < len(found)
    return {
        "pageInfo": {
            "hasNextPage": more,
            "nextCursor": str(start + size) if more else None,
            "pageSize": size,
            "totalRecords": len(found),
        },
        "records": [b.answer() for b in page],
    }


def _page_size(raw: str | None) -> int:
    try:
        size = int(raw) if raw is not None else 20
    except ValueError:
        size = 0
    if not 1 <= size <= 100:
        raise BadRequest(f"pageSize must be an integer from 1 to 100; got {raw!r}")
    return size


def _offset(raw: str | None) -> int:
    if not raw:
        return 0
    if not raw.isdigit():
        raise BadRequest(f"cursor {raw!r} is not one this server gave")
    return int(raw)


@endpoint
async def merge_branch(request: Request) -> Response:
    svc = services(request)
    principal = await _writer(svc, request)
    models = _service(svc)
    model_id = _model_id(request, models)
    body = await _json_object(svc, request, MERGE_KEYS)
    delete = body.get("delete_branch", False)
    message = body.get("commit_message")
    if not isinstance(delete, bool):
        raise BadRequest("delete_branch must be true or false")
    if message is not None and not isinstance(message, str):
        raise BadRequest("commit_message must be a string")
    name = str(request.path_params["branchName"])
    checked = await asyncio.to_thread(
        models.merge,
        model_id,
        name,
        author=_author(svc, principal),
        message=message,
        delete_branch=delete,
    )
    return JSONResponse(
        {
            "success": True,
            "branchName": name,
            "version": models.version(model_id),
            "issues": [issue_answer(i) for i in checked.issues if i.severity == "error"],
        }
    )


@endpoint
async def delete_branch(request: Request) -> Response:
    svc = services(request)
    await _writer(svc, request)
    models = _service(svc)
    model_id = _model_id(request, models)
    name = str(request.path_params["branchName"])
    await asyncio.to_thread(models.delete_branch, model_id, name)
    return JSONResponse({"success": True, "branchName": name})
