"""The `navixy-panel` command as an operator runs it (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil

from tests.support.api import PASSWORD, Api
from tests.support.net import free_ports, http
from tests.support.processes import run, scratch_folder, wait_until_healthy


async def test_dealer_create_prints_id_and_login(api: Api, database_url: str) -> None:
    done = run("dealer", "create", "--login", "owner", "--password-stdin", "--permissions",
               "all", "--domain", "Owner.Example", database_url=database_url,
               stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"id": 1, "login": "owner"}
    done = run("dealer", "create", "--login", "child", "--password", "child-password",
               "--parent", "owner", "--permissions", "{}", "--block-status", "CLIENTS_BLOCKED",
               database_url=database_url)
    assert json.loads(done.stdout) == {"id": 2, "login": "child"}
    rows = await api.sql("SELECT login, parent_id, domain, permissions, block_status "
                         "FROM dealers ORDER BY id")
    assert rows[0].domain == "owner.example" and rows[0].parent_id is None
    assert rows[0].permissions["email_gateways"] == ["create", "delete", "read", "send_email",
                                                    "update"]
    assert (rows[1].parent_id, rows[1].permissions, rows[1].block_status) == (
        1, {}, "CLIENTS_BLOCKED")
    body = await api.ok("account/auth", form={"login": "child", "password": "child-password"})
    assert body["permissions"] == {}
    assert "child-password" not in done.stdout + done.stderr


async def test_dealer_create_refusals(api: Api, database_url: str) -> None:
    await api.dealer("taken")
    cases = [
        (["--login", "taken", "--password", "x"], "login 'taken' is already taken"),
        (["--login", "new", "--password", "x", "--parent", "ghost"],
         "parent dealer 'ghost' does not exist"),
        (["--login", "new", "--password", "x", "--permissions", "{\"nope\": []}"],
         "unknown permission category 'nope'"),
        (["--login", "new"], "a password is required"),
    ]
    for args, message in cases:
        done = run("dealer", "create", *args, database_url=database_url)
        assert done.returncode == 1 and message in done.stderr, done.stderr
    assert [r.login for r in await api.sql("SELECT login FROM dealers")] == ["taken"]


async def test_dealer_update_ends_sessions(api: Api, database_url: str) -> None:
    await api.dealer("d1")
    first, second = await api.login("d1"), await api.login("d1")
    done = run("dealer", "update", "d1", "--password-stdin", database_url=database_url,
               stdin="new password\n")
    assert done.returncode == 0, done.stderr
    api.invalidate()  # the NOTIFY path is tested in tests/usecases/test_cache.py
    await api.error("gateways/email/list", 4, 400, hash=first)
    await api.error("account/auth", 12, 400, form={"login": "d1", "password": PASSWORD})
    third = await api.login("d1", "new password")
    done = run("dealer", "update", "d1", "--block-status", "BLOCK_LOGIN",
               database_url=database_url)
    assert done.returncode == 0, done.stderr
    api.invalidate()
    await api.error("gateways/email/list", 4, 400, hash=third)
    await api.error("gateways/email/list", 4, 400, hash=second)


async def test_dealer_unlock_lets_a_locked_login_log_in_again(
        make_client, db, database_url: str) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(login_failures_per_login=10,
                                login_failures_per_address=1000), db)
    await api.dealer("d1")
    await api.dealer("d2")
    for _ in range(10):
        await api.error("account/auth", 12, 400, form={"login": "d1", "password": "mistyped"})
    await api.error("account/auth", 12, 400, form={"login": "d2", "password": "mistyped"})
    locked = await api.error("account/auth", 15, 429, form={"login": "d1", "password": PASSWORD})
    assert locked["status"]["description"] == "Too many requests (rate limit exceeded)"

    done = run("dealer", "unlock", "d1", database_url=database_url)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == {"login": "d1", "failures_cleared": 10}
    assert await api.login("d1")
    # only that login's count: d2's failure and the address's count are kept
    rows = await api.sql("SELECT bucket, hits FROM rate_counters WHERE hits > 0 ORDER BY bucket")
    assert [(r.bucket, r.hits) for r in rows] == [("address-failures:127.0.0.1", 11),
                                                   ("login-failures:d2", 1)]
    done = run("dealer", "unlock", "d1", database_url=database_url)
    assert json.loads(done.stdout) == {"login": "d1", "failures_cleared": 0}
    done = run("dealer", "unlock", "ghost", database_url=database_url)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "navixy-panel: dealer 'ghost' does not exist\n"


def test_bad_environment_is_reported_before_anything_runs() -> None:
    done = run("migrate", env={"DATABASE_URL": "mysql://nope", "NAVIXY_PANEL_LOG_FORMAT": "xml"})
    assert done.returncode == 2
    assert "DATABASE_URL: must start with postgresql://" in done.stderr
    assert "NAVIXY_PANEL_LOG_FORMAT: must be one of text, json" in done.stderr


def test_serve_demo_on_embedded_postgres() -> None:
    """README's first command: cold start, demo data, the curl calls, clean stop on SIGTERM."""
    port, own_smtp, relay_smtp = free_ports(3)
    with scratch_folder("serve") as data_dir:
        env = {**os.environ, "NAVIXY_PANEL_DATA_DIR": str(data_dir)}
        env.pop("DATABASE_URL", None)
        server = subprocess.Popen([sys.executable, "-m", "navixy_panel", "serve", "--demo",
                                   "--port", str(port),
                                   "--demo-smtp-ports", f"{own_smtp},{relay_smtp}"],
                                  env=env, cwd=data_dir, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            wait_until_healthy(server, port, within=60)
            base = f"http://127.0.0.1:{port}"
            assert http(base + "/health") == {"status": "ok"}
            body = http(base + "/v2/panel/account/auth",
                        b"login=dealer&password=dealer-demo-password")
            listed = http(base + "/v2/panel/gateways/email/list",
                          headers={"Authorization": f"NVX {body['hash']}"})
            assert [g["label"] for g in listed["own"]] == ["Own SMTP"]
            assert [g["label"] for g in listed["leasable"]] == ["Platform relay"]
            assert listed["bound_gateway"] == listed["own"][0]["id"]
            assert listed["own"][0]["params"]["mail.smtp.port"] == own_smtp
        finally:
            server.send_signal(signal.SIGTERM)
            output = server.communicate(timeout=30)[0]
        assert not [p for p in psutil.process_iter(["cmdline"])
                    if str(data_dir) in " ".join(p.info["cmdline"] or [])], "postgres left running"
    assert server.returncode == 0, output
    assert "login 'dealer' password 'dealer-demo-password'" in output
    assert "demo: SMTP destinations on loopback (127.0.0.0/8, ::1/128) are allowed" in output
    assert (f"demo SMTP sink on 127.0.0.1 port {own_smtp} and {relay_smtp} (the demo "
            "gateways)") in output
    assert "curl" in output


async def test_dealer_create_grants_what_this_service_serves_by_default(
        api: Api, database_url: str) -> None:
    done = run("dealer", "create", "--login", "newcomer", "--password", "pw-1234",
               database_url=database_url)
    assert done.returncode == 0, done.stderr
    [row] = await api.sql("SELECT permissions FROM dealers WHERE login = 'newcomer'")
    assert row.permissions == {"email_gateways": ["create", "delete", "read", "send_email",
                                                  "update"],
                               "notification_settings": ["read", "update"]}
    session = await api.login("newcomer", "pw-1234")
    await api.ok("gateways/email/list", hash=session)  # not code 13
    await api.ok("dealer/settings/notification/email/read", hash=session)


async def test_dealer_and_gateway_lists(api: Api, database_url: str) -> None:
    owner = await api.dealer("owner", domain="owner.example")
    await api.dealer("child", parent="owner")
    relay = await api.gateway(owner, "Relay", leasable=True, provider="mandrill_smtp")
    await api.bind(owner, relay)
    table = run("dealer", "list", database_url=database_url)
    assert table.returncode == 0 and table.stderr == "", table.stderr
    assert table.stdout.splitlines() == [
        "id  login  title  domain         parent  status       bound gateway",
        f"{owner}   owner         owner.example  -       NOT_BLOCKED  {relay}",
        f"{owner + 1}   child         -              owner   NOT_BLOCKED  -",
    ]
    listed = json.loads(run("dealer", "list", "--json", database_url=database_url).stdout)
    assert [(d["login"], d["parent"], d["bound_gateway_id"]) for d in listed] == [
        ("owner", None, relay), ("child", "owner", None)]
    table = run("gateway", "list", database_url=database_url)
    assert table.stdout.splitlines() == [
        "id  owner  label  provider       leasable  host",
        f"{relay}   owner  Relay  mandrill_smtp  yes       smtp.example.com",
    ]
    assert json.loads(run("gateway", "list", "--json", database_url=database_url).stdout) == [
        {"id": relay, "owner": "owner", "label": "Relay", "provider": "mandrill_smtp",
         "leasable": True, "host": "smtp.example.com"}]


async def test_gateway_create_names_twenty_bad_params_then_counts_the_rest(
        api: Api, database_url: str) -> None:
    """As the faces do: a refusal names 20 parameters at most (60,000 unknown keys would
    otherwise make a line of megabytes)."""
    await api.dealer("owner")
    params = {"mail.smtp.host": "smtp.example.com", **{f"k{i:02d}": 1 for i in range(30)}}
    done = run("gateway", "create", "--owner", "owner", "--label", "relay", "--params",
               json.dumps(params), database_url=database_url)
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.splitlines()
    listed = "; ".join(f"k{i:02d}: Unknown field." for i in range(20))
    assert line == f"navixy-panel: invalid params: {listed}; 10 more not listed"
    assert await api.sql("SELECT id FROM email_gateways") == []
