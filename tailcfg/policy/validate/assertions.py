"""``tests`` / ``sshTests`` forms that live policies use but nobody has seen the server judge.

Each is accepted (and evaluated with the reading the warning gives) with a positioned
``warning[unverified]``; what the server is known to refuse is left to the evaluation,
which fails such a test as the server does (``test(s) failed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailcfg.policy.model.ports import PortError, proto_number
from tailcfg.policy.validate.context import Context, quoted, strings

_PORTED = frozenset({6, 17, 132})


def _portless(test: Mapping[str, Any]) -> bool:
    proto = test.get("proto")
    if not isinstance(proto, str) or not proto.strip():
        return False
    try:
        return proto_number(proto.strip()) not in _PORTED
    except PortError:
        return False


def _host(dst: str) -> str:
    if dst.startswith("["):
        return dst[1:].partition("]")[0]
    return dst.rpartition(":")[0]


def check_tests(ctx: Context) -> None:
    for path, test in ctx.rules("tests"):
        portless = _portless(test)
        for key in ("accept", "allow", "deny"):
            for dst_path, dst in strings(test, key, path):
                text = dst.strip()
                host = _host(text)
                port = text.rpartition(":")[2]
                if portless and (port == "0" or ":" not in text.removeprefix("tag:")):
                    message = (
                        f"{quoted(dst)}: a destination without a port (or port 0) for a "
                        "protocol without ports is neither documented nor captured (read as the "
                        "host on any port)"
                    )
                    ctx.warn(dst_path, message)
                elif "@" in host or host.startswith("group:"):
                    message = (
                        f"{quoted(dst)}: a user or group as a tests destination is neither "
                        "documented nor captured (read as every device of it)"
                    )
                    ctx.warn(dst_path, message)
    for path, test in ctx.rules("sshTests"):
        if "dst" not in test:
            message = (
                "sshTests entry without dst: neither documented nor captured (it asserts "
                "nothing offline)"
            )
            ctx.warn(path, message)
