"""The demo project folder that ``sluice demo`` runs: sluice.yaml, the demo model, the data.

::

    sluice-demo/
      sluice.yaml              written on every run (copy the folder to make it your own)
      models/ecommerce/        a copy of the packaged demo model (kept once written)
      data/ecommerce_s1_2026-01-31.duckdb
                               the generated warehouse, per scale and as-of date (older
                               as-of dates of the same scale are removed)
      demo-key                 the demo's API key (mode 0600), reused on every run
      .sluice/                 job store, result files and API key hashes
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sluice.auth.tokens import ORGANIZATION
from sluice.config import Config
from sluice.stores.select import open_token_store

MODEL_NAME = "ecommerce"
DEMO_USER_ID = "7d1f4c3a-5b2e-4e8f-9a61-0c2d3e4f5a6b"
PACKAGED_MODEL = Path(__file__).parent / "model"

#: The demo's key, in the demo folder (mode 0600), reused on every run.
DEMO_KEY_FILE = "demo-key"

_CONFIG = """\
# Written by `sluice demo` (rewritten on every run). To make the project your own, copy this
# folder and run `sluice serve --config sluice.yaml`.
connections:
  warehouse: {{engine: duckdb, database: {database}}}
models:
  {model}: {{connection: warehouse, path: models/{model}}}
server:
  state_dir: .sluice
  rate_limit_per_minute: 0
users:
  - id: {user_id}
    email: ada@example.com
    name: Ada (demo analyst)
"""


def data_file(directory: Path, scale: float, as_of: date) -> Path:
    return directory / "data" / f"ecommerce_s{scale:g}_{as_of.isoformat()}.duckdb"


def ensure_demo_data(
    directory: Path,
    scale: float,
    as_of: date,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[Path, bool]:
    """The demo DuckDB file for ``scale`` as of ``as_of``, generated when missing.

    Returns (path, generated). After generating, the files of the same scale for other dates
    are removed: the history moves with the date, it does not pile up.
    """
    path = data_file(directory, scale, as_of)
    if path.is_file():
        return path, False
    from sluice.demo.data import generate_demo_data

    generate_demo_data(path, scale, progress=progress, as_of=as_of)
    for old in path.parent.glob(f"ecommerce_s{scale:g}_*.duckdb"):
        if old != path:
            old.unlink(missing_ok=True)
    return path, True


def write_demo_project(directory: Path, database: Path) -> Path:
    """Write ``sluice.yaml`` for ``database`` (and the model copy when missing); its path."""
    directory.mkdir(parents=True, exist_ok=True)
    model_dir = directory / "models" / MODEL_NAME
    if not model_dir.is_dir():
        shutil.copytree(PACKAGED_MODEL, model_dir, ignore=shutil.ignore_patterns("__pycache__"))
    config = directory / "sluice.yaml"
    config.write_text(
        _CONFIG.format(
            database=database.relative_to(directory).as_posix(),
            model=MODEL_NAME,
            user_id=DEMO_USER_ID,
        )
    )
    return config


def demo_key_file(directory: Path) -> Path:
    return directory / DEMO_KEY_FILE


def demo_key(config: Config, directory: Path) -> tuple[str, bool]:
    """The demo's organization key: the one kept in ``DIR/demo-key`` while it is still usable,
    else a new one (saved there, mode 0600). Returns (secret, created). Never revokes a key.
    """
    path = demo_key_file(directory)
    with open_token_store(config.server) as store:
        if path.is_file():
            secret = path.read_text().strip()
            token = store.lookup(secret) if secret else None
            if token is not None and token.usable(time.time()):
                return secret, False
        secret, _ = store.create(ORGANIZATION, config.server.organization_id, name="demo")
    _write_private(path, secret + "\n")
    return secret, True


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
