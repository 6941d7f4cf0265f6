"""One exception tree for sluice.

Every error carries a stable ``code``. The code decides, in one table, the HTTP status a request
gets and the ``error_type`` a job line carries; nothing else picks a status from an exception's
Python type. User errors name the offending input and, where a name is close, suggest it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class SluiceError(Exception):
    """Base of every error sluice raises on purpose."""

    code: str = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- user errors (4xx) ----------------------------------------------------------------------------


class UserError(SluiceError):
    """The caller's input is wrong; the message says how."""

    code = "BAD_REQUEST"


class BadRequest(UserError):
    code = "BAD_REQUEST"


class AuthError(UserError):
    code = "UNAUTHORIZED"


class Forbidden(UserError):
    code = "FORBIDDEN"


class NotFound(UserError):
    code = "NOT_FOUND"


class Conflict(UserError):
    """The request would overwrite a change it has not seen (a stale checksum)."""

    code = "CONFLICT"


class RateLimited(UserError):
    code = "RATE_LIMITED"


class ConfigError(UserError):
    """``sluice.yaml`` (or an environment override) is invalid."""

    code = "CONFIG"


class MissingExtra(ConfigError):
    """A feature needs an optional dependency group (an extra) that is not installed."""


class SemanticSqlError(BadRequest):
    """Flight SQL text that is not a semantic query (Flight ``INVALID_ARGUMENT``)."""


class PlanError(UserError):
    """A query cannot be planned against the model (unknown filter field, bad filter, ...)."""

    code = "PLAN"


class Unsupported(PlanError):
    """The query asks for a feature the target dialect cannot express."""

    code = "UNSUPPORTED"


class SqlNotAllowed(PlanError):
    """A ``userEditedSQL`` statement does something SQL mode does not allow (reads a file or a
    table outside its topic, writes, changes a setting): a ``FORBIDDEN`` planning error."""

    code = "FORBIDDEN"


# -- model errors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelIssue:
    """One problem found while loading a model, located in its file."""

    file: str
    line: int
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


class ModelError(UserError):
    """A model failed validation; ``issues`` lists every problem, not only the first."""

    code = "MODEL"

    def __init__(self, issues: Iterable[ModelIssue]) -> None:
        self.issues = tuple(issues)
        errors = [i for i in self.issues if i.severity == "error"]
        head = f"{len(errors)} error(s) in the model"
        super().__init__(head + ":\n" + "\n".join(str(i) for i in errors))


# -- execution errors -----------------------------------------------------------------------------


class QueryError(SluiceError):
    """The warehouse rejected or failed the statement."""

    code = "QUERY"


class Cancelled(SluiceError):
    """The statement was interrupted (cancel or deadline)."""

    code = "KILL"


class Unavailable(SluiceError):
    """Something the request needs cannot be reached right now (a connection that was down at
    start, a job store that cannot be written); the message says what, and it may pass."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, retry_after_s: int = 10) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InternalError(SluiceError):
    code = "INTERNAL"


# code -> (HTTP status, job error_type). The single place statuses are chosen.
STATUS_BY_CODE: dict[str, tuple[int, str]] = {
    "BAD_REQUEST": (400, "PLAN"),
    "UNAUTHORIZED": (400, "FORBIDDEN"),
    "FORBIDDEN": (403, "FORBIDDEN"),
    "NOT_FOUND": (404, "PLAN"),
    "CONFLICT": (409, "PLAN"),
    "RATE_LIMITED": (429, "RATE_LIMIT"),
    "CONFIG": (500, "INTERNAL"),
    "PLAN": (400, "PLAN"),
    "UNSUPPORTED": (400, "UNSUPPORTED"),
    "MODEL": (400, "PLAN"),
    "QUERY": (500, "QUERY"),
    "KILL": (500, "KILL"),
    "UNAVAILABLE": (503, "QUERY"),
    "INTERNAL": (500, "INTERNAL"),
}


def http_status(error: SluiceError) -> int:
    return STATUS_BY_CODE.get(error.code, (500, "INTERNAL"))[0]


def job_error_type(error: SluiceError) -> str:
    return STATUS_BY_CODE.get(error.code, (500, "INTERNAL"))[1]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean `x`?"`` when a candidate is close to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""
