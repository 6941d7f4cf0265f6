"""The ASGI app that speaks Omni's query API."""

from sluice.api.app import create_app

__all__ = ["create_app"]
