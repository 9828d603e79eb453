"""CORS for both faces: only the configured origins, preflight answered."""

from __future__ import annotations

from tests.support.api import Api

PANEL = "https://panel.example"


async def test_nothing_is_allowed_by_default(api: Api) -> None:
    response = await api.client.options("/v2/panel/gateways/email/list", headers={
        "Origin": PANEL, "Access-Control-Request-Method": "POST"})
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    response = await api.client.post("/v2/panel/gateways/email/list", headers={"Origin": PANEL})
    assert response.status == 400
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_configured_origin_preflight_and_request(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(cors_origins=(PANEL,)), db)
    for path in ("/v2/panel/gateways/email/list", "/api/v2/email/settings", "/login"):
        response = await api.client.options(path, headers={
            "Origin": PANEL, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-key, x-access-token, content-type"})
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == PANEL
        assert response.headers["Access-Control-Allow-Headers"] == (
            "Authorization, Content-Type, X-Key, X-Access-Token")
        assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE"
    await api.dealer("d1")
    h = await api.login("d1")
    response = await api.client.post("/v2/panel/gateways/email/list",
                                     data={"hash": h}, headers={"Origin": PANEL})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == PANEL
    assert response.headers["Vary"] == "Origin"
    # Errors carry the header too, so the panel can read status.code.
    response = await api.client.post("/v2/panel/gateways/email/list", headers={"Origin": PANEL})
    assert (response.status, response.headers["Access-Control-Allow-Origin"]) == (400, PANEL)
    # Another origin gets nothing.
    response = await api.client.options("/v2/panel/gateways/email/list", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert response.status == 403 and "Access-Control-Allow-Origin" not in response.headers
