"""API credentials, built once at the CLI edge from the environment and passed down.

Never read from files, never printed: ``repr`` shows only which credentials are set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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
        names = [
            name
            for name in (
                "tailscale_api_key",
                "oauth_client_id",
                "oauth_client_secret",
                "headscale_api_key",
            )
            if getattr(self, name)
        ]
        shown = ", ".join(f"{n}=***" for n in names)
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
