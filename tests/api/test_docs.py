"""The API's documentation pages work in a lab without internet: /docs (Swagger UI) and
/redoc load their scripts, styles and icon from loggerd itself, never from a CDN."""

from __future__ import annotations

import re

import pytest

from .fakes import client

# Every URL a page loads or points at: src= and href= attributes, ReDoc's spec-url, and the
# `url:` Swagger UI is started with.
_URLS = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|\burl:\s*'([^']*)'""")
_ASSETS = {
    ".js": ("javascript", 100_000),
    ".css": ("text/css", 10_000),
    ".png": ("image/png", 100),
    ".json": ("application/json", 1_000),
}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_documentation_loads_nothing_from_outside(page: str) -> None:
    async with client() as http:
        html = await http.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        elsewhere = re.search(r"https?://|[\"']//", html.text)
        assert elsewhere is None, f"{page} names a URL on another host: {elsewhere}"
        urls = [a or b for a, b in _URLS.findall(html.text)]
        assert any(u.endswith(".js") for u in urls), urls
        for url in urls:
            assert url.startswith("/"), url
            asset = await http.get(url)
            kind, least_bytes = _ASSETS[url[url.rindex(".") :]]
            assert asset.status_code == 200, url
            assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
            assert len(asset.content) >= least_bytes, url
