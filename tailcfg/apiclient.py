"""The HTTP client for control-server APIs (Tailscale v2, Headscale v1, the embedded plane).

One piece of machinery for every API caller (``keys.backends``, ``gitops.client``):

* :class:`Credentials`: the API secrets, built once at the CLI edge and passed down; never
  read from files, never printed (``repr`` shows only which credentials are set).
* :class:`Auth`: a bearer token source, made from the credentials by
  ``credentials.tailscale_auth(scope)`` (an API key, or an OAuth client-credentials grant
  for ``scope``, its token fetched once) or ``credentials.headscale_auth()`` (an API key).
* :class:`ApiClient`: one base URL, timeouts, retries of 429 / 5xx answers (Headscale: not
  500, its answer to refusals) and connection failures with exponential backoff (honouring
  ``Retry-After``), an injectable transport and sleep; failures raise :class:`BackendError`
  (a 412: :class:`ConflictError`) naming the request and the server's own message
  (:func:`server_message`). Known secrets (and every token fetched) are scrubbed from
  messages; request bodies are never echoed.
  ``send`` hands back the response (raw bodies, headers such as ``ETag``); ``request`` is
  the JSON call.
* :class:`ApiBacked`: the base of a client object that owns an ApiClient (a context manager);
  :class:`TailscaleApi` (one tailnet's resource, an OAuth scope) and :class:`HeadscaleApi`
  build theirs from the credentials; :func:`open_api` picks one for the inventory's
  ``control`` section; :class:`Injected`: the transport and sleep tests pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx

from tailcfg.closing import Closing
from tailcfg.errors import BackendError, ConflictError
from tailcfg.inventory import ControlConfig

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Headscale answers 500 for refusals (gRPC code Unknown: "user not found", a policy's failed
# tests, no stored policy): retrying them only delays the same answer.
HEADSCALE_RETRY_STATUSES = frozenset({429, 502, 503, 504})
OAUTH_TOKEN_PATH = "/api/v2/oauth/token"


@dataclass(frozen=True)
class Credentials:
    tailscale_api_key: str | None = field(default=None, repr=False)
    oauth_client_id: str | None = field(default=None, repr=False)
    oauth_client_secret: str | None = field(default=None, repr=False)
    headscale_api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Credentials:
        """Read TAILSCALE_API_KEY, TAILSCALE_OAUTH_CLIENT_{ID,SECRET}, HEADSCALE_API_KEY."""

        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        return cls(
            tailscale_api_key=get("TAILSCALE_API_KEY"),
            oauth_client_id=get("TAILSCALE_OAUTH_CLIENT_ID"),
            oauth_client_secret=get("TAILSCALE_OAUTH_CLIENT_SECRET"),
            headscale_api_key=get("HEADSCALE_API_KEY"),
        )

    @property
    def uses_oauth(self) -> bool:
        return bool(self.oauth_client_id and self.oauth_client_secret)

    def __repr__(self) -> str:
        """Which credentials are set, never their values."""
        shown = ", ".join(f"{f.name}=***" for f in fields(self) if getattr(self, f.name))
        return f"Credentials({shown})"

    __str__ = __repr__

    def secrets(self) -> tuple[str, ...]:
        """Every secret value held (for scrubbing error messages)."""
        values = (
            self.tailscale_api_key,
            self.oauth_client_secret,
            self.headscale_api_key,
        )
        return tuple(v for v in values if v)

    def tailscale_auth(self, scope: str) -> Auth:
        """Tailscale's API v2: the OAuth client (tokens scoped to ``scope``), else the API key."""
        if self.uses_oauth:
            return OAuthClient(
                self.oauth_client_id or "", self.oauth_client_secret or "", scope, self.secrets()
            )
        if self.tailscale_api_key:
            return ApiKey(self.tailscale_api_key, self.secrets())
        raise BackendError(
            "no Tailscale credentials: set TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID"
            " and TAILSCALE_OAUTH_CLIENT_SECRET"
        )

    def headscale_auth(self) -> Auth:
        """Headscale's API v1: the API key."""
        if not self.headscale_api_key:
            raise BackendError("no Headscale credentials: set HEADSCALE_API_KEY")
        return ApiKey(self.headscale_api_key, self.secrets())


class Auth(Protocol):
    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of the credentials it came from (scrubbed from error messages)."""
        ...

    def token(self, http: ApiClient) -> str:
        """The bearer token (fetched through ``http`` when it must be)."""
        ...


@dataclass(frozen=True)
class ApiKey:
    """A fixed bearer token: a Tailscale or Headscale API key."""

    key: str = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def token(self, http: ApiClient) -> str:
        return self.key


@dataclass
class OAuthClient:
    """Tailscale's OAuth client-credentials grant; the access token is fetched once."""

    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    scope: str
    secrets: tuple[str, ...] = field(default=(), repr=False)
    _token: str | None = field(default=None, repr=False)

    def token(self, http: ApiClient) -> str:
        if self._token is None:
            form = {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "grant_type": "client_credentials",
                "scope": self.scope,
            }
            answer = http.request("POST", OAUTH_TOKEN_PATH, form=form, authenticated=False)
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if not isinstance(token, str) or not token:
                raise BackendError("OAuth token endpoint answered without access_token")
            http.add_secret(token)
            self._token = token
        return self._token


class Injected(TypedDict, total=False):
    """What a caller (a test) may inject into an :class:`ApiClient` through its owner."""

    transport: httpx.BaseTransport | None  # default: real HTTP
    sleep: Callable[[float], None] | None  # default: time.sleep (the backoff between tries)


class ApiClient(Closing):
    """One base URL, bearer auth, timeouts, bounded retries; a context manager."""

    def __init__(
        self,
        base_url: str,
        auth: Auth | None = None,
        *,
        secrets: Sequence[str] = (),
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] | None = None,
        retry_statuses: frozenset[int] = RETRY_STATUSES,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            headers={"User-Agent": "tailcfg"},
            follow_redirects=False,
        )
        self.base_url = base_url
        self._auth = auth
        known = (*(auth.secrets if auth is not None else ()), *secrets)
        self._secrets = tuple(s for s in known if s)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._sleep = sleep or time.sleep
        self._retry_statuses = retry_statuses

    def add_secret(self, value: str) -> None:
        if value:
            self._secrets += (value,)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        self._client.close()

    def what(self, method: str, path: str) -> str:
        return f"{method} {self.base_url}{path}"

    def error(
        self, method: str, path: str, response: httpx.Response, *, conflict: str = ""
    ) -> BackendError:
        """A BackendError naming the request and the server's own message (scrubbed); a 412
        is a ConflictError, its message followed by ``conflict`` (what happened, what to do)."""
        status = response.status_code
        text = f"{self.what(method, path)}: {status} {self.scrub(server_message(response))}"
        if status == 412:
            return ConflictError(f"{text}: {conflict}" if conflict else text, status=status)
        return BackendError(text, status=status)

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: str | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        ok_statuses: Sequence[int] = (),
        authenticated: bool = True,
    ) -> httpx.Response:
        """The final response; a 5xx (not in ``ok_statuses``) raises, a 4xx is returned."""
        sent = dict(headers or {})
        if authenticated and self._auth is not None:
            sent["Authorization"] = f"Bearer {self._auth.token(self)}"
        body = content.encode("utf-8") if content is not None else None
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            try:
                response = self._client.request(
                    method,
                    path,
                    headers=sent,
                    content=body,
                    json=json_body,
                    data=form,
                    params=params,
                )
            except httpx.TransportError as exc:
                if last:
                    kind = type(exc).__name__
                    where = self.what(method, path)
                    raise BackendError(f"{where}: cannot reach the server ({kind})") from None
                self._sleep(self._backoff * 2**attempt)
                continue
            status = response.status_code
            if status in self._retry_statuses and not last:
                self._sleep(self._delay(response, attempt))
                continue
            if status >= 500 and status not in ok_statuses:
                raise self.error(method, path, response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        ok_statuses: Sequence[int] = (),
        authenticated: bool = True,
    ) -> Any:
        """A JSON call: the decoded answer (None when empty); a 4xx / 5xx raises."""
        response = self.send(
            method,
            path,
            headers={"Accept": "application/json"},
            json_body=json_body,
            form=form,
            params=params,
            ok_statuses=ok_statuses,
            authenticated=authenticated,
        )
        if response.status_code >= 400 and response.status_code not in ok_statuses:
            raise self.error(method, path, response)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            what = self.what(method, path)
            raise BackendError(f"{what}: answer is not JSON", status=response.status_code) from None

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        retry_after = str(response.headers.get("Retry-After", ""))
        if retry_after.isdigit():
            return min(float(retry_after), 30.0)
        return float(self._backoff * 2**attempt)


class ApiBacked(Closing):
    """A client object that owns an :class:`ApiClient` as ``_http`` (closing closes it)."""

    _http: ApiClient

    def close(self) -> None:
        self._http.close()


class TailscaleApi(ApiBacked):
    """A client of Tailscale's API v2 for one tailnet's ``resource`` (at ``self._path``).

    The embedded control plane speaks this API too. Subclasses set ``resource`` and the
    OAuth ``scope`` they need, and may shorten ``timeout``.
    """

    name = "tailscale"
    resource: ClassVar[str]  # "keys", "acl": the path below /api/v2/tailnet/{tailnet}/
    scope: ClassVar[str]  # the OAuth client's token scope: "auth_keys", "policy_file"
    timeout: ClassVar[float] = 30.0

    def __init__(
        self, url: str, *, tailnet: str, credentials: Credentials, **injected: Unpack[Injected]
    ) -> None:
        auth = credentials.tailscale_auth(self.scope)
        self._http = ApiClient(url, auth, timeout=self.timeout, **injected)
        self._path = f"/api/v2/tailnet/{quote(tailnet, safe='')}/{self.resource}"
        self.remote = f"tailscale {url} {tailnet}"  # names the server and tailnet


TailscaleT = TypeVar("TailscaleT", bound=TailscaleApi)


class HeadscaleApi(ApiBacked):
    """A client of Headscale's REST API v1 (grpc-gateway JSON, camelCase)."""

    name = "headscale"
    timeout: ClassVar[float] = 30.0

    def __init__(self, url: str, *, credentials: Credentials, **injected: Unpack[Injected]) -> None:
        self._http = ApiClient(
            url,
            credentials.headscale_auth(),
            timeout=self.timeout,
            retry_statuses=HEADSCALE_RETRY_STATUSES,
            **injected,
        )
        self.remote = f"headscale {url}"  # names the server


HeadscaleT = TypeVar("HeadscaleT", bound=HeadscaleApi)


def open_api(
    control: ControlConfig,
    tailscale: type[TailscaleT],
    headscale: type[HeadscaleT],
    *,
    tailnet: str,
    credentials: Credentials,
    **injected: Unpack[Injected],
) -> TailscaleT | HeadscaleT:
    """The ``headscale`` client for a Headscale server, else the ``tailscale`` one."""
    if control.backend == "headscale":
        return headscale(control.url, credentials=credentials, **injected)
    return tailscale(control.url, tailnet=tailnet, credentials=credentials, **injected)


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when it is empty or not JSON."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def server_message(response: httpx.Response) -> str:
    """The server's own words: ``message`` / ``error`` / ``error_description``, or the body."""
    body = json_body(response)
    if isinstance(body, dict):
        for key in ("message", "error", "error_description"):
            if isinstance(body.get(key), str):
                return str(body[key])
    if body is not None:
        return json.dumps(body)[:300]
    text = response.text.strip()
    return text[:300] if text else response.reason_phrase
