"""The OpenAPI document, and schemathesis fuzzing the service against it and against Navixy's.

Why: /openapi.json is generated from the marshmallow schemas; fuzzing holds the
service to it (no 5xx, every answer's status, content type and body as
documented), once with a valid session on both faces and once without one.
Navixy's own document (tests/data/, copied from Navixy's published OpenAPI) is the
reference clients are written against, so the operations we serve must answer as
it says.

How: pytest-aiohttp's loop lives for one test and schemathesis is a CLI, so the app
runs in a background thread with its own loop on 127.0.0.1 and schemathesis runs as
a subprocess against it. The data is arranged so fuzzed requests stay fast and
local: the dealer's bound gateway points at a closed port of 127.0.0.1 with 200 ms
time-outs (a test send fails at once: code 209, HTTP 400; Webitel 502); gateway ids
start far from where generated integers land and schemathesis does not reuse ids
from responses, so no request binds to, or sends through, a gateway the fuzzer
created with a fuzzed host and time-out; a sub-dealer is bound to the dealer's
gateway, so Webitel's DELETE answers 409 and its POST/PUT replace the gateway in
place, keeping the short time-outs. Operations without parameters stop early, when
there is nothing left to vary.

FUZZ_MAX_EXAMPLES (default 100) sets the generated cases per operation, FUZZ_SEED
the seed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any, cast

import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from navixy_panel.app import create_app
from navixy_panel.http import keys
from navixy_panel.navixy.routes import ACTIONS
from navixy_panel.settings import Settings
from tests.support.api import PASSWORD, Api
from tests.support.net import free_port

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
SEED = os.environ.get("FUZZ_SEED", "20240601")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")
NAVIXY_REFERENCE = Path(__file__).parents[1] / "data" / "navixy-admin-panel-openapi.json"
NAVIXY_LOGOUT = "/panel/account/logout"
# Not notification/read: Navixy types its fields as strings, while this service answers
# null for unset ones (Navixy's docs say its own servers omit null fields).
NAVIXY_SERVED = ("/panel/account/auth", "/panel/account/get_permissions", NAVIXY_LOGOUT,
                 "/panel/gateways/email/list", "/panel/dealer/settings/notification/update")
WEBITEL_OPERATIONS = {
    ("/login", "post"), ("/logout", "post"),
    ("/api/v2/email/settings", "get"), ("/api/v2/email/settings", "post"),
    ("/api/v2/email/settings", "put"), ("/api/v2/email/settings", "delete"),
    ("/api/v2/email/settings/test/{to}", "post"), ("/api/v2/email/settings/test", "post"),
}
LOGOUTS = ("/v2/panel/account/logout", "/logout")
DOMAIN = "fuzz.example"
# Far from the small and boundary integers generators favour.
FIRST_GATEWAY_ID = 734_512_893


# -- the document ------------------------------------------------------------------------

async def test_openapi_lists_every_operation(client: TestClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    for action in ACTIONS.values():
        operation = paths[f"/v2/panel/{action.path}"]["post"]
        assert operation["security"] == ([{"NVX": []}] if action.needs_session else [])
    served = {(path, method) for path, item in paths.items() for method in item}
    assert served >= WEBITEL_OPERATIONS | {("/health", "get"), ("/ready", "get")}
    # SMTP params show their JavaMail keys and refuse unknown ones.
    smtp = document["components"]["schemas"]["SmtpParams"]
    assert "mail.smtp.port" in smtp["properties"] and smtp["additionalProperties"] is False
    create = paths["/v2/panel/gateways/email/create"]["post"]["requestBody"]["content"]
    assert create["application/json"]["schema"]["properties"]["gateway"] == {
        "$ref": "#/components/schemas/Gateway"}
    assert create["application/x-www-form-urlencoded"]["schema"]["properties"]["gateway"][
        "type"] == "string"

    # A valid OpenAPI 3.1 document, every operation loadable.
    loaded = schemathesis.openapi.from_dict(document)
    loaded.validate()
    for result in loaded.get_all_operations():
        result.ok()
    try:
        from openapi_spec_validator import validate  # type: ignore[import-not-found]
    except ImportError:
        return
    validate(document)


# -- a live server ------------------------------------------------------------------------

class LiveServer:
    """The app on 127.0.0.1 in a thread with its own event loop; records answered statuses."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="fuzz-server", daemon=True)
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.port = 0
        self.statuses: Counter[tuple[str, int]] = Counter()
        app.on_response_prepare.append(self._record)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _record(self, request: web.Request, response: web.StreamResponse) -> None:
        self.statuses[(request.path, response.status)] += 1

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app, access_log=None)
        try:
            self.loop.run_until_complete(self._start(runner))
        except BaseException as exc:  # reported to the test by __enter__
            self.error = exc
        self.started.set()
        try:
            if self.error is None:
                self.loop.run_forever()
        finally:
            self.loop.run_until_complete(runner.cleanup())
            self.loop.close()

    async def _start(self, runner: web.AppRunner) -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.port = runner.addresses[0][1]

    def __enter__(self) -> LiveServer:
        self.thread.start()
        assert self.started.wait(60), "the server did not start"
        if self.error is not None:
            self.thread.join(60)
            raise self.error
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)
        assert not self.thread.is_alive(), "the server did not stop"


async def arrange(database_url: str) -> None:
    """An owner with two leasable relays (one without a sender address); `fuzz` (all
    permissions, domain fuzz.example) bound to its own leasable gateway on a closed port;
    `fuzz-sub` bound to that gateway too."""
    engine = create_async_engine(database_url)
    # Nothing is cached yet (the server starts afterwards): invalidating is a no-op.
    no_client = SimpleNamespace(app={keys.CONTEXT: SimpleNamespace(
        caches=SimpleNamespace(invalidate_all=lambda: None))})
    api = Api(cast(TestClient, no_client), async_sessionmaker(engine, expire_on_commit=False))
    try:
        await api.sql(f"ALTER TABLE email_gateways ALTER COLUMN id RESTART WITH "
                      f"{FIRST_GATEWAY_ID}")
        owner = await api.dealer("fuzz-owner")
        await api.gateway(owner, "Platform relay", leasable=True, provider="mandrill_smtp",
                          **{"mail.smtp.host": "127.0.0.1", "mail.smtp.port": free_port(),
                             "default_from_address": "no-reply@owner.example"})
        # Legal too: a relay without a sender of its own (the dealer's email_from is used).
        await api.gateway(owner, "Relay without sender", leasable=True,
                          **{"mail.smtp.host": "127.0.0.1", "mail.smtp.port": free_port()})
        dealer = await api.dealer("fuzz", parent="fuzz-owner", domain=DOMAIN)
        gateway = await api.gateway(dealer, "Closed port", leasable=True, **{
            "mail.smtp.host": "127.0.0.1", "mail.smtp.port": free_port(),
            "mail.smtp.connectiontimeout": 200, "mail.smtp.timeout": 200,
            "default_from_address": "fuzz@fuzz.example"})
        await api.bind(dealer, gateway)
        await api.bind(await api.dealer("fuzz-sub", parent="fuzz"), gateway)
    finally:
        await engine.dispose()


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def navixy_hash(server: LiveServer) -> str:
    body = post_json(f"{server.url}/v2/panel/account/auth",
                     {"login": "fuzz", "password": PASSWORD})
    return str(body["hash"])


def webitel_header_options(server: LiveServer) -> list[str]:
    body = post_json(f"{server.url}/login", {"username": "fuzz", "password": PASSWORD})
    return ["-H", f"X-Key: {body['key']}", "-H", f"X-Access-Token: {body['token']}"]


@pytest.fixture
def server(settings: Settings, db: Any) -> Iterator[LiveServer]:
    """The `db` fixture empties the tables; the data is arranged in a loop of its own."""
    assert settings.database_url is not None
    asyncio.run(arrange(settings.database_url))
    fuzz_settings = dataclasses.replace(
        settings, login_failures_per_login=10**6, login_failures_per_address=10**6,
        test_sends_per_minute=10**6)
    with LiveServer(create_app(fuzz_settings)) as live:
        yield live


# Webitel's test send answers 502 when the SMTP server fails (as Webitel's own does), and the
# arranged gateway always fails: that one 5xx is the contract there, no other is.
# Ids seen in responses are not reused: binding to (and then sending through) a gateway
# the fuzzer created, with a fuzzed host and a time-out of up to 10 minutes, would make
# the run slow and flaky.
CONFIG = """
phases.coverage.extra-data-sources.responses = false
phases.fuzzing.extra-data-sources.responses = false

[[operations]]
include-path-regex = "^/api/v2/email/settings/test"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]
"""


def fuzz(location: str, base_url: str, *options: str, cwd: Path) -> None:
    """Runs schemathesis; fails the test with its report unless every check passed."""
    config = cwd / "schemathesis.toml"
    config.write_text(CONFIG if location.endswith("/openapi.json") else "")
    command = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config),
               "run", location,
               "--url", base_url, "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES),
               "--seed", SEED, "--phases", "examples,coverage,fuzzing",
               "--generation-database", "none", "--workers", "2", "--request-timeout", "20",
               "--no-color", "--continue-on-failure", *options]
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                            check=False)
    elapsed = time.monotonic() - started
    report = f"$ {' '.join(command)}\n{result.stdout}\n{result.stderr}"
    print(f"{report}\n[{elapsed:.0f} s]")  # noqa: T201 - shown by pytest -s or on failure
    assert result.returncode == 0, report


# -- fuzzing ------------------------------------------------------------------------------

def test_fuzz_with_a_valid_session(server: LiveServer, tmp_path: Path) -> None:
    headers = ["-H", f"Authorization: NVX {navixy_hash(server)}", *webitel_header_options(server)]
    document = f"{server.url}/openapi.json"
    exclude = [option for path in LOGOUTS for option in ("--exclude-path", path)]
    fuzz(document, server.url, *headers, *exclude, cwd=tmp_path)
    print(sorted(server.statuses.items()))  # noqa: T201 - what the run reached, with -s
    # The sessions reached the handlers (not only refusals).
    reached = {path for (path, status) in server.statuses if status == 200}
    assert {"/v2/panel/gateways/email/list", "/v2/panel/account/get_permissions",
            "/api/v2/email/settings"} <= reached, server.statuses
    # Logging out last: the first call ends the session, the rest answer code 4 / 401.
    include = [option for path in LOGOUTS for option in ("--include-path", path)]
    fuzz(document, server.url, *headers, *include, cwd=tmp_path)


def test_fuzz_without_credentials(server: LiveServer, tmp_path: Path) -> None:
    fuzz(f"{server.url}/openapi.json", server.url, cwd=tmp_path)
    with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=30) as response:
        document = json.load(response)
    public = {path for path, item in document["paths"].items()
              if not any(operation.get("security") for operation in item.values())}
    let_in = {(path, status) for (path, status) in server.statuses
              if status == 200 and path not in public}
    assert not let_in, let_in


def test_fuzz_against_navixys_own_document(server: LiveServer, tmp_path: Path) -> None:
    """Their servers are https://api.eu.navixy.com/v2; ours answers under /v2 the same."""
    header = ["-H", f"Authorization: NVX {navixy_hash(server)}"]
    only = [option for path in NAVIXY_SERVED if path != NAVIXY_LOGOUT
            for option in ("--include-path", path)]
    fuzz(str(NAVIXY_REFERENCE), f"{server.url}/v2", *header, *only, cwd=tmp_path)
    fuzz(str(NAVIXY_REFERENCE), f"{server.url}/v2", *header, "--include-path", NAVIXY_LOGOUT,
         cwd=tmp_path)
