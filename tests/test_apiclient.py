"""tailcfg.apiclient on real loopback HTTP: JSON calls, retries, error mapping, auth, scrubbing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fakes.loopback import bearer_token, form_fields, serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tailcfg.apiclient import ApiClient, Credentials
from tailcfg.errors import BackendError, ConflictError

TOKEN = "tskey-oauthtoken-unit-0000"


@dataclass
class Planned:
    """The answers to give, in order (the last one repeats), and what was asked."""

    answers: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, bearer
    forms: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Running:
    url: str
    plan: Planned


@pytest.fixture(scope="module")
def _server() -> Iterator[Running]:
    plan = Planned()

    async def token(request: Request) -> Response:
        plan.forms.append(await form_fields(request))
        return JSONResponse({"access_token": TOKEN, "token_type": "Bearer"})

    async def answer(request: Request) -> Response:
        plan.seen.append((request.method, request.url.path, bearer_token(request)))
        status, body, headers = plan.answers.pop(0) if len(plan.answers) > 1 else plan.answers[0]
        return Response(body, status_code=status, headers=headers)

    app = Starlette(
        routes=[
            Route("/api/v2/oauth/token", token, methods=["POST"]),
            Route("/p", answer, methods=["GET", "POST", "DELETE"]),
        ]
    )
    with serve_app(app, name="apiclient-test") as url:
        yield Running(url, plan)


@pytest.fixture
def server(_server: Running) -> Running:
    _server.plan.answers.clear()
    _server.plan.seen.clear()
    _server.plan.forms.clear()
    return _server


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"a": [1]}', {"a": [1]}),
        (200, b"", None),
        (404, b'{"message": "not found"}', {"message": "not found"}),  # in ok_statuses
    ],
)
def test_json_answers(server: Running, status: int, body: bytes, expected: object) -> None:
    server.plan.answers.append((status, body, {}))
    with ApiClient(server.url) as http:
        assert http.request("GET", "/p", ok_statuses=(404,)) == expected


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (200, b"<html>", BackendError, "answer is not JSON"),
        (400, b'{"error_description": "bad scope"}', BackendError, "400 bad scope"),
        (400, b'{"code": 3}', BackendError, '400 {"code": 3}'),
        (401, b"Unauthorized\n", BackendError, "401 Unauthorized"),
        (403, b"", BackendError, "403 Forbidden"),
        (412, b'{"message": "moved on"}', ConflictError, "412 moved on: fetch again"),
    ],
)
def test_refusals_name_the_request_and_the_server_words(
    server: Running, status: int, body: bytes, kind: type[BackendError], message: str
) -> None:
    server.plan.answers.append((status, body, {}))
    with ApiClient(server.url) as http, pytest.raises(BackendError) as refused:
        if status == 412:
            raise http.error("POST", "/p", http.send("POST", "/p"), conflict="fetch again")
        http.request("POST", "/p")
    assert (type(refused.value), str(refused.value)) == (kind, f"POST {server.url}/p: {message}")
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("answers", "sleeps", "final"),
    [
        ([(503, {}), (429, {"Retry-After": "2"}), (200, {})], [0.25, 2.0], 200),
        ([(429, {"Retry-After": "120"}), (200, {})], [30.0], 200),  # capped
        ([(404, {})], [], 404),  # a 4xx is not retried; send hands it back
        ([(429, {})] * 4, [0.25, 0.5, 1.0], 429),  # the last 429 is handed back too
    ],
)
def test_retries_with_backoff(
    server: Running, answers: list[tuple[int, dict[str, str]]], sleeps: list[float], final: int
) -> None:
    server.plan.answers.extend((status, b"", headers) for status, headers in answers)
    slept: list[float] = []
    with ApiClient(server.url, sleep=slept.append) as http:
        assert http.send("GET", "/p").status_code == final
    assert slept == sleeps
    assert len(server.plan.seen) == len(sleeps) + 1


def test_a_5xx_after_the_last_attempt_raises(server: Running) -> None:
    server.plan.answers.append((502, b'{"message": "down"}', {}))
    with (
        ApiClient(server.url, attempts=2, sleep=lambda _s: None) as http,
        pytest.raises(BackendError) as failed,
    ):
        http.send("GET", "/p")
    assert (str(failed.value), failed.value.status) == (f"GET {server.url}/p: 502 down", 502)


def test_oauth_token_fetched_once_scoped_and_scrubbed(server: Running) -> None:
    creds = Credentials(oauth_client_id="oc-unit", oauth_client_secret="tskey-client-unit")
    server.plan.answers.append((403, f'{{"message": "{TOKEN} may not"}}'.encode(), {}))
    with ApiClient(server.url, creds.tailscale_auth("auth_keys")) as http:
        for _ in range(2):
            with pytest.raises(BackendError) as refused:
                http.request("GET", "/p")
            assert str(refused.value) == f"GET {server.url}/p: 403 *** may not"
    assert server.plan.forms == [
        {
            "client_id": "oc-unit",
            "client_secret": "tskey-client-unit",
            "grant_type": "client_credentials",
            "scope": "auth_keys",
        }
    ]
    assert server.plan.seen == [("GET", "/p", TOKEN)] * 2


def test_api_key_bearer_and_credential_secrets_scrubbed(server: Running) -> None:
    creds = Credentials(tailscale_api_key="tskey-api-unit", headscale_api_key="hs-unit")
    server.plan.answers.append((400, b'{"message": "tskey-api-unit and hs-unit"}', {}))
    with ApiClient(server.url, creds.headscale_auth()) as http, pytest.raises(BackendError) as e:
        http.request("DELETE", "/p")
    assert str(e.value) == f"DELETE {server.url}/p: 400 *** and ***"
    assert server.plan.seen == [("DELETE", "/p", "hs-unit")]


@pytest.mark.parametrize(
    ("creds", "expected"),
    [
        (Credentials(), "Credentials()"),
        (
            Credentials("k", None, None, "h"),
            "Credentials(tailscale_api_key=***, headscale_api_key=***)",
        ),
    ],
)
def test_credentials_repr_names_only(creds: Credentials, expected: str) -> None:
    assert (repr(creds), str(creds)) == (expected, expected)
