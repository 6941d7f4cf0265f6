"""The OpenAPI paths of the model surface (``sluice.api.model_routes``): the model YAML API,
validation and branches. Merged into the document by ``sluice.api.openapi``."""

from __future__ import annotations

from typing import Any

_JSON = "application/json"
_ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "status": {"type": "integer"}},
}
_TEXT = {
    400: "Invalid request: unknown body key, bad mode, YAML that does not parse or an unknown "
    "property (the message names the line; nothing is saved)",
    403: "Invalid bearer token, or a token that may not change models (Permission denied)",
    404: "Unknown model, branch or file",
    409: "File has been modified since it was fetched (a stale previousChecksum)",
    503: "The model's connection is unreachable",
}
_UUID = {"type": "string", "format": "uuid"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {"description": _TEXT[s], "content": {_JSON: {"schema": _ERROR}}} for s in statuses
    }


def _param(
    name: str, where: str, description: str, schema: Any = None, required: bool = False
) -> Any:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": description, "content": {_JSON: {"schema": schema}}}}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return {"required": True, "content": {_JSON: {"schema": schema}}}


_MODEL_ID = _param("modelId", "path", "The shared model's UUID", _UUID, True)
_BRANCH_ID = _param("branchId", "query", "A branch of the model (its id)", _UUID)
_BRANCH_NAME = _param("branchName", "path", "The branch's name", None, True)
_MODE = _param(
    "mode",
    "query",
    "combined (default: with the schema layer's views), extension (only the files; staged "
    "is read as extension)",
    {"type": "string", "enum": ["combined", "extension", "staged"]},
)
_WRITTEN = {
    "type": "object",
    "properties": {"fileName": {"type": "string"}, "success": {"type": "boolean"}},
}
_BRANCH = {
    "type": "object",
    "properties": {
        "id": _UUID,
        "name": {"type": "string"},
        "modelKind": {"type": "string", "enum": ["BRANCH"]},
        "baseModelId": _UUID,
        "connectionId": {"type": "string"},
        "createdAt": {"type": "string"},
        "updatedAt": {"type": "string"},
        "deletedAt": {"type": ["string", "null"]},
    },
}
_ISSUE = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "is_warning": {"type": "boolean"},
        "yaml_path": {"type": "string", "description": "The file's key"},
        "line": {"type": "integer"},
    },
}


def model_paths() -> dict[str, Any]:
    files = {
        "type": "object",
        "properties": {
            "files": {"type": "object", "additionalProperties": {"type": "string"}},
            "version": {"type": "integer", "description": "Grows with every change"},
            "viewNames": {"type": "object"},
            "checksums": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    yaml_path = {
        "get": {
            "summary": "The model's YAML files",
            "parameters": [
                _MODEL_ID,
                _MODE,
                _param("fileName", "query", "A file key, or a regular expression over keys"),
                _BRANCH_ID,
                _param(
                    "includeChecksums", "query", "Answer each file's checksum", {"type": "boolean"}
                ),
            ],
            "responses": {**_ok("The files", files), **_errors(400, 403, 404)},
        },
        "post": {
            "summary": "Write one file: the model's next version at once (needs UPDATE)",
            "parameters": [_MODEL_ID],
            "requestBody": _body(
                {
                    "fileName": {"type": "string"},
                    "yaml": {"type": "string", "description": "Empty with mode extension removes"},
                    "mode": {"type": "string", "enum": ["combined", "extension", "staged"]},
                    "branchId": _UUID,
                    "commitMessage": {"type": "string"},
                    "previousChecksum": {"type": "string"},
                },
                ["fileName", "yaml"],
            ),
            "responses": {**_ok("Written", _WRITTEN), **_errors(400, 403, 404, 409)},
        },
        "delete": {
            "summary": "Remove a .view or .topic file (needs UPDATE)",
            "parameters": [
                _MODEL_ID,
                _param("fileName", "query", "The file's key", None, True),
                _BRANCH_ID,
                _MODE,
                _param("commitMessage", "query", "The change's message"),
            ],
            "responses": {**_ok("Removed", _WRITTEN), **_errors(400, 403, 404)},
        },
    }
    validate = {
        "get": {
            "summary": "Every issue of the model's files as they are now ([] when clean)",
            "parameters": [_MODEL_ID, _BRANCH_ID],
            "responses": {
                **_ok("A bare list of issues", {"type": "array", "items": _ISSUE}),
                **_errors(403, 404),
            },
        }
    }
    create = {
        "post": {
            "summary": "Create a branch of a shared model (needs UPDATE)",
            "requestBody": _body(
                {
                    "modelKind": {"type": "string", "enum": ["BRANCH"]},
                    "baseModelId": _UUID,
                    "connectionId": {"type": "string"},
                    "modelName": {"type": "string", "pattern": r"^[\w\-/]+$"},
                },
                ["modelKind", "baseModelId", "modelName"],
            ),
            "responses": {
                **_ok(
                    "The branch",
                    {
                        "type": "object",
                        "properties": {"success": {"type": "boolean"}, "model": _BRANCH},
                    },
                ),
                **_errors(400, 403, 404),
            },
        }
    }
    merge = {
        "post": {
            "summary": "Merge a branch: its files land in the shared model as one change",
            "parameters": [_MODEL_ID, _BRANCH_NAME],
            "requestBody": {
                "required": False,
                "content": {
                    _JSON: {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "delete_branch": {"type": "boolean"},
                                "commit_message": {"type": "string"},
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                **_ok("Merged", {"type": "object", "properties": {"success": {"type": "boolean"}}}),
                **_errors(400, 403, 404),
            },
        }
    }
    delete = {
        "delete": {
            "summary": "Delete a branch (needs UPDATE)",
            "parameters": [_MODEL_ID, _BRANCH_NAME],
            "responses": {
                **_ok(
                    "Deleted", {"type": "object", "properties": {"success": {"type": "boolean"}}}
                ),
                **_errors(403, 404),
            },
        }
    }
    return {
        "/api/v1/models/{modelId}/yaml": yaml_path,
        "/api/v1/models/{modelId}/validate": validate,
        "/api/v1/models#create": create,
        "/api/v1/models/{modelId}/branch/{branchName}/merge": merge,
        "/api/v1/models/{modelId}/branch/{branchName}": delete,
    }
