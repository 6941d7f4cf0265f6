"""The OpenAPI 3.1 document served at ``/openapi.json``, written as data.

Hand-written rather than generated: the run and wait responses are NDJSON streams and the error
bodies follow Omni's envelopes, neither of which a model-driven generator describes.
"""

from __future__ import annotations

from typing import Any

from sluice.api.envelope import CACHE_POLICIES, RESULT_TYPES
from sluice.api.openapi_models import model_paths

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON = "application/json"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ARROW = "application/vnd.apache.arrow.stream"


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Invalid request (body, parameters or Authorization header)",
        403: "Invalid bearer token, or a personal token naming another user",
        404: "Unknown model, topic, user or job",
        408: "resultType: the job did not finish inside the run window",
        429: "Rate limited (see Retry-After)",
        500: "Internal error (the body carries a request id)",
    }
    out = {
        str(s): {"description": text[s], "content": {_JSON: {"schema": _ERROR}}} for s in statuses
    }
    if 408 in statuses:
        timed_out = {"$ref": "#/components/schemas/TimedOut"}
        out["408"] = {"description": text[408], "content": {_JSON: {"schema": timed_out}}}
    out["403"] = {
        "description": text[403],
        "content": {
            _JSON: {"schema": {"oneOf": [{"$ref": "#/components/schemas/TokenError"}, _ERROR]}}
        },
    }
    return out


def _get(
    summary: str, schema: str, params: list[dict[str, Any]], errors: tuple[int, ...]
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
                },
                **_errors(*errors),
            },
        }
    }


def _param(
    name: str,
    where: str,
    description: str,
    schema: dict[str, Any] | None = None,
    required: bool = False,
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_MODEL_ID = _param("modelId", "path", "Model UUID", {"type": "string", "format": "uuid"}, True)
_NDJSON_TEXT = (
    "NDJSON: header {jobs_submitted} (run only), one line per finished job, then the footer "
    '{remaining_job_ids, timed_out: "true"|"false"} (a string).'
)
_NDJSON_CONTENT: dict[str, Any] = {"text/ndjson": {"schema": {"type": "string"}}}
_NDJSON = {"description": _NDJSON_TEXT, "content": _NDJSON_CONTENT}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["detail", "status"],
        "properties": {
            "detail": {"type": "string"},
            "status": {"type": "integer"},
            "request_id": {"type": "string"},
        },
    },
    "TokenError": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            }
        },
    },
    "Query": {
        "type": "object",
        "required": ["modelId"],
        "additionalProperties": True,
        "properties": {
            "modelId": {"type": "string", "format": "uuid"},
            "table": {"type": "string"},
            "join_paths_from_topic_name": {"type": "string"},
            "fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "view.field or view.field[grain]",
            },
            "filters": {"type": "object", "additionalProperties": True},
            "sorts": {"type": "array", "items": {"type": "object"}},
            "limit": {"type": ["integer", "null"], "minimum": 1, "default": 1000},
            "offset": {"type": "integer", "minimum": 0},
            "pivots": {"type": "array", "items": {"type": "string"}},
        },
    },
    "RunRequest": {
        "type": "object",
        "required": ["query"],
        "properties": {
            "query": {"$ref": "#/components/schemas/Query"},
            "userId": {
                "type": "string",
                "description": "Legacy place for impersonation; prefer ?userId=",
            },
            "cache": {
                "type": "string",
                "enum": list(CACHE_POLICIES),
                "default": "SkipRequery",
                "description": (
                    "SkipRequery: a fresh cached result answers, else run. Standard: a cached "
                    "result answers even when stale (cache_type EXACT_STALE) and is refreshed in "
                    "the background. SkipCache, SkipCacheAndRebuildExtracts: always run, and "
                    "cache the result."
                ),
            },
            "resultType": {
                "type": "string",
                "enum": list(RESULT_TYPES),
                "description": (
                    "Answer with one document instead of NDJSON: csv (text/csv), json (an array "
                    "of rows keyed by field label), xlsx (a workbook) or arrow (the result as an "
                    "Arrow IPC stream, application/vnd.apache.arrow.stream: the bytes the NDJSON "
                    "line carries in base64; not with formatResults)"
                ),
            },
            "formatResults": {
                "type": "boolean",
                "description": (
                    "With resultType csv, json or xlsx: apply the fields' formats "
                    "(usdcurrency_2, ...); true with arrow is a 400"
                ),
            },
            "planOnly": {"type": "boolean"},
            "branchId": {
                "type": "string",
                "format": "uuid",
                "description": "Run on this branch of query.modelId (404 for an unknown one)",
            },
            "timezone": {"type": "string", "description": "IANA time zone name"},
        },
    },
    "TimedOut": {
        "type": "object",
        "required": ["detail", "remaining_job_ids", "timed_out"],
        "properties": {
            "detail": {"type": "string", "const": "Query timed out"},
            "remaining_job_ids": {"type": "array", "items": {"type": "string"}},
            "timed_out": {"type": "boolean", "description": "A boolean here (NDJSON: a string)"},
        },
    },
    "JobLine": {
        "type": "object",
        "required": ["job_id", "status"],
        "additionalProperties": True,
        "properties": {
            "job_id": {"type": "string"},
            "status": {"type": "string", "enum": ["COMPLETE", "PLANNED", "ERROR"]},
            "error_type": {"type": "string"},
            "error_message": {"type": "string"},
        },
    },
    "JobProgress": {
        "type": "object",
        "required": ["job_id", "status", "connection"],
        "properties": {
            "job_id": {"type": "string"},
            "status": {"type": "string", "enum": ["QUEUED", "RUNNING"]},
            "queue_position": {
                "type": "integer",
                "minimum": 1,
                "description": "QUEUED only: 1 is next (reported by the replica holding the job)",
            },
            "connection": {"type": "string"},
            "progress": {
                "type": ["number", "null"],
                "minimum": 0,
                "maximum": 1,
                "description": (
                    "RUNNING only: the warehouse's estimate (DuckDB query_progress); null while "
                    "it cannot tell, absent where the engine never reports it"
                ),
            },
        },
    },
    "HistoryRecord": {
        "type": "object",
        "properties": {
            "jobId": {"type": "string"},
            "status": {"type": "string"},
            "modelId": {"type": "string"},
            "topic": {"type": ["string", "null"]},
            "fields": {"type": "array", "items": {"type": "string"}},
            "userId": {"type": ["string", "null"]},
            "createdAt": {"type": "string", "format": "date-time"},
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
            "durationMs": {"type": ["number", "null"]},
            "rows": {"type": ["integer", "null"]},
            "bytes": {"type": ["integer", "null"]},
            "cacheType": {"type": ["string", "null"]},
            "sql": {"type": ["string", "null"]},
            "error": {
                "type": ["object", "null"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            },
            "query": {"type": "object", "description": "The query object as sent"},
        },
    },
    "HistoryPage": {
        "type": "object",
        "properties": {
            "records": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryRecord"}},
            "pageInfo": {
                "type": "object",
                "properties": {
                    "hasNextPage": {"type": "boolean"},
                    "nextCursor": {"type": ["string", "null"]},
                    "pageSize": {"type": "integer"},
                },
            },
        },
    },
    "Field": {
        "type": "object",
        "properties": {
            "field_name": {"type": "string"},
            "fully_qualified_name": {"type": "string"},
            "view_name": {"type": "string"},
            "label": {"type": "string"},
            "data_type": {
                "type": "string",
                "enum": [
                    "NUMBER",
                    "STRING",
                    "TIMESTAMP",
                    "DATE",
                    "BOOLEAN",
                    "ARRAY",
                    "JSON",
                    "INTERVAL",
                    "UNKNOWN",
                ],
            },
            "is_dimension": {"type": "boolean"},
            "aggregate_type": {"type": ["string", "null"]},
            "format": {"type": ["object", "null"], "properties": {"value": {"type": "string"}}},
            "hidden": {"type": "boolean"},
            "description": {"type": ["string", "null"]},
        },
    },
    "Whoami": {
        "type": "object",
        "properties": {
            "user": {
                "type": "object",
                "properties": {
                    "id": {"type": ["string", "null"]},
                    "membershipId": {"type": ["string", "null"]},
                },
            },
            "keyScope": {"type": "string", "enum": ["user", "organization"]},
            "orgRole": {"type": "string"},
            "rolesByModel": {"type": "object", "additionalProperties": {"type": "object"}},
        },
    },
    "ModelPage": {
        "type": "object",
        "properties": {
            "pageInfo": {
                "type": "object",
                "properties": {
                    "hasNextPage": {"type": "boolean"},
                    "nextCursor": {"type": ["string", "null"]},
                    "pageSize": {"type": "integer"},
                    "totalRecords": {"type": "integer"},
                },
            },
            "records": {"type": "array", "items": {"type": "object"}},
        },
    },
    "TopicList": {
        "type": "object",
        "properties": {
            "success": {"type": "boolean"},
            "topics": {"type": "array", "items": {"type": "object"}},
        },
    },
    "TopicDetail": {
        "type": "object",
        "properties": {"success": {"type": "boolean"}, "topic": {"type": "object"}},
    },
    "ViewList": {
        "type": "object",
        "properties": {
            "success": {"type": "boolean"},
            "views": {"type": "array", "items": {"type": "object"}},
        },
    },
    "RefreshStarted": {
        "type": "object",
        "required": ["jobId", "modelId", "status"],
        "properties": {
            "jobId": {"type": "string", "format": "uuid"},
            "modelId": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["running"]},
        },
    },
    "JobStatus": {
        "type": "object",
        "required": ["job_id", "job_type", "status"],
        "properties": {
            "job_id": {"type": "string"},
            "job_type": {"type": "string", "enum": ["refresh_schema"]},
            "status": {"type": "string", "enum": ["RUNNING", "COMPLETED", "FAILED"]},
            "error": {"type": "string"},
        },
    },
}


def _operations() -> dict[str, Any]:
    """Liveness, readiness and metrics: no token (for load balancers and scrapers)."""

    def unauthenticated(summary: str, media: str, extra: dict[str, Any]) -> dict[str, Any]:
        ok = {"description": "OK", "content": {media: {"schema": {"type": "object"}}}}
        return {"get": {"summary": summary, "security": [], "responses": {"200": ok, **extra}}}

    not_ready = {"503": {"description": "Not ready: `failing` names the failing checks"}}
    return {
        "/health": unauthenticated("Liveness (kept for existing clients)", _JSON, {}),
        "/healthz": unauthenticated("Liveness: the process serves requests", _JSON, {}),
        "/readyz": unauthenticated(
            "Readiness: the job store and every connection answer a trivial query (a model whose "
            "files do not validate: still ready, with `degraded`)",
            _JSON,
            not_ready,
        ),
        "/metrics": unauthenticated("Prometheus metrics (text format)", "text/plain", {}),
    }


def openapi_document(version: str) -> dict[str, Any]:
    run = {
        "post": {
            "summary": "Run a semantic query as a job; held for the run window",
            "parameters": [
                _param("userId", "query", "Run as this user (organization keys)"),
                _param(
                    "runWindowS",
                    "query",
                    "Hold at most this many seconds (sluice extension; at most run_window_s)",
                    {"type": "number", "minimum": 0},
                ),
            ],
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/RunRequest"}}},
            },
            "responses": {
                "200": {
                    "description": (
                        _NDJSON_TEXT + " With resultType: the document (CSV, JSON "
                        "array of rows keyed by field label, an XLSX workbook, or the Arrow IPC "
                        "stream), with headers x-sluice-job-id and x-sluice-cache-type."
                    ),
                    "content": {
                        **_NDJSON_CONTENT,
                        "text/csv": {"schema": {"type": "string"}},
                        _JSON: {"schema": {"type": "array", "items": {"type": "object"}}},
                        _XLSX: {"schema": {"type": "string", "format": "binary"}},
                        _ARROW: {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                **_errors(400, 403, 404, 408, 429, 500),
            },
        }
    }
    cancel = {
        "delete": {
            "summary": (
                "Cancel a job (sluice extension): the warehouse statement is interrupted and the "
                "job ends ERROR with error_type KILL; a finished job is left as it is"
            ),
            "parameters": [_param("jobId", "path", "Job id", required=True)],
            "responses": {
                "200": {
                    "description": "The job's final line (for a cancelled job, ERROR/KILL)",
                    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/JobLine"}}},
                },
                **_errors(400, 403, 404, 429, 500),
            },
        },
        "get": {
            "summary": (
                "A job's status (sluice extension): its line once finished, else QUEUED (with "
                "queue_position) or RUNNING and the connection it runs on"
            ),
            "parameters": [_param("jobId", "path", "Job id", required=True)],
            "responses": {
                "200": {
                    "description": "The job's line, or {job_id, status, queue_position, ...}",
                    "content": {
                        _JSON: {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/JobLine"},
                                    {"$ref": "#/components/schemas/JobProgress"},
                                ]
                            }
                        }
                    },
                },
                **_errors(400, 403, 404, 429, 500),
            },
        },
    }
    wait = {
        "get": {
            "summary": "Wait for jobs; held for the wait window, re-delivers finished jobs",
            "parameters": [
                _param("job_ids", "query", 'JSON array (["a","b"]) or comma-separated job ids'),
                _param("jobIds", "query", "Comma-separated job ids"),
            ],
            "responses": {"200": _NDJSON, **_errors(400, 403, 429, 500)},
        }
    }
    models = _get(
        "List models (cursor pagination)",
        "ModelPage",
        [
            _param(
                "pageSize",
                "query",
                "1..100, default 20",
                {"type": "integer", "minimum": 1, "maximum": 100},
            ),
            _param("cursor", "query", "nextCursor of the previous page"),
            _param("name", "query", "Exact name, case-insensitive"),
            _param("modelId", "query", "Model UUID", {"type": "string", "format": "uuid"}),
            _param("connectionId", "query", "Connection id"),
            _param("baseModelId", "query", "Base model id"),
            _param("modelKind", "query", "SHARED (the folders), or BRANCH (the branches)"),
        ],
        (400, 403, 429),
    )
    history = _get(
        "Query history (sluice extension)",
        "HistoryPage",
        [
            _param(
                "limit",
                "query",
                "1..100, default 25",
                {"type": "integer", "minimum": 1, "maximum": 100},
            ),
            _param("cursor", "query", "nextCursor of the previous page"),
            _param("status", "query", "Only jobs in this status (COMPLETE, ERROR, EXECUTING, ...)"),
            _param("userId", "query", "Only this user's jobs"),
        ],
        (400, 403, 429),
    )
    history["get"]["description"] = (
        "The caller's organization's jobs, newest first, paged with an opaque cursor; kept for "
        "server.history_retention_days. An organization key sees every user's jobs; a personal "
        "token sees its own user's jobs only (naming another user is a 403) unless the user is "
        "an admin."
    )
    paths: dict[str, Any] = {}
    for prefix in ("/api/v1", "/api/unstable"):
        paths[f"{prefix}/query/jobs"] = history
        paths[f"{prefix}/query/run"] = run
        paths[f"{prefix}/query/wait"] = wait
        paths[f"{prefix}/query/jobs/{{jobId}}"] = cancel
    paths["/api/v1/whoami"] = _get(
        "Who the token is and its roles per model",
        "Whoami",
        [_param("modelId", "query", "Comma-separated model ids to report on")],
        (400, 403, 429),
    )
    paths["/api/v1/models"] = models
    paths["/api/v1/models/{modelId}/topic"] = _get(
        "Topics of a model", "TopicList", [_MODEL_ID], (400, 403, 404, 429)
    )
    paths["/api/v1/models/{modelId}/topic/{topicName}"] = _get(
        "One topic with its views, typed fields and relationships",
        "TopicDetail",
        [_MODEL_ID, _param("topicName", "path", "Topic name", required=True)],
        (400, 403, 404, 429),
    )
    paths["/api/v1/models/{modelId}/view"] = _get(
        "Every view with field names and kinds", "ViewList", [_MODEL_ID], (400, 403, 404, 429)
    )
    added = model_paths()
    models.update(added.pop("/api/v1/models#create"))  # POST /api/v1/models: a branch
    paths.update(added)
    refresh = _get(
        "Read the model's warehouse again (schema refresh), in the background",
        "RefreshStarted",
        [_MODEL_ID],
        (400, 403, 404, 429),
    )
    paths["/api/v1/models/{modelId}/refresh"] = {"post": refresh["get"]}
    paths["/api/v1/jobs/{jobId}/status"] = _get(
        "The status of a schema refresh job",
        "JobStatus",
        [_param("jobId", "path", "The refresh's job id", required=True)],
        (400, 403, 404, 429),
    )
    paths.update(_operations())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sluice: Omni-compatible semantic query API",
            "version": version,
            "description": "Speaks Omni's query API; see the wire contract in the sluice docs.",
        },
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Organization API key or personal access token",
                }
            },
            "schemas": _SCHEMAS,
        },
        "paths": paths,
    }
