"""The pages for people: `/` (what is where), `/docs` (Swagger UI over /openapi.json)
and `/readme` (the README as plain text).

Swagger UI's files come from the `swagger-ui-py` package (its `swagger_ui/static`
folder, Swagger UI 5, which renders OpenAPI 3.1) and are served from here, so the
page works offline and loads nothing from anywhere else; its Content-Security-Policy
holds it to that. Only the files the page loads are served (`ASSETS`), and none of
the package's framework glue is used: the page and its initializer are written here.

The README is the one in the installed distribution's metadata (`readme` in
pyproject.toml), so a wheel serves its own; an editable install shows the README as
it was at install time.
"""

from __future__ import annotations

import html
import importlib.util
from functools import cache
from importlib import metadata
from pathlib import Path

from aiohttp import web

routes = web.RouteTableDef()

DISTRIBUTION = "navixy-panel"
TITLE = "navixy-panel API"
DOCUMENT_URL = "/openapi.json"
STATIC_PREFIX = "/docs/static/"
INITIALIZER_URL = "/docs/swagger-initializer.js"

# The files /docs loads from Swagger UI's distribution, with their types.
ASSETS: dict[str, str] = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

# Swagger UI sets inline styles and draws some icons as data: URIs; everything else,
# the document and "Try it out" included, is this origin.
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")
INDEX_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@cache
def swagger_ui_dir() -> Path | None:
    """`swagger_ui/static` of the installed package, found without importing it (its
    `__init__` loads every framework adapter)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if folder.is_dir() else None


@cache
def _version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


@cache
def readme() -> str | None:
    try:
        text = metadata.metadata(DISTRIBUTION)["Description"]
    except metadata.PackageNotFoundError:
        return None
    return text or None


def _page(body: str, policy: str) -> web.Response:
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers={
        "Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"})


_DOCS_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{html.escape(TITLE)}</title>
  <link rel="stylesheet" href="{STATIC_PREFIX}swagger-ui.css">
  <link rel="icon" type="image/png" href="{STATIC_PREFIX}favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="{STATIC_PREFIX}favicon-16x16.png" sizes="16x16">
</head>
<body>
  <noscript>This page needs JavaScript; the document itself is
    <a href="{DOCUMENT_URL}">{DOCUMENT_URL}</a>.</noscript>
  <div id="swagger-ui"></div>
  <script src="{STATIC_PREFIX}swagger-ui-bundle.js" charset="utf-8"></script>
  <script src="{INITIALIZER_URL}" charset="utf-8"></script>
</body>
</html>
"""

# A file of its own rather than an inline script: the policy allows no inline scripts.
_INITIALIZER = f"""window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{DOCUMENT_URL}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayOperationId: true,
    displayRequestDuration: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}});
"""


@routes.get("/docs")
async def docs(request: web.Request) -> web.Response:
    return _page(_DOCS_PAGE, DOCS_POLICY)


@routes.get("/docs/")
async def docs_slash(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/docs")


@routes.get(INITIALIZER_URL)
async def initializer(request: web.Request) -> web.Response:
    return web.Response(text=_INITIALIZER, content_type="text/javascript", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


@routes.get(STATIC_PREFIX + "{name}")
async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    folder = swagger_ui_dir()
    if name not in ASSETS or folder is None:
        raise web.HTTPNotFound()
    return web.FileResponse(folder / name, headers={
        "Content-Type": ASSETS[name], "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff"})


@routes.get("/readme")
async def readme_text(request: web.Request) -> web.Response:
    text = readme()
    if text is None:
        raise web.HTTPNotFound()
    return web.Response(text=text, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


@cache
def _index_page() -> str:
    version = _version()
    links = [
        ("/docs", "the interactive API page (Swagger UI): every operation of both faces, "
                  "with examples, to read and to try from the browser"),
        (DOCUMENT_URL, "the OpenAPI 3.1 document behind it"),
        ("/readme", "the README, as plain text: the quick start, a tour of both faces, the "
                    "error codes and the commands (README.md at the top of the source "
                    "tree; the reference is in its docs/ folder)"),
        ("/health", "liveness probe"),
        ("/ready", "readiness probe (the database answers)"),
        ("/metrics", "Prometheus metrics"),
    ]
    items = "\n".join(f'    <li><a href="{url}"><code>{url}</code></a>: {html.escape(text)}</li>'
                      for url, text in links)
    footer = f"<p>Version {html.escape(version)}.</p>" if version else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>navixy-panel</title>
  <style>body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto;
    padding: 0 1rem; line-height: 1.5 }} li {{ margin: .4rem 0 }}</style>
</head>
<body>
  <h1>navixy-panel</h1>
  <p>Email gateways of a telematics platform's dealers, over two APIs: Navixy's Admin Panel
    API (<code>/v2/panel/…</code>) and Webitel's email settings API
    (<code>/api/v2/email/settings</code>).</p>
  <ul>
{items}
  </ul>
  {footer}
</body>
</html>
"""


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return _page(_index_page(), INDEX_POLICY)
