"""The run request body (contract §3): validated here, before any job exists.

Each rule answers 400 ``{"detail": ..., "status": 400}`` with a message that names the key.
The query object is parsed here, once, into a ``QuerySpec`` (``sluice.query.spec``) that the
job carries to the compiler: every error in it is a 400, never a job ``ERROR``. Unknown keys
inside ``query`` are ignored (the query parser reads what it knows).
"""

from __future__ import annotations

import functools
import json
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice.api.budgets import Budgets, check_query, check_text, loads
from sluice.errors import BadRequest
from sluice.query.spec import QuerySpec, is_uuid, parse_query

CACHE_POLICIES = ("Standard", "SkipRequery", "SkipCache", "SkipCacheAndRebuildExtracts")
RESULT_TYPES = ("csv", "json", "xlsx", "arrow")


@dataclass(frozen=True, slots=True)
class RunEnvelope:
    query: Mapping[str, Any]
    model_id: str  # lower-case canonical UUID
    cache: str
    plan_only: bool
    timezone: str | None
    body_user_id: object  # the legacy body ``userId``, None when absent
    result_type: str | None = None  # csv | json | xlsx | arrow: one body instead of NDJSON
    format_results: bool = False
    spec: QuerySpec | None = None  # the query, parsed (always set by ``parse_run_body``)
    branch_id: str | None = None  # top-level ``branchId``: run on that branch of the model


def parse_json_object(raw: bytes, budgets: Budgets | None = None) -> dict[str, Any]:
    body = loads(raw, budgets or Budgets())
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


REMEMBERED_BODY_BYTES = 16 << 10  # bodies up to this size are parsed once (``parse_run_body``)


def parse_run_body(raw: bytes, budgets: Budgets | None = None) -> RunEnvelope:
    """The run request's envelope and query, parsed and checked. A dashboard sends the same few
    bodies again and again: a small body seen before is answered from memory (the envelope is
    immutable in use: every consumer copies what it changes); a refused one is parsed anew."""
    budgets = budgets or Budgets()
    if len(raw) <= REMEMBERED_BODY_BYTES:
        return _parse_remembered(raw, budgets)
    return _parse_run_body(raw, budgets)


@functools.lru_cache(maxsize=1024)
def _parse_remembered(raw: bytes, budgets: Budgets) -> RunEnvelope:
    return _parse_run_body(raw, budgets)


def _parse_run_body(raw: bytes, budgets: Budgets) -> RunEnvelope:
    body = parse_json_object(raw, budgets)
    query = body.get("query")
    if query is None:
        raise BadRequest("query is required")
    if not isinstance(query, dict):
        raise BadRequest("query must be an object")
    _check_query(query)
    check_query(query, budgets)

    cache = body.get("cache", None)
    if cache is None:
        cache = "SkipRequery"
    if cache not in CACHE_POLICIES:
        raise BadRequest(f"cache must be one of {', '.join(CACHE_POLICIES)}; got {cache!r}")
    plan_only = _optional_bool(body, "planOnly")
    format_results = _optional_bool(body, "formatResults")
    result_type = body.get("resultType")
    if result_type is not None and result_type not in RESULT_TYPES:
        raise BadRequest(
            f"resultType must be one of {', '.join(RESULT_TYPES)}; got {result_type!r}"
        )
    if plan_only and result_type is not None:
        raise BadRequest("planOnly and resultType cannot both be provided")
    if format_results is not None and result_type is None:
        raise BadRequest("formatResults cannot be provided without resultType")
    if format_results and result_type == "arrow":
        raise BadRequest(
            'formatResults cannot be used with resultType "arrow": formats turn values into '
            'strings and an Arrow stream keeps them typed; ask for resultType "csv", "json" '
            'or "xlsx" to get formatted values'
        )
    if query.get("limit", 1000) is None and _non_empty(query.get("pivots")) and result_type is None:
        raise BadRequest(
            "Unlimited limit (null) cannot be used with pivoted queries unless resultType is set"
        )
    branch_id = _check_branch(body.get("branchId"))
    spec = parse_query(query)
    return RunEnvelope(
        query=query,
        model_id=str(query["modelId"]).lower(),
        cache=cache,
        plan_only=bool(plan_only),
        timezone=_timezone(body.get("timezone")),
        body_user_id=body.get("userId"),
        result_type=result_type,
        format_results=bool(format_results),
        spec=spec,
        branch_id=branch_id,
    )


def _check_query(query: Mapping[str, Any]) -> None:
    if "modelId" not in query or query["modelId"] is None:
        raise BadRequest("query.modelId is required")
    if not is_uuid(query["modelId"]):
        raise BadRequest(f"query.modelId must be a UUID; got {query['modelId']!r}")
    fields = query.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise BadRequest("query.fields must be an array of strings")
    limit = query.get("limit", 1000)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise BadRequest(f"query.limit must be a positive integer or null; got {limit!r}")
    if "branchId" in query:
        raise BadRequest("branchId must be given at the top level of the request, not inside query")


def _check_branch(branch_id: object) -> str | None:
    if branch_id is None:
        return None
    if not is_uuid(branch_id):
        raise BadRequest(f"branchId must be a UUID; got {branch_id!r}")
    return str(branch_id).lower()


def _optional_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"{key} must be a boolean; got {value!r}")
    return value


def _non_empty(value: object) -> bool:
    return isinstance(value, list | dict) and len(value) > 0


MAX_TIMEZONE_LENGTH = 64  # the longest IANA name is 32 characters


def _timezone(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) > MAX_TIMEZONE_LENGTH:
        raise BadRequest(
            f"timezone must be an IANA time zone name such as America/New_York; got "
            f"{len(value)} characters (at most {MAX_TIMEZONE_LENGTH})"
        )
    if isinstance(value, str) and value:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
        else:
            return value
    raise BadRequest(
        f"timezone must be an IANA time zone name such as America/New_York; got {value!r}"
    )


def parse_job_ids(values: list[str], *, max_ids: int = 1000) -> list[str]:
    """``job_ids`` as a JSON array (the SDK) or comma-separated (``job_ids``/``jobIds``, CLI)."""
    ids: list[str] = []
    for value in values:
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if not isinstance(parsed, list) or not all(isinstance(i, str) for i in parsed):
                raise BadRequest(
                    "job_ids must be a JSON array of strings or a comma-separated list"
                )
            ids.extend(i.strip() for i in parsed)
        else:
            ids.extend(part.strip() for part in text.split(","))
    for i in ids:
        check_text(i, "job_ids")
    unique = list(dict.fromkeys(i for i in ids if i))
    if not unique:
        raise BadRequest(
            'job_ids is required: a JSON array (job_ids=["..."]) or a comma-separated list '
            "(job_ids=a,b or jobIds=a,b)"
        )
    if len(unique) > max_ids:
        raise BadRequest(f"at most {max_ids} job ids can be waited on at once; got {len(unique)}")
    return unique
