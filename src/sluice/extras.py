"""Optional dependency groups ("extras") and the one-line error when one is missing.

The default install is DuckDB and the server. Each other warehouse, and Redis for replicas, is
an extra: ``pip install 'sluice-semantic[postgres]'``. Nothing imports an extra's modules until
the feature that needs it is used, and then :func:`needs` turns the ``ModuleNotFoundError`` into
a :class:`~sluice.errors.MissingExtra` naming the install command.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

from sluice.errors import MissingExtra

#: The PyPI distribution (the command it installs is ``sluice``).
DISTRIBUTION = "sluice-semantic"

#: The top-level modules each extra provides.
EXTRAS: dict[str, frozenset[str]] = {
    "postgres": frozenset({"adbc_driver_manager", "adbc_driver_postgresql"}),
    "spark": frozenset({"pyspark", "grpc", "google", "pandas", "zstandard"}),
    "trino": frozenset({"trino"}),
    "redis": frozenset({"redis"}),
}


#: The module whose presence says an extra is installed.
PRIMARY: dict[str, str] = {
    "postgres": "adbc_driver_postgresql",
    "spark": "pyspark",
    "trino": "trino",
    "redis": "redis",
}


def require(extra: str, feature: str) -> None:
    """Raise MissingExtra now (before any connection attempt) when ``extra`` is not installed."""
    module = PRIMARY[extra]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(
            f"{feature} needs the {extra} extra ({module} is not installed): {install_hint(extra)}"
        )


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


@contextlib.contextmanager
def needs(extra: str, feature: str) -> Iterator[None]:
    """Run an import of ``extra``'s modules; a missing one becomes a one-line MissingExtra."""
    try:
        yield
    except ModuleNotFoundError as exc:
        root = (exc.name or "").partition(".")[0]
        if root not in EXTRAS[extra]:
            raise
        raise MissingExtra(
            f"{feature} needs the {extra} extra ({root} is not installed): {install_hint(extra)}"
        ) from None
