"""The pages for people: / (what is where), /docs (Swagger UI over /openapi.json),
/readme. The document itself is tested in test_openapi_document.py.

The last test opens /docs in headless Chromium: Swagger UI must render the document
(the page's policy allows nothing from elsewhere, so a CDN or an inline script would
show up here as a blank page). It skips when Chromium is absent, except under CI
(`CI` set), where `.ci/run` installs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from navixy_panel import openapi
from navixy_panel.navixy.routes import ACTIONS

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")


def operation_count() -> int:
    paths: dict[str, dict[str, Any]] = json.loads(openapi.document())["paths"]
    return sum(len(item) for item in paths.values())


# -- the pages ------------------------------------------------------------------------------

async def test_each_page_answers_with_its_type(client: TestClient) -> None:
    expected = {
        "/": "text/html",
        "/docs": "text/html",
        "/docs/swagger-initializer.js": "text/javascript",
        "/docs/static/swagger-ui-bundle.js": "text/javascript",
        "/docs/static/swagger-ui.css": "text/css",
        "/docs/static/favicon-32x32.png": "image/png",
        "/openapi.json": "application/json",
        "/readme": "text/plain",
    }
    for path, content_type in expected.items():
        response = await client.get(path)
        assert response.status == 200, path
        assert response.content_type == content_type, path
        assert len(await response.read()) > 100, path
    bundle = await client.get("/docs/static/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in await bundle.text()
    assert bundle.headers["Cache-Control"] == "public, max-age=3600"
    assert "ETag" in bundle.headers
    head = await client.head("/docs/static/swagger-ui.css")
    assert head.status == 200


async def test_docs_page_loads_only_this_origins_files(client: TestClient) -> None:
    response = await client.get("/docs")
    page = await response.text()
    assert "<title>navixy-panel API</title>" in page
    assert 'src="/docs/static/swagger-ui-bundle.js"' in page
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    initializer = await (await client.get("/docs/swagger-initializer.js")).text()
    assert 'url: "/openapi.json"' in initializer
    # The package's other files (the editor, its demo initializer) are not served.
    for path in ("/docs/static/swagger-initializer.js", "/docs/static/swagger-editor.js",
                 "/docs/static/..%2F__init__.py", "/docs/static/LICENSE"):
        assert (await client.get(path)).status == 404, path
    redirect = await client.get("/docs/", allow_redirects=False)
    assert (redirect.status, redirect.headers["Location"]) == (301, "/docs")


async def test_index_points_to_the_docs_the_readme_and_the_probes(client: TestClient) -> None:
    response = await client.get("/")
    page = await response.text()
    for link in ("/docs", "/openapi.json", "/readme", "/health", "/ready", "/metrics"):
        assert f'href="{link}"' in page, link
    assert "README.md" in page
    assert "Content-Security-Policy" in response.headers
    readme = await (await client.get("/readme")).text()
    assert readme.startswith("# navixy-panel")
    assert "## Quick tour" in readme


# -- in a browser ---------------------------------------------------------------------------

def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data.endswith(b"IEND\xaeB`\x82"), "truncated PNG"
    return width, height


async def test_docs_renders_the_api_in_chromium(client: TestClient, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must install it (apt-get install "
                        "-y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    screenshot = tmp_path / "docs.png"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900",
        "--virtual-time-budget=15000", f"--screenshot={screenshot}", "--dump-dom",
        str(client.make_url("/docs")),
    ]
    # The server runs in this event loop: Chromium must not block it.
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    dom = out.decode()
    report = f"exit {process.returncode}\n{err.decode()[-3000:]}\n{dom[:2000]}"
    assert "<title>navixy-panel API</title>" in dom, report
    assert "Failed to load API definition" not in dom, report
    # Swagger UI rendered every operation, with its path, summary and operation id.
    rendered = dom.count('class="opblock-summary-path"')
    assert rendered == operation_count(), report
    assert 'data-path="/v2/panel/gateways/email/list"' in dom, report
    assert "gateways_email_list" in dom and "webitel_get_email_settings" in dom, report
    assert ACTIONS["gateways/email/list"].summary in dom, report
    data = screenshot.read_bytes()
    assert png_size(data) == (1280, 900)
    # A blank page of that size is about 5 KB; Swagger UI's is well over 100 KB.
    assert len(data) > 40_000, len(data)
    artifacts = os.environ.get("DOCS_SCREENSHOT_DIR")
    if artifacts:  # to look at it: DOCS_SCREENSHOT_DIR=/tmp pytest -k chromium
        shutil.copy(screenshot, Path(artifacts) / "docs.png")
