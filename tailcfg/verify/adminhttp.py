"""The async admin HTTP client verify talks to a control plane with (bearer key, JSON)."""

from __future__ import annotations

from typing import Any

import httpx

from tailcfg.errors import VerifyError


class AdminHttp:
    """Bearer-authenticated JSON calls; a 4xx/5xx answer is a VerifyError naming the call.

    Subclasses set ``label`` (how the error names the server) and ``body_limit`` (how much
    of a refusal's body it quotes, stripped; None: all of it, as sent).
    """

    label = "control API"
    body_limit: int | None = None

    def __init__(self, url: str, api_key: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10.0
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._http.request(method, path, **kw)
        if response.status_code >= 400:
            body = response.text
            if self.body_limit is not None:
                body = body.strip()[: self.body_limit]
            raise VerifyError(f"{self.label} {method} {path}: {response.status_code} {body}")
        return response.json() if response.content else None
