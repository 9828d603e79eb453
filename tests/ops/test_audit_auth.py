"""`navixy-panel gateway audit-auth`: the gateways that still log in with a password to
Microsoft 365 or Google hosts, which Microsoft stops accepting (basic authentication)
and Google takes only as app passwords; with owner, label and bound dealer count."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet

from navixy_panel.security.secret_box import SecretBox
from tests.support.api import Api
from tests.support.processes import run


async def test_lists_exactly_the_password_gateways_on_microsoft_and_google(
        api: Api, database_url: str) -> None:
    owner = await api.dealer("owner")
    child = await api.dealer("child", parent="owner")
    other = await api.dealer("other")
    box = SecretBox([Fernet.generate_key().decode()])
    password = {"box": box, "mail.smtp.auth": True, "mail.smtp.user": "alerts@dealer.example",
                "mail.smtp.password": "app-password-1"}
    m365 = await api.gateway(owner, "M365", leasable=True, **password,
                             **{"mail.smtp.host": "smtp.office365.com", "mail.smtp.port": 587})
    gmail = await api.gateway(other, "Gmail", **password,
                              **{"mail.smtp.host": "SMTP.Gmail.com."})
    outlook = await api.gateway(other, "Outlook", **password,
                                **{"mail.smtp.host": "smtp-mail.outlook.com"})
    # Not listed: OAuth already, no login at all, another provider's host.
    await api.gateway(owner, "M365 OAuth", **password, **{
        "mail.smtp.host": "smtp.office365.com", "mail.smtp.auth.mechanisms": "XOAUTH2",
        "mail.smtp.auth.xoauth2.token_url": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        "mail.smtp.auth.xoauth2.client_id": "client"})
    await api.gateway(owner, "Direct send", **{
        "mail.smtp.host": "dealer-example.mail.protection.outlook.com"})
    await api.gateway(owner, "Own relay", **password, **{"mail.smtp.host": "smtp.example.com"})
    await api.gateway(owner, "Look-alike", **password,
                      **{"mail.smtp.host": "smtp.office365.com.example.net"})
    await api.bind(owner, m365)
    await api.bind(child, m365)

    done = run("gateway", "audit-auth", "--json", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"id": m365, "owner": "owner", "label": "M365", "host": "smtp.office365.com",
         "service": "Microsoft 365", "bound_dealers": 2},
        {"id": gmail, "owner": "other", "label": "Gmail", "host": "SMTP.Gmail.com.",
         "service": "Google", "bound_dealers": 0},
        {"id": outlook, "owner": "other", "label": "Outlook", "host": "smtp-mail.outlook.com",
         "service": "Microsoft 365", "bound_dealers": 0},
    ]
    table = run("gateway", "audit-auth", database_url=database_url)
    assert table.returncode == 0 and table.stderr == "", table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["id", "owner", "label", "host", "service", "bound", "dealers"]
    assert [line.split()[0] for line in lines[1:4]] == [str(m365), str(gmail), str(outlook)]
    assert "app-password-1" not in done.stdout + table.stdout


async def test_none_left(api: Api, database_url: str) -> None:
    await api.dealer("owner")
    done = run("gateway", "audit-auth", "--json", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
