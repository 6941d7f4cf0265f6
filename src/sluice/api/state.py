"""What the app's lifespan owns, reachable from every handler as ``services(request)``."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from sluice.api.statedir import StateDirProbe
from sluice.auth.principal import Authenticator, Principal
from sluice.config import Config
from sluice.jobs.service import JobService
from sluice.models.refresh import RefreshJobs
from sluice.models.service import ModelService
from sluice.project import Project


@dataclass
class Services:
    config: Config
    project: Project
    jobs: JobService
    auth: Authenticator
    model_timestamps: dict[str, str] = field(default_factory=dict)
    store_kind: str = "embedded"  # "redis": replicas share jobs, cache, keys and rate limits
    state_dir: StateDirProbe | None = None  # the embedded store's folder, probed for writes
    models: ModelService | None = None  # versions, live reload and changes of the models
    refreshes: RefreshJobs = field(default_factory=RefreshJobs)  # schema refreshes run here

    async def principal(self, request: Request) -> Principal:
        return await self.auth.authenticate(request.headers.get("authorization"))


def services(request: Request) -> Services:
    found: Services | None = getattr(request.app.state, "sluice", None)
    if found is None:
        raise RuntimeError("the sluice app has not started (its lifespan did not run)")
    return found
