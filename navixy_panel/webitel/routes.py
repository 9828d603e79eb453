"""The Webitel face's routes: URL → handler, in one place."""

from __future__ import annotations

from aiohttp import web

from navixy_panel.http.plumbing import tag
from navixy_panel.webitel import auth, email_settings
from navixy_panel.webitel.errors import FACE

SETTINGS = email_settings.PATH


async def unknown(request: web.Request) -> web.Response:
    tag(request, FACE, "unknown")
    raise web.HTTPNotFound()


def add_routes(app: web.Application) -> None:
    app.router.add_post("/login", auth.login)
    app.router.add_post("/logout", auth.logout)
    app.router.add_get(SETTINGS, email_settings.get_settings)
    app.router.add_post(SETTINGS, email_settings.create_settings)
    app.router.add_put(SETTINGS, email_settings.replace_settings)
    app.router.add_delete(SETTINGS, email_settings.delete_settings)
    app.router.add_post(SETTINGS + "/check", email_settings.check_settings)
    app.router.add_post(SETTINGS + "/test", email_settings.send_test_email)
    app.router.add_post(SETTINGS + "/test/{to}", email_settings.send_test_email)
    app.router.add_route("*", "/api/v2/{tail:.*}", unknown)
