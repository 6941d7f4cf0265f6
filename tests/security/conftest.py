"""Fixtures for the attack suite: the real app on the demo project, a secret on disk and in the
process environment, and the three kinds of caller (an organization key, a plain user's personal
token, a user allowed raw SQL)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.support import ApiClient, open_api


@dataclass(frozen=True)
class Target:
    api: ApiClient
    secret: str  # in `secret_file`, in the process environment and in a job result on disk
    secret_file: Path
    state_dir: Path
    canary_dir: Path  # statements try to write here; it must stay empty


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("attack")
    secret = "sluice-secret-" + secrets.token_hex(12)
    secret_file = root / "secret.csv"
    secret_file.write_text(f"password\n{secret}\n")
    canary = root / "canary"
    canary.mkdir()
    os.environ["SLUICE_ATTACK_SECRET"] = secret  # readable through /proc/self/environ
    api = open_api(root / "project", demo_db)
    try:
        yield Target(api, secret, secret_file, root / "project" / "state", canary)
    finally:
        api.close()
        os.environ.pop("SLUICE_ATTACK_SECRET", None)
