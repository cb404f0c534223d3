"""HTTP for the policy endpoints: raw bodies, request headers, retries, scrubbed errors.

``keys.http.JsonClient`` speaks JSON only; the policy file travels as HuJSON text with
``If-Match``/``ETag`` headers, so this client hands back the response itself. It retries
connection failures, 429 and 5xx with exponential backoff (honouring ``Retry-After``)
and never puts a credential or a request body into an error message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from tailcfg.errors import BackendError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class PolicyHttp:
    """One base URL, bearer-token auth, bounded retries; a context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        secrets: Sequence[str] = (),
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            headers={"User-Agent": "tailcfg"},
            follow_redirects=False,
        )
        self.base_url = base_url
        self._secrets = tuple(s for s in secrets if s)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._sleep = sleep

    def add_secret(self, value: str) -> None:
        if value:
            self._secrets += (value,)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: str | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The final response (any status below 500 is returned, not raised)."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        body = content.encode("utf-8") if content is not None else None
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            try:
                response = self._client.request(
                    method, path, headers=sent, content=body, json=json_body, data=form
                )
            except httpx.TransportError as exc:
                if last:
                    kind = type(exc).__name__
                    where = self.what(method, path)
                    raise BackendError(f"{where}: cannot reach the server ({kind})") from None
                self._sleep(self._backoff * 2**attempt)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._sleep(self._delay(response, attempt))
                continue
            if response.status_code >= 500:
                raise self.error(method, path, response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def what(self, method: str, path: str) -> str:
        return f"{method} {self.base_url}{path}"

    def error(self, method: str, path: str, response: httpx.Response) -> BackendError:
        """A BackendError naming the request and the server's own message."""
        status = response.status_code
        message = self.scrub(server_message(response))
        return BackendError(f"{self.what(method, path)}: {status} {message}", status=status)

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        retry_after = str(response.headers.get("Retry-After", ""))
        if retry_after.isdigit():
            return min(float(retry_after), 30.0)
        return float(self._backoff * 2**attempt)


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when it is empty or not JSON."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def server_message(response: httpx.Response) -> str:
    body = json_body(response)
    if isinstance(body, dict):
        for key in ("message", "error", "error_description"):
            if isinstance(body.get(key), str):
                return str(body[key])
    if body is not None:
        return json.dumps(body)[:300]
    text = response.text.strip()
    return text[:300] if text else response.reason_phrase
