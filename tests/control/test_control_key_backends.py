"""The keys issue's API clients (tailcfg.keys.backends) against the real embedded server."""

from __future__ import annotations

import pytest

from tailcfg.control.server import RunningControl
from tailcfg.keys.backends import HeadscaleV1, KeyRequest, TailscaleV2
from tailcfg.keys.credentials import Credentials


@pytest.mark.parametrize("flavour", ["tailscale", "headscale"])
def test_mint_list_delete(control: RunningControl, flavour: str) -> None:
    backend: TailscaleV2 | HeadscaleV1
    if flavour == "tailscale":
        creds = Credentials(tailscale_api_key=control.admin_key)
        backend = TailscaleV2(control.url, tailnet="example.com", credentials=creds)
    else:
        creds = Credentials(headscale_api_key=control.admin_key)
        backend = HeadscaleV1(control.url, credentials=creds)
    with backend:
        minted = backend.create_key(
            KeyRequest(tags=("tag:server",), reusable=False, expiry_seconds=3600, description="dao")
        )
        assert minted.secret.startswith(f"tskey-auth-{minted.id}-")
        assert (minted.tags, minted.reusable, minted.ephemeral) == (("tag:server",), False, False)
        listed = {k.id: (k.tags, k.revoked) for k in backend.list_keys()}
        assert listed == {minted.id: (("tag:server",), False)}
        backend.delete_key(minted.id)
        assert {k.id: k.revoked for k in backend.list_keys()} == {minted.id: True}
