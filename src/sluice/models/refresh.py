"""Schema refresh jobs: what ``POST /api/v1/models/{id}/refresh`` started on this replica."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

KEEP = 1000  # the newest refresh jobs kept for their status


@dataclass
class RefreshJob:
    job_id: str
    model_id: str
    organization_id: str
    status: str = "RUNNING"  # RUNNING | COMPLETED | FAILED
    error: str | None = None


class RefreshJobs:
    """The refresh jobs this replica ran, newest last, bounded."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, RefreshJob] = OrderedDict()

    def add(self, job: RefreshJob) -> None:
        self._jobs[job.job_id] = job
        while len(self._jobs) > KEEP:
            self._jobs.popitem(last=False)

    def get(self, job_id: str) -> RefreshJob | None:
        return self._jobs.get(job_id)
