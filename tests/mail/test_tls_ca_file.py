"""NAVIXY_PANEL_TLS_CA_FILE: an operator's private CA, trusted in addition to the
system store for every outbound TLS connection, so no gateway needs
`mail.smtp.ssl.trust_all_hosts`. Read and checked once, when the settings are read.

The servers here have certificates from a fresh trustme CA that no system store
knows: verified through the CA file on both TLS modes and by a check; refused
without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from navixy_panel.settings import Settings, SettingsError
from tests.support.api import Api, send_email
from tests.support.smtp import aiosmtpd_server, server_context

VAR = "NAVIXY_PANEL_TLS_CA_FILE"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_the_file_is_read_once_at_start(ca_file: Path) -> None:
    settings = Settings.from_env({VAR: str(ca_file)})
    assert settings.tls_ca_pem == ca_file.read_text()
    assert Settings.from_env({}).tls_ca_pem is None


def test_bad_files_stop_the_start(tmp_path: Path) -> None:
    missing, empty, junk = tmp_path / "missing.pem", tmp_path / "empty.pem", tmp_path / "junk.pem"
    empty.write_text("")
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    for path, problem in [
        (missing, f"cannot read '{missing}' (No such file or directory)"),
        (empty, f"'{empty}' holds no PEM certificate"),
    ]:
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({VAR: str(path)})
        assert caught.value.problems == [f"{VAR}: {problem}"]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({VAR: str(junk)})
    [problem] = caught.value.problems
    assert problem.startswith(f"{VAR}: '{junk}' is not a valid PEM bundle (")


async def gateway(api: Api, **params: Any) -> tuple[str, int]:
    await api.dealer("d1")
    h = await api.login("d1")
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": "fleet@d1.example"})
    created = await api.ok("gateways/email/create", hash=h, json={"gateway": {
        "label": "relay", "provider": "smtp", "leasable": False,
        "params": {"mail.smtp.host": "127.0.0.1", **params}}})
    return h, int(created["id"])


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_verified_through_the_ca_file(make_client, db, ca: trustme.CA,  # type: ignore[no-untyped-def]
                                            ca_file: Path, mode: str) -> None:
    settings = Settings.from_env({VAR: str(ca_file)})
    api = Api(await make_client(tls_ca_pem=settings.tls_ca_pem), db)
    context = server_context(ca, "127.0.0.1")
    tls = {"starttls": context} if mode == "starttls" else {"implicit_tls": context}
    with aiosmtpd_server(**tls) as server:  # type: ignore[arg-type]
        params = ({"mail.smtp.port": server.port, "mail.smtp.starttls.enable": True,
                   "mail.smtp.starttls.required": True} if mode == "starttls" else
                  {"mail.smtp.use_ssl": True, "mail.smtp.ssl.port": server.port})
        h, gateway_id = await gateway(api, **params)
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
        status, body = await api.call("gateways/email/check", hash=h,
                                      json={"gateway_id": gateway_id})
    assert len(server.messages) == 1 and server.messages[0].tls is True
    assert (status, body["passed"]) == (200, True)
    assert body["certificate"]["issuer"].startswith("OU=Testing CA #")


async def test_refused_without_the_ca_file(api: Api, ca: trustme.CA) -> None:
    with aiosmtpd_server(starttls=server_context(ca, "127.0.0.1")) as server:
        h, gateway_id = await gateway(api, **{"mail.smtp.port": server.port,
                                              "mail.smtp.starttls.enable": True,
                                              "mail.smtp.starttls.required": True})
        status, body = await send_email(api, h, gateway_id)
    assert (status, body["status"]["code"]) == (400, 209)
    assert body["status"]["description"] == (
        f"Failed sending email: TLS with 127.0.0.1:{server.port} failed "
        "(certificate verify failed: unable to get local issuer certificate)")
    assert server.messages == []
