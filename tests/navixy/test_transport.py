"""How clients reach the Navixy face: paths, methods, parameter sources, the hash."""

from __future__ import annotations

import pytest

from navixy_panel.navixy.actions import Action, Handler
from navixy_panel.navixy.errors import NavixyError
from navixy_panel.navixy.routes import ACTIONS
from tests.support.api import Api

EMPTY_LIST = {"success": True, "bound_gateway": None, "own": [], "leasable": []}


async def test_admin_panel_request_shape(api: Api) -> None:
    """Navixy's admin panel: form POST to auth with an empty hash=, then the hash in a form."""
    await api.dealer("20410")
    response = await api.client.post(
        "/v2/panel/account/auth", data="login=20410&password=correct+horse+battery+staple&hash=",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status == 200
    body = await response.json()
    assert sorted(body) == ["hash", "permissions", "success"]
    assert len(body["hash"]) == 32 and int(body["hash"], 16) >= 0
    listed = await api.ok("gateways/email/list", form={"hash": body["hash"]})
    assert listed == EMPTY_LIST


@pytest.mark.parametrize("how", ["json", "form", "query", "header", "multipart"])
async def test_list_takes_the_hash_from_anywhere(api: Api, how: str) -> None:
    await api.dealer("d1")
    session_hash = await api.login("d1")
    if how == "json":
        body = await api.ok("gateways/email/list", json={"hash": session_hash})
    elif how == "form":
        body = await api.ok("gateways/email/list", form={"hash": session_hash})
    elif how == "query":
        body = await api.ok("gateways/email/list", method="GET", query={"hash": session_hash})
    elif how == "header":
        body = await api.ok("gateways/email/list", hash=session_hash)
    else:
        import aiohttp

        form = aiohttp.FormData()
        form.add_field("hash", session_hash)
        form.add_field("unused", b"x", filename="x.bin")  # forces multipart/form-data
        body = await api.ok("gateways/email/list", form=form)
    assert body == EMPTY_LIST


@pytest.mark.parametrize("path", ["gateways/email/list/", "gateways/email/list"])
@pytest.mark.parametrize("prefix", ["/v2/panel/", "/panel/"])
async def test_prefixes_and_trailing_slash(api: Api, prefix: str, path: str) -> None:
    await api.dealer("d1")
    session_hash = await api.login("d1")
    assert await api.ok(path, prefix=prefix, hash=session_hash) == EMPTY_LIST


async def test_body_wins_over_query(api: Api) -> None:
    await api.dealer("d1")
    session_hash = await api.login("d1")
    await api.ok("gateways/email/list", query={"hash": "0" * 32}, json={"hash": session_hash})
    await api.error("gateways/email/list", 4, 400, query={"hash": session_hash},
                    json={"hash": "0" * 32})


async def test_hash_parameter_wins_over_header(api: Api) -> None:
    await api.dealer("d1")
    session_hash = await api.login("d1")
    await api.ok("gateways/email/list", form={"hash": session_hash},
                 headers={"Authorization": "NVX " + "0" * 32})


async def test_json_labelled_as_form_is_read_as_json(api: Api) -> None:
    """`curl -d '{"hash": …}'` without a Content-Type, as in Navixy's docs."""
    await api.dealer("d1")
    session_hash = await api.login("d1")
    response = await api.client.post("/v2/panel/gateways/email/list",
                                     data=f'{{"hash": "{session_hash}"}}'.encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status, await response.json()) == (200, EMPTY_LIST)


# -- every error code of the transport, with its HTTP status and JSON body ---

async def test_code_3_missing_or_malformed_hash(api: Api) -> None:
    expected = {"success": False, "status": {"code": 3, "description": (
        "Wrong hash: send the session hash from account/auth as the hash parameter or in "
        "the header Authorization: NVX <hash>")}}
    assert await api.error("gateways/email/list", 3, 400) == expected
    assert await api.error("gateways/email/list", 3, 400, form={"hash": ""}) == expected
    assert await api.error("gateways/email/list", 3, 400, form={"hash": "xyz"}) == expected
    assert await api.error("gateways/email/list", 3, 400, json={"hash": 12345}) == expected
    assert await api.error("gateways/email/list", 3, 400,
                           headers={"Authorization": "NVX" + "a" * 32}) == expected
    assert await api.error("gateways/email/list", 3, 400, hash="A" * 32) == expected
    # a bare hash, or another scheme, is not where the description says it goes
    for header in ("a" * 32, "Bearer " + "a" * 32):
        assert await api.error("gateways/email/list", 3, 400,
                               headers={"Authorization": header}) == expected


async def test_code_4_unknown_hash(api: Api) -> None:
    assert await api.error("gateways/email/list", 4, 400, hash="a" * 32) == {
        "success": False,
        "status": {"code": 4, "description": "User or API key not found or session ended"},
    }


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"{\"hash\": "])
async def test_code_5_malformed_json(api: Api, body: bytes) -> None:
    response = await api.client.post("/v2/panel/gateways/email/list", data=body,
                                     headers={"Content-Type": "application/json"})
    assert response.status == 400
    payload = await response.json()
    assert payload["success"] is False and payload["status"]["code"] == 5
    assert payload["status"]["description"].endswith(
        "; accepted bodies: application/json (an object), application/x-www-form-urlencoded, "
        "multipart/form-data"), payload


async def test_code_5_unknown_body_type(api: Api) -> None:
    response = await api.client.post("/v2/panel/account/auth", data=b"login=x",
                                      headers={"Content-Type": "text/csv"})
    assert (response.status, await response.json()) == (400, {"success": False, "status": {
        "code": 5, "description": "Wrong request format; accepted bodies: application/json "
        "(an object), application/x-www-form-urlencoded, multipart/form-data"}})


def with_action(path: str, handler: Handler) -> dict[str, Action]:
    """The service's action table and one more, for an app of the test's own."""
    return {**ACTIONS, path: Action(path, handler, None, None, None, False, "")}


async def test_code_6_hides_internals(make_client, db,  # type: ignore[no-untyped-def]
                                      caplog: pytest.LogCaptureFixture) -> None:
    async def broken(call: object) -> dict[str, object]:
        raise RuntimeError("SELECT secret FROM internals")

    api = Api(await make_client(navixy_actions=with_action("test/broken", broken)), db)
    body = await api.error("test/broken", 6, 500)
    assert body == {"success": False, "status": {"code": 6, "description": "Unexpected error"}}
    assert "SELECT secret FROM internals" in caplog.text  # logged for the operator only


async def test_code_7_names_each_parameter(api: Api) -> None:
    body = await api.error("account/auth", 7, 400, form={"hash": ""})
    assert body == {
        "success": False,
        "status": {"code": 7, "description": "Invalid parameters"},
        "errors": [{"parameter": "login", "error": "Missing data for required field."},
                   {"parameter": "password", "error": "Missing data for required field."}],
    }


async def test_code_9_oversized_body(make_client, db) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(max_body_bytes=1024)
    response = await client.post("/v2/panel/account/auth", data=b"x" * 2048,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 412
    assert await response.json() == {"success": False,
                                     "status": {"code": 9, "description": "Too large request"}}


async def test_code_111_unknown_action(api: Api) -> None:
    for path in ("gateways/email/nothing", "nothing", ""):
        assert await api.error(path, 111, 400) == {
            "success": False, "status": {"code": 111, "description": "Wrong handler"}}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_code_112_other_methods(api: Api, method: str) -> None:
    assert await api.error("gateways/email/list", 112, 400, method=method) == {
        "success": False, "status": {"code": 112, "description": "Wrong method"}}


async def test_unknown_path_is_a_json_404(api: Api) -> None:
    response = await api.client.get("/nowhere")
    assert response.status == 404
    assert await response.json() == {"success": False,
                                     "status": {"code": 404, "description": "Not found"}}


async def test_api_error_http_status_defaults_to_400() -> None:
    assert NavixyError(201).http_status == 400
    assert NavixyError(261).http_status == 403
    assert NavixyError(15).http_status == 429


async def test_a_handler_past_the_time_limit_answers_code_6(make_client, db) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import time

    async def slow(call: object) -> dict[str, object]:
        await asyncio.sleep(30)
        return {}

    api = Api(await make_client(request_timeout_seconds=0.5,
                                navixy_actions=with_action("test/slow", slow)), db)
    started = time.monotonic()
    body = await api.error("test/slow", 6, 500)
    assert time.monotonic() - started < 2
    assert body == {"success": False, "status": {
        "code": 6, "description": "Unexpected error: the request took too long"}}
