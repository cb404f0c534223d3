"""Policy-file clients for each control backend: get -> (text, ETag), put with If-Match, validate.

* Tailscale API v2 (and tailcfg's embedded control plane, which speaks it):
  ``GET /api/v2/tailnet/{tailnet}/acl`` with ``Accept: application/hujson`` answers the
  stored HuJSON (comments kept) and its ``ETag``; ``POST`` of the same path with
  ``Content-Type: application/hujson`` and ``If-Match: "<etag>"`` replaces it (412 when the
  ETag moved on; 400 ``{"message": "test(s) failed", "data": [{"user", "errors"}]}`` when
  the policy's tests fail); ``POST .../acl/validate`` answers ``{}`` or that same shape.
  Authenticated by an API key, or an OAuth client (scope ``policy_file``).
* Headscale v1 (checked against a real Headscale 0.29.2): ``GET /api/v1/policy`` answers
  ``{"policy": text, "updatedAt"}``, and while none is stored ``500 {"code": 2, "message":
  "loading ACL from database: acl policy not found"}`` (read here as the empty policy, as
  is a 404); ``PUT /api/v1/policy`` takes ``{"policy": text}`` and stores the text as sent.
  Headscale has no ETag and ignores ``If-Match``: the client uses sha256 of the stored text
  (what the embedded plane's ETag is), checks it just before writing and sends ``If-Match``
  too (the embedded plane enforces it), so a race window of one request remains with
  Headscale. Headscale >= 0.29 runs the policy's ``tests`` on every write, against its live
  users and nodes, and refuses with ``500 {"message": "setting policy: test(s)
  failed:\n<src>: <why>..."}``; ``POST /api/v1/policy/check`` (``{"policy"}``) is its
  validate: ``{}``, or ``400`` with that message. Both refusals become
  :class:`ServerTestsFailed`; a server without the check endpoint (404) cannot validate.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, Unpack

import httpx

from tailcfg import hujson
from tailcfg.apiclient import (
    ApiClient,
    Credentials,
    HeadscaleApi,
    Injected,
    TailscaleApi,
    json_body,
    open_api,
    server_message,
)
from tailcfg.errors import BackendError, ConflictError, HujsonError
from tailcfg.inventory import ControlConfig

HUJSON = "application/hujson"
LOST_RACE = (
    "the remote policy changed since it was fetched (another push won the If-Match race);"
    " fetch again and retry"
)


@dataclass(frozen=True, slots=True)
class RemotePolicy:
    """The policy as the server stores it, and its ETag (unquoted; "" when there is none)."""

    text: str
    etag: str


class ServerTestsFailed(BackendError):
    """The server refused the policy; ``server_message`` and ``data`` are its own words."""

    __test__ = False  # not a pytest class

    def __init__(
        self, what: str, message: str, data: list[Any], *, status: int | None = None
    ) -> None:
        self.server_message = message
        self.data = data
        self.server_text = render_failure(message, data)
        head = f"{what}: {status} " if status is not None else f"{what}: "
        super().__init__(head + self.server_text, status=status)


def render_failure(message: str, data: list[Any]) -> str:
    """The server's message and per-user failures, verbatim (as gitops-pusher prints them)."""
    lines = [message]
    for entry in data:
        if isinstance(entry, dict) and isinstance(entry.get("errors"), list):
            lines.append(f"For user {entry.get('user', '')}:")
            lines.extend(f"- {error}" for error in entry["errors"])
        else:
            lines.append(json.dumps(entry))
    return "\n".join(lines)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unquote_etag(value: str | None) -> str:
    text = (value or "").strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


class PolicyClient(Protocol):
    name: str
    remote: str  # "backend url tailnet": the key of the recorded ETag

    def get(self) -> RemotePolicy: ...

    def put(self, text: str, *, if_match: str) -> RemotePolicy: ...

    def validate(self, text: str) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def _refusal(http: ApiClient, method: str, path: str, response: httpx.Response) -> BackendError:
    """412 -> ConflictError; a body with ``data`` -> ServerTestsFailed; else BackendError."""
    body = json_body(response) if response.status_code != 412 else None
    if isinstance(body, dict) and isinstance(body.get("data"), list) and body["data"]:
        what = http.what(method, path)
        message = http.scrub(server_message(response))
        return ServerTestsFailed(what, message, body["data"], status=response.status_code)
    return http.error(method, path, response, conflict=LOST_RACE)


class TailscalePolicy(TailscaleApi):
    """The policy file through Tailscale's API v2 (the embedded control plane speaks it too)."""

    resource = "acl"
    scope = "policy_file"

    def _answer(self, method: str, response: httpx.Response) -> RemotePolicy:
        if response.status_code != 200:
            raise _refusal(self._http, method, self._path, response)
        text = response.text
        if text.strip():
            try:
                hujson.parse(text, "<answer>")
            except HujsonError:
                kind = response.headers.get("content-type", "no content type")
                raise BackendError(
                    f"{self._http.what(method, self._path)}: 200 answer is not a HuJSON policy"
                    f" ({kind})",
                    status=200,
                ) from None
        return RemotePolicy(text, unquote_etag(response.headers.get("ETag")) or sha256_hex(text))

    def get(self) -> RemotePolicy:
        headers = {"Accept": HUJSON}
        return self._answer("GET", self._http.send("GET", self._path, headers=headers))

    def put(self, text: str, *, if_match: str) -> RemotePolicy:
        headers = {"Accept": HUJSON, "Content-Type": HUJSON}
        if if_match:
            headers["If-Match"] = f'"{if_match}"'
        response = self._http.send("POST", self._path, headers=headers, content=text)
        return self._answer("POST", response)

    def validate(self, text: str) -> bool:
        path = f"{self._path}/validate"
        headers = {"Content-Type": HUJSON}
        response = self._http.send("POST", path, headers=headers, content=text)
        if response.status_code != 200:
            raise _refusal(self._http, "POST", path, response)
        body = json_body(response)
        if isinstance(body, dict) and (body.get("message") or body.get("data")):
            raw = body.get("data")
            data: list[Any] = raw if isinstance(raw, list) else []
            raise ServerTestsFailed(
                self._http.what("POST", path), str(body.get("message", "")), data
            )
        return True


class HeadscalePolicy(HeadscaleApi):
    """The policy through Headscale's REST API v1 (``/api/v1/policy``)."""

    _path = "/api/v1/policy"

    def _answer(self, method: str, response: httpx.Response, path: str = _path) -> RemotePolicy:
        if response.status_code != 200:
            raise _headscale_refusal(self._http, method, path, response)
        body = json_body(response)
        text = body.get("policy") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise BackendError(f"{self._http.what(method, self._path)}: answer without policy")
        return RemotePolicy(text, sha256_hex(text))

    def get(self) -> RemotePolicy:
        response = self._http.send("GET", self._path, ok_statuses=(500,))
        if response.status_code == 404 or _no_policy_stored(response):
            return RemotePolicy("", "")
        return self._answer("GET", response)

    def put(self, text: str, *, if_match: str) -> RemotePolicy:
        current = self.get().etag
        if current != if_match:
            raise ConflictError(
                f"{self._http.what('PUT', self._path)}: the remote policy changed since it was"
                " fetched (another push won); fetch again and retry",
                status=412,
            )
        headers = {"If-Match": f'"{if_match}"'} if if_match else {}
        body = {"policy": text}
        response = self._http.send(
            "PUT", self._path, headers=headers, json_body=body, ok_statuses=(500,)
        )
        return self._answer("PUT", response)

    def validate(self, text: str) -> bool:
        """``POST /api/v1/policy/check`` (Headscale >= 0.29); False where there is none."""
        path = f"{self._path}/check"
        response = self._http.send("POST", path, json_body={"policy": text}, ok_statuses=(500,))
        if response.status_code in (404, 405, 501):
            return False
        if response.status_code != 200:
            raise _headscale_refusal(self._http, "POST", path, response)
        return True


def _no_policy_stored(response: httpx.Response) -> bool:
    return response.status_code == 500 and "policy not found" in server_message(response)


TESTS_FAILED = "test(s) failed:"


def _headscale_refusal(
    http: ApiClient, method: str, path: str, response: httpx.Response
) -> BackendError:
    """Headscale's "test(s) failed:" (one ``<src>: <why>`` a line) -> ServerTestsFailed with
    the lines grouped by source, as Tailscale's ``data``; else a BackendError."""
    message = http.scrub(server_message(response))
    if TESTS_FAILED not in message:
        return _refusal(http, method, path, response)
    head, _, rest = message.partition(TESTS_FAILED)
    by_source: dict[str, list[str]] = {}
    for line in rest.splitlines():
        line = line.strip()
        if not line or line.startswith(TESTS_FAILED):
            continue
        source, sep, why = line.partition(": ")
        if sep:
            by_source.setdefault(source, []).append(why)
        else:
            by_source.setdefault("", []).append(line)
    data: list[Any] = [{"user": src, "errors": errors} for src, errors in by_source.items()]
    prefix = head.strip().removesuffix("multiple errors:").strip()
    text = f"{prefix} test(s) failed" if prefix else "test(s) failed"
    return ServerTestsFailed(http.what(method, path), text, data, status=response.status_code)


def open_policy_client(
    control: ControlConfig, *, tailnet: str, credentials: Credentials, **injected: Unpack[Injected]
) -> TailscalePolicy | HeadscalePolicy:
    """The policy client for the inventory's ``control`` section (a context manager)."""
    return open_api(
        control,
        TailscalePolicy,
        HeadscalePolicy,
        tailnet=tailnet,
        credentials=credentials,
        **injected,
    )
