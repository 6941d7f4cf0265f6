"""NDJSON framing of the run and wait responses (contract §6, §9).

``text/ndjson``; one compact JSON object per line and exactly one ``\\n`` after each; the header
comes first on a run response, the footer always last. Job lines are rendered once, by the job
service (``sluice.jobs.lines``), and are concatenated here as bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sluice.jobs.lines import dumps, json_text

MEDIA_TYPE = "text/ndjson"


def header_line(jobs: dict[str, str]) -> bytes:
    """``{"jobs_submitted": {job_id: client_result_id}}``."""
    pairs = b",".join(json_text(job) + b":" + json_text(result) for job, result in jobs.items())
    return b'{"jobs_submitted":{' + pairs + b"}}\n"


def footer_line(remaining: list[str]) -> bytes:
    """``timed_out`` is the STRING "true" exactly when jobs remain (a boolean hangs the SDK)."""
    if not remaining:
        return _DONE_FOOTER
    return dumps({"remaining_job_ids": remaining, "timed_out": "true"}) + b"\n"


_DONE_FOOTER = dumps({"remaining_job_ids": [], "timed_out": "false"}) + b"\n"


JOIN_MAX_BYTES = 256 << 10  # up to this size, the lines go out as one body message


class NdjsonResponse(Response):
    """The lines sent as they are, one body message each: a job line can be megabytes of
    base64, and joining the lines first would copy all of it once more. A small answer (the
    usual one) is joined and sent as one message: one socket write instead of one a line."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self.lines = list(lines)
        super().__init__(b"", status_code=200)
        # Exactly ``text/ndjson``: Starlette would append "; charset=utf-8" to a text/* type.
        length = sum(len(line) for line in self.lines)
        if len(self.lines) > 1 and length <= JOIN_MAX_BYTES:
            self.lines = [b"".join(self.lines)]
        self.raw_headers = [
            (b"content-type", MEDIA_TYPE.encode()),
            (b"content-length", str(length).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        last = len(self.lines) - 1
        for i, line in enumerate(self.lines):
            await send({"type": "http.response.body", "body": line, "more_body": i < last})
        if last < 0:
            await send({"type": "http.response.body", "body": b""})


def ndjson_response(lines: Iterable[bytes]) -> Response:
    return NdjsonResponse(lines)
