"""The browser pages are served by sluice itself, from the package, under a strict policy."""

from __future__ import annotations

import re

from sluice.api.web import WEB_DIR
from tests.api.support import ApiClient


def test_the_playground_and_docs_pages_are_served_with_a_strict_policy(api: ApiClient) -> None:
    for path in ("/", "/docs"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
    assert 'data-testid="api-key"' in api.get("/").text
    redirect = api.get("/redoc")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/docs"


def test_every_asset_a_page_names_is_served_from_the_package(api: ApiClient) -> None:
    named: set[str] = set()
    for page in ("index.html", "docs.html"):
        named |= set(re.findall(r'(?:src|href)="(/static/[^"]+)"', (WEB_DIR / page).read_text()))
    for module in WEB_DIR.glob("*.js"):  # ES module imports
        named |= {f"/static/{m}" for m in re.findall(r'from "\./([^"]+)"', module.read_text())}
    assert "/static/app.js" in named and "/static/vendor/redoc/redoc.standalone.js" in named
    for path in sorted(named):
        response = api.get(path)
        assert response.status_code == 200, path
        assert response.content == (WEB_DIR / path.removeprefix("/static/")).read_bytes()
    assert api.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert api.get("/static/nope.js").status_code == 404
    assert api.get("/static/../api/web.py").status_code == 404


def test_nothing_in_the_pages_or_scripts_loads_from_another_origin() -> None:
    for path in [*WEB_DIR.glob("*.html"), *WEB_DIR.glob("*.js"), *WEB_DIR.glob("*.css")]:
        text = path.read_text()
        assert not re.search(r'(?:src|href)="(?:https?:)?//', text), path
        assert 'fetch("http' not in text and 'import("http' not in text, path
