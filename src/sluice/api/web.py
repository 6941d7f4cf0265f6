"""The browser pages: the playground at ``/``, the API docs at ``/docs``, their static files.

Everything is served from the package (``sluice/web``): no CDN, no build step. The pages call
the same public API as any client. A strict Content-Security-Policy keeps them to this origin
(a vendored library that links elsewhere, like Redoc's footer logo, is simply not loaded).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(str(files("sluice") / "web"))

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # Redoc injects its styles at run time
        "img-src 'self' data: blob:",
        "worker-src 'self' blob:",  # Redoc's search index runs in a worker
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _page(name: str) -> Route:
    path = WEB_DIR / name

    async def page(request: Request) -> Response:
        return FileResponse(path, media_type="text/html; charset=utf-8", headers=HEADERS)

    return Route("/" if name == "index.html" else f"/{name.removesuffix('.html')}", page)


async def _redoc(request: Request) -> Response:
    return RedirectResponse("/docs", status_code=308)


def routes() -> list[BaseRoute]:
    return [
        _page("index.html"),
        _page("docs.html"),
        Route("/redoc", _redoc, methods=["GET"]),
        Mount("/static", StaticFiles(directory=WEB_DIR), name="static"),
    ]
