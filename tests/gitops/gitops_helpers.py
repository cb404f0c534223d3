"""Helpers for the gitops tests: the control server handle, checkouts, policy variants.

A checkout is one clone of the policy repository: tailcfg.yaml pointing at the embedded
control plane in one of its two API dialects (``embedded`` = Tailscale v2, ``headscale``
= Headscale v1), a policy file and its own gitops state. The policy variants derive from
examples/homelab/policy.hujson.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx

from tailcfg import hujson
from tailcfg.control.policy import DEFAULT_POLICY
from tailcfg.gitops import GitopsState, default_state_path, open_policy_client
from tailcfg.gitops.client import HeadscalePolicy, TailscalePolicy
from tailcfg.inventory import Inventory, load_inventory
from tailcfg.keys.credentials import Credentials

DIALECTS = ["embedded", "headscale"]
HOMELAB_USERS = ("odin@example.com", "freya@example.com")
INVENTORY = """\
tailnet: example.com
control:
  backend: {backend}
  url: {url}
policy: policy.hujson
hosts: {{}}
"""


@dataclass(frozen=True)
class Control:
    url: str
    admin_key: str
    state_dir: Path

    def add_users(self, *logins: str) -> None:
        """Create users the way Headscale's API does (``POST /api/v1/user``)."""
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        with httpx.Client(base_url=self.url, headers=headers) as client:
            for login in logins:
                known = client.get("/api/v1/user", params={"email": login}).json()["users"]
                if known:
                    continue
                name = login.split("@")[0]
                answer = client.post("/api/v1/user", json={"name": name, "email": login})
                assert answer.status_code == 200, answer.text

    def reset_policy(self) -> None:
        """Put the server's default policy back (through its v2 API, no If-Match)."""
        headers = {
            "Authorization": f"Bearer {self.admin_key}",
            "Content-Type": "application/hujson",
        }
        with httpx.Client(base_url=self.url, headers=headers) as client:
            answer = client.post("/api/v2/tailnet/-/acl", content=DEFAULT_POLICY.encode())
            assert answer.status_code == 200, answer.text

    def stored_policy(self) -> tuple[str, str, str]:
        """(text, etag, updated) as the server's database holds them (microseconds)."""
        db = sqlite3.connect(f"file:{self.state_dir / 'control.db'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT text, etag, updated FROM policy WHERE id = 1").fetchone()
        finally:
            db.close()
        return (str(row[0]), str(row[1]), str(row[2]))


@dataclass(frozen=True)
class Checkout:
    """One clone of the policy repository: inventory, policy file, state, credentials."""

    inventory: Inventory
    credentials: Credentials

    @property
    def policy(self) -> Path:
        return self.inventory.policy

    def state(self) -> GitopsState:
        return GitopsState(default_state_path(self.inventory.root_dir))

    def client(self) -> TailscalePolicy | HeadscalePolicy:
        return open_policy_client(
            self.inventory.control, tailnet=self.inventory.tailnet, credentials=self.credentials
        )

    def write(self, text: str) -> None:
        self.policy.write_text(text, encoding="utf-8")


def make_checkout(
    root: Path, control: Control, dialect: str, policy_text: str | None = None
) -> Checkout:
    root.mkdir(parents=True)
    (root / "tailcfg.yaml").write_text(INVENTORY.format(backend=dialect, url=control.url))
    if policy_text is not None:
        (root / "policy.hujson").write_text(policy_text, encoding="utf-8")
    creds = Credentials(tailscale_api_key=control.admin_key, headscale_api_key=control.admin_key)
    return Checkout(load_inventory(root / "tailcfg.yaml"), creds)


ADMIN_GRANT = '"ip":  ["tcp:22", "tcp:443"],'
ODIN_DENY = '"deny": ["tag:router:22", "tag:ci:22"],'


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def widened(text: str) -> str:
    """Admins also reach the servers on 8443 (an access change the tests allow)."""
    return _replace(text, ADMIN_GRANT, '"ip":  ["tcp:22", "tcp:443", "tcp:8443"],')


def console_edit(text: str) -> str:
    """What an admin might do in the web console: open 8080 on the servers to admins."""
    return _replace(text, ADMIN_GRANT, '"ip":  ["tcp:22", "tcp:443", "tcp:8080"],')


def failing_tests(text: str) -> str:
    """A test that expects odin to be denied 443 on the servers, which the policy allows."""
    return _replace(text, ODIN_DENY, '"deny": ["tag:router:22", "tag:ci:22", "tag:server:443"],')


def recommented(text: str) -> str:
    """The same policy with a comment reworded and a blank line added (no change of value)."""
    return _replace(
        text, "// Only admins may create tagged devices.", "// Tagged devices: admins only.\n"
    )


def stranger_test(text: str) -> str:
    """mallory joins group:ops and gets a test; the server has no such user: it refuses."""
    last = '{"src": "tag:server", "deny": ["tag:monitoring:3000", "tag:ci:443"]},'
    stranger = '{"src": "mallory@example.com", "deny": ["tag:server:22"]},'
    text = _replace(text, last, f"{last}\n\t\t{stranger}")
    ops = '"group:ops":    ["odin@example.com", "freya@example.com"'
    return _replace(text, ops, f'{ops}, "mallory@example.com"')


def reordered(text: str) -> str:
    """The groups in the other order, members too: a different value, the same meaning."""
    admins = '"group:admins": ["odin@example.com"],'
    ops = '"group:ops":    ["odin@example.com", "freya@example.com"],'
    swapped = '"group:ops":    ["freya@example.com", "odin@example.com"],'
    return _replace(text, f"{admins}\n\t\t{ops}", f"{swapped}\n\t\t{admins}")


def compact(text: str) -> str:
    """The policy's value as one line of JSON (no comments, not canonically formatted)."""
    return json.dumps(hujson.parse(text).value)
