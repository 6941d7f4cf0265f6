"""Structured logs: one JSON object per line, with the request id of the request being served.

``request_id`` and ``job_ids`` are context variables: the request middleware sets the first for
the request's task, and handlers add the jobs they submit to the second, so every record logged
while serving a request (and its access line) carries them. Records from worker threads name
their job through ``extra={"job_id": ...}``.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import sys
import time
import traceback
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str | None] = ContextVar("sluice_request_id", default=None)
job_ids: ContextVar[list[str] | None] = ContextVar("sluice_job_ids", default=None)

# Attributes a record may carry (``extra=``) that the JSON line includes, in this order.
FIELDS = ("request_id", "method", "route", "path", "status", "duration_ms", "job_id", "replica")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_SKIP = _STANDARD | set(FIELDS) | {"color_message"}  # uvicorn's ANSI-coloured copy
MAX_REQUEST_ID = 128


_ids = random.Random(secrets.randbits(64))  # seeded once: no system call per request


def new_request_id() -> str:
    """16 hex digits. Unique enough to find a request in the logs; not a secret, so it comes
    from a seeded generator (an OS random read per request costs more than the request)."""
    return f"{_ids.getrandbits(64):016x}"


def accepted_request_id(value: str | None) -> str:
    """The client's ``X-Request-Id`` when it is a sane token, else a fresh one."""
    sane = value and len(value) <= MAX_REQUEST_ID and value.isascii() and value.isprintable()
    if value and sane and not any(c.isspace() for c in value):
        return value
    return new_request_id()


def note_job(job_id: str) -> None:
    """Name a job in the current request's access log line."""
    found = job_ids.get()
    if found is not None:
        found.append(job_id)


class ContextFilter(logging.Filter):
    """Gives every record the current request id (when it has none of its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if name == "request_id" and value is None:
                value = request_id.get()
            if value is not None:
                out[name] = value
        for name, value in record.__dict__.items():  # any other extra=
            if value is None or name in _SKIP or name in out or name.startswith("_"):
                continue
            out[name] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            out["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = [f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None)]
        return f"{text} [{' '.join(extras)}]" if extras else text


def configure(log_format: str, level: str = "info") -> None:
    """Route every log record (sluice's and uvicorn's) to stderr in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def _iso(epoch: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{seconds}.{int(epoch % 1 * 1000):03d}Z"
