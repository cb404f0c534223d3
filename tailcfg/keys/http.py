"""A small JSON-over-HTTP client for control-server APIs: timeouts, retries, clear errors.

Retries 429 and 5xx answers (and connection failures) with exponential backoff, honouring
``Retry-After``; a 4xx answer raises :class:`BackendError` carrying the server's message.
Known secrets are scrubbed from every message; request bodies are never echoed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from tailcfg.errors import BackendError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class JsonClient:
    def __init__(
        self,
        base_url: str,
        *,
        secrets: Sequence[str] = (),
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
        attempts: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "tailcfg"},
            follow_redirects=False,
        )
        self._secrets = tuple(s for s in secrets if s)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._sleep = sleep
        self.base_url = base_url

    def add_secret(self, value: str) -> None:
        if value:
            self._secrets += (value,)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JsonClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        ok_statuses: Sequence[int] = (),
    ) -> Any:
        """Send a request; the decoded JSON answer (None when empty)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        what = f"{method} {self.base_url}{path}"
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            try:
                response = self._client.request(
                    method, path, headers=headers, json=json_body, data=form, params=params
                )
            except httpx.TransportError as exc:
                if last:
                    kind = type(exc).__name__
                    raise BackendError(f"{what}: cannot reach the server ({kind})") from None
                self._sleep(self._backoff * 2**attempt)
                continue
            status = response.status_code
            if status in RETRY_STATUSES and not last:
                self._sleep(self._delay(response, attempt))
                continue
            if status >= 400 and status not in ok_statuses:
                message = self.scrub(_server_message(response))
                raise BackendError(f"{what}: {status} {message}", status=status)
            return _decode(response, what)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        retry_after = str(response.headers.get("Retry-After", ""))
        if retry_after.isdigit():
            return min(float(retry_after), 30.0)
        return float(self._backoff * 2**attempt)


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()
        return text[:300] if text else response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "error_description"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return json.dumps(body)[:300]


def _decode(response: httpx.Response, what: str) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BackendError(f"{what}: answer is not JSON", status=response.status_code) from None
