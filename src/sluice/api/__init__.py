"""The ASGI app that speaks Omni's query API (wired by ``sluice.server.create_app``)."""

from sluice.api.app import build_app

__all__ = ["build_app"]
