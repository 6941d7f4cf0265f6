"""NDJSON framing of the run and wait responses (contract §6, §9).

``text/ndjson``; one compact JSON object per line and exactly one ``\\n`` after each; the header
comes first on a run response, the footer always last. Job lines are rendered once, by the job
service (``sluice.jobs.lines``), and are concatenated here as bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import Response

from sluice.jobs.lines import dumps

MEDIA_TYPE = "text/ndjson"


def header_line(jobs: dict[str, str]) -> bytes:
    """``{"jobs_submitted": {job_id: client_result_id}}``."""
    return dumps({"jobs_submitted": jobs}) + b"\n"


def footer_line(remaining: list[str]) -> bytes:
    """``timed_out`` is the STRING "true" exactly when jobs remain (a boolean hangs the SDK)."""
    timed_out = "true" if remaining else "false"
    return dumps({"remaining_job_ids": remaining, "timed_out": timed_out}) + b"\n"


def ndjson_response(lines: Iterable[bytes]) -> Response:
    # Exactly ``text/ndjson``: Starlette would append "; charset=utf-8" to a text/* media type.
    return Response(b"".join(lines), status_code=200, headers={"content-type": MEDIA_TYPE})
