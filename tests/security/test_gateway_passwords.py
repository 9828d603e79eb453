"""SMTP passwords: kept on update only for the same destination, encrypted at
rest, rotatable, and never in a response."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from navixy_panel.security.secret_box import SecretBox, SecretKeyError, load_or_create_key
from tests.support.api import Api, send_email, stored
from tests.support.database import TEST_KEY
from tests.support.processes import run
from tests.support.smtp import PASSWORD, USER, smtp_server

PASSWORD_REFUSAL = {
    "success": False, "status": {"code": 7, "description": "Invalid parameters"},
    "errors": [{"parameter": "gateway.params.mail.smtp.password",
                "error": "Enter the password again: the server, ports, TLS settings or user "
                         "changed."}]}


async def with_auth_gateway(api: Api, port: int) -> tuple[str, dict[str, Any]]:
    """A dealer with an AUTH gateway created over the API; returns it as list shows it."""
    await api.dealer("d1")
    h = await api.login("d1")
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": "fleet@d1.example"})
    gateway = {"label": "relay", "provider": "smtp", "leasable": False,
               "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
                          "mail.smtp.auth": True, "mail.smtp.user": USER,
                          "mail.smtp.password": PASSWORD}}
    await api.ok("gateways/email/create", hash=h, json={"gateway": gateway})
    listed = await api.ok("gateways/email/list", hash=h)
    return h, listed["own"][0]


@pytest.mark.parametrize("kept", [None, "", "********", "absent"])
async def test_null_empty_mask_or_absent_password_keeps_the_stored_one(api: Api,
                                                                       kept: str | None) -> None:
    with smtp_server(auth=True) as server:
        h, gateway = await with_auth_gateway(api, server.port)
        before = await stored(api)
        gateway["label"] = "renamed"
        if kept == "absent":
            del gateway["params"]["mail.smtp.password"]
        else:
            gateway["params"]["mail.smtp.password"] = kept
        await api.ok("gateways/email/update", hash=h, json={"gateway": gateway})
        after = await stored(api)
        assert bytes(after[0].password_encrypted) == bytes(before[0].password_encrypted)
        assert await send_email(api, h, gateway["id"]) == (200, {"success": True})
    assert len(server.messages) == 1


@pytest.mark.parametrize("change", [
    {"mail.smtp.host": "localhost"}, {"mail.smtp.port": 2525}, {"mail.smtp.ssl.port": 466},
    {"mail.smtp.use_ssl": True}, {"mail.smtp.starttls.enable": True},
    {"mail.smtp.starttls.required": True}, {"mail.smtp.ssl.trust_all_hosts": True},
    {"mail.smtp.user": "someone-else"},
])
async def test_destination_change_without_password_is_refused(api: Api,
                                                              change: dict[str, Any]) -> None:
    h, gateway = await with_auth_gateway(api, 2525 if "mail.smtp.port" not in change else 25)
    before = await stored(api)
    gateway["params"].update(change)
    assert await api.error("gateways/email/update", 7, 400, hash=h,
                           json={"gateway": gateway}) == PASSWORD_REFUSAL
    assert await stored(api) == before


async def test_destination_change_with_a_new_password(api: Api) -> None:
    with smtp_server(auth=True) as server:
        h, gateway = await with_auth_gateway(api, 1)
        gateway["params"]["mail.smtp.port"] = server.port
        gateway["params"]["mail.smtp.password"] = PASSWORD
        await api.ok("gateways/email/update", hash=h, json={"gateway": gateway})
        assert await send_email(api, h, gateway["id"]) == (200, {"success": True})


async def test_non_destination_changes_keep_the_password(api: Api) -> None:
    with smtp_server(auth=True) as server:
        h, gateway = await with_auth_gateway(api, server.port)
        gateway["params"].update({"mail.smtp.timeout": 5000, "mail.debug": True,
                                  "default_from_address": "x@relay.example"})
        gateway["leasable"] = True
        await api.ok("gateways/email/update", hash=h, json={"gateway": gateway})
        assert await send_email(api, h, gateway["id"]) == (200, {"success": True})


async def test_turning_auth_off_drops_user_and_password(api: Api) -> None:
    h, gateway = await with_auth_gateway(api, 2525)
    gateway["params"]["mail.smtp.auth"] = False
    gateway["params"]["mail.smtp.host"] = "elsewhere.example"  # no password needed now
    await api.ok("gateways/email/update", hash=h, json={"gateway": gateway})
    [row] = await stored(api)
    assert row.password_encrypted is None
    assert row.params["mail.smtp.user"] is None
    params = (await api.ok("gateways/email/list", hash=h))["own"][0]["params"]
    assert (params["mail.smtp.user"], params["mail.smtp.password"]) == (None, None)


async def test_mask_is_never_stored_as_a_password(api: Api) -> None:
    await api.dealer("d1")
    h = await api.login("d1")
    gateway = {"label": "relay", "provider": "smtp",
               "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.auth": True,
                          "mail.smtp.user": USER, "mail.smtp.password": "******"}}
    await api.ok("gateways/email/create", hash=h, json={"gateway": gateway})
    assert (await stored(api))[0].password_encrypted is None


async def test_no_plaintext_password_in_the_database_or_any_response(api: Api) -> None:
    with smtp_server(auth=True) as server:
        h, gateway = await with_auth_gateway(api, server.port)
        responses = [await api.ok("gateways/email/list", hash=h)]
        responses.append((await send_email(api, h, gateway["id"]))[1])
    dump = await api.sql("SELECT email_gateways::text AS row FROM email_gateways")
    assert PASSWORD not in dump[0].row
    [row] = await stored(api)
    assert SecretBox([TEST_KEY]).decrypt(row.password_encrypted) == PASSWORD
    assert PASSWORD not in str(responses)


async def test_rotation_re_encrypts_and_sending_still_works(api: Api, database_url: str,
                                                            make_client, db) -> None:  # type: ignore[no-untyped-def]
    new_key = Fernet.generate_key().decode()
    with smtp_server(auth=True) as server:
        h, gateway = await with_auth_gateway(api, server.port)
        [before] = await stored(api)
        done = run("rotate-secrets", database_url=database_url,
                   env={"NAVIXY_PANEL_SECRET_KEY": f"{new_key},{TEST_KEY}"})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == '{"rotated": 1}'
        [after] = await stored(api)
        assert bytes(after.password_encrypted) != bytes(before.password_encrypted)
        assert SecretBox([new_key]).decrypt(after.password_encrypted) == PASSWORD
        with pytest.raises(SecretKeyError):
            SecretBox([TEST_KEY]).decrypt(after.password_encrypted)
        # An instance holding only the new key sends with the rotated password.
        rotated = Api(await make_client(secret_keys=(new_key,)), db)
        h2 = await rotated.login("d1")
        assert await rotated.call("gateways/email/send_email", hash=h2,
                                  json={"to": "ops@example.org", "gateway_id": gateway["id"]}
                                  ) == (200, {"success": True})
    assert len(server.messages) == 1


async def test_wrong_key_stops_the_start(api: Api, make_client) -> None:  # type: ignore[no-untyped-def]
    await with_auth_gateway(api, 2525)
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        await make_client(secret_keys=(Fernet.generate_key().decode(),))


async def test_malformed_or_missing_key_stops_the_start(make_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SecretKeyError, match="entry 1 is not a Fernet key"):
        await make_client(secret_keys=("not-a-key",))
    with pytest.raises(SecretKeyError, match="NAVIXY_PANEL_SECRET_KEY is required"):
        await make_client(secret_keys=())


def test_embedded_default_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    assert load_or_create_key(tmp_path) == key
    assert stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode) == 0o600
    SecretBox([key])  # a valid Fernet key
