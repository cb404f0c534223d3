"""Malformed, oversized and wrongly-sealed node requests get a 4xx; the server keeps serving."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from control_helpers import POLICY, mint, node_key, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.public import Box, PrivateKey, PublicKey

from tailcfg.control import keys
from tailcfg.control.bootstrap import init_state
from tailcfg.control.client import ControlClient
from tailcfg.control.server import RunningControl, running_control

VERBS = st.sampled_from(["register", "map", "endpoints"])
KEY_TEXT = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: "mkey:" + b.hex()),
    st.text(alphabet="abcdefmkey:0123456789-_.", min_size=1, max_size=80),
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "NodeKey",
        "OldNodeKey",
        "AuthKey",
        "Hostname",
        "RequestTags",
        "RoutableIPs",
        "Endpoints",
        "Stream",
    ]
)
MESSAGES = st.one_of(JSON, st.dictionaries(FIELDS, JSON, max_size=7))


def _assert_refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert set(response.json()) == {"message"}


def _still_serving(ctl: RunningControl) -> dict[str, Any]:
    async def register() -> dict[str, Any]:
        async with httpx.AsyncClient(
            base_url=ctl.url, headers={"Authorization": f"Bearer {ctl.admin_key}"}
        ) as admin:
            key = await mint(admin, preauthorized=True)
        async with ControlClient(ctl.url, PrivateKey.generate()) as client:
            return await client.register(node_key(), auth_key=key, hostname="after-fuzz")

    return run(register())


def test_fuzzed_node_requests(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init_state(state, admin_login="odin@example.com")
    policy = tmp_path / "policy.hujson"
    policy.write_text(POLICY, encoding="utf-8")
    with running_control(state, policy) as ctl, httpx.Client(base_url=ctl.url) as http:
        control_public = PublicKey(
            keys.parse_public(http.get("/key").json()["PublicKey"], keys.CONTROL_PREFIX)
        )

        @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
        @given(verb=VERBS, mkey=KEY_TEXT, body=st.binary(max_size=512))
        def raw_bodies(verb: str, mkey: str, body: bytes) -> None:
            _assert_refused(http.post(f"/machine/{mkey}/{verb}", content=body))

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(verb=VERBS, message=MESSAGES)
        def sealed_garbage(verb: str, message: Any) -> None:
            machine = PrivateKey.generate()
            box = Box(machine, control_public)
            mkey = keys.public_text(machine.public_key, keys.MACHINE_PREFIX)
            sealed = bytes(box.encrypt(json.dumps(message).encode()))
            _assert_refused(http.post(f"/machine/{mkey}/{verb}", content=sealed))

        raw_bodies()
        sealed_garbage()

        # Sealed for another control server, or by a key other than the one in the URL.
        machine, stranger = PrivateKey.generate(), PrivateKey.generate()
        mkey = keys.public_text(machine.public_key, keys.MACHINE_PREFIX)
        for box in (
            Box(machine, PrivateKey.generate().public_key),
            Box(stranger, control_public),
        ):
            sealed = bytes(box.encrypt(b'{"NodeKey": "x"}'))
            response = http.post(f"/machine/{mkey}/register", content=sealed)
            assert (response.status_code, response.json()) == (
                400,
                {"message": "request is not sealed for this control server"},
            )
        oversized = http.post(f"/machine/{mkey}/register", content=b"x" * (2 << 20))
        assert (oversized.status_code, oversized.json()) == (
            413,
            {"message": "request body too large"},
        )

        def chunks() -> Any:
            for _ in range(40):
                yield b"y" * 65536

        streamed = http.post(f"/machine/{mkey}/map", content=chunks())
        assert streamed.status_code == 413
        identity = _still_serving(ctl)
        assert identity["Name"] == "after-fuzz.tailnet.internal"


ADMIN_CALLS = st.sampled_from(
    [
        ("POST", "/api/v2/tailnet/-/keys"),
        ("POST", "/api/v2/device/1/tags"),
        ("POST", "/api/v2/device/1/authorized"),
        ("POST", "/api/v1/preauthkey"),
        ("POST", "/api/v1/preauthkey/expire"),
        ("PUT", "/api/v1/policy"),
        ("POST", "/api/v2/tailnet/-/acl"),
        ("POST", "/api/v2/tailnet/-/acl/validate"),
    ]
)
ADMIN_FIELDS = st.sampled_from(
    [
        "capabilities",
        "expirySeconds",
        "description",
        "tags",
        "authorized",
        "user",
        "reusable",
        "ephemeral",
        "expiration",
        "aclTags",
        "key",
        "id",
        "policy",
    ]
)


def test_fuzzed_admin_requests(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init_state(state, admin_login="odin@example.com")
    policy = tmp_path / "policy.hujson"
    policy.write_text(POLICY, encoding="utf-8")
    with running_control(state, policy) as ctl:
        headers = {"Authorization": f"Bearer {ctl.admin_key}"}
        with httpx.Client(base_url=ctl.url, headers=headers) as http:
            _still_serving(ctl)  # device 1 exists

            @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
            @given(
                call=ADMIN_CALLS,
                body=st.one_of(JSON, st.dictionaries(ADMIN_FIELDS, JSON, max_size=6)),
            )
            def admin_bodies(call: tuple[str, str], body: Any) -> None:
                response = http.request(call[0], call[1], json=body)
                if call[1].startswith("/api/v1/"):  # Headscale: gRPC-gateway's error bodies,
                    if response.status_code >= 400:  # 500 (code 2) for a refusal, as it does
                        answer = response.json()
                        assert set(answer) == {"code", "message", "details"}, answer
                        assert answer["message"] != "internal server error", (call, body)
                    return
                assert response.status_code < 500, (call, body, response.text)
                if response.status_code >= 400:
                    assert set(response.json()) <= {"message", "data"}

            admin_bodies()
            assert http.get("/api/v2/tailnet/-/devices").status_code == 200
