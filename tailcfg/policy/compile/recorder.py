"""SSH session recording: what ``recorder`` / ``enforceRecorder`` put on the wire.

Documented (Tailscale SSH session recording) and read from ``tailcfg.SSHAction``:

- a rule's ``recorder`` names the recorder nodes (a tag); each matching session's
  ``action.recorders`` lists them as ``addr:port``, lowest address first. tsrecorder
  takes uploads on port 80 (``http://addr:port/record``), so the port is 80;
- ``enforceRecorder: true`` adds ``action.onRecordingFailure`` (the
  ``tailcfg.SSHRecorderFailureAction``): the session is refused when recording cannot
  start and ended when it fails later. Without it the session fails open (no field);
- the server opens TCP port 80 from the SSH servers of such rules to the recorders, so
  the recorder node's packet filter admits the uploads.

The failure messages are tailcfg's wording: the server's texts are not known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailcfg.policy.compile.resolve import AddrSet, Resolver
from tailcfg.policy.model.addrs import Interval, addr_str
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy, SshRule

RECORDER_PORT = 80
REJECT_MESSAGE = "# Tailscale SSH: this session must be recorded, and recording failed to start."
TERMINATE_MESSAGE = "# Tailscale SSH: this session must be recorded, and recording failed."


def recorder_aliases(rule: SshRule) -> list[str]:
    value = rule.raw.get("recorder")
    return [v.strip() for v in value if isinstance(v, str)] if isinstance(value, list) else []


def enforced(rule: SshRule) -> bool:
    return rule.raw.get("enforceRecorder") is True


def recorder_nodes(rule: SshRule, r: Resolver) -> list[Node]:
    found: dict[str, Node] = {}
    for alias in recorder_aliases(rule):
        for n in r.devices_for(alias):
            found.setdefault(n.name, n)
    return list(found.values())


def _sorted_addrs(nodes: list[Node], r: Resolver) -> list[Interval]:
    return sorted(iv for n in nodes for iv in r.ivs[n.name])


def action_fields(rule: SshRule, r: Resolver) -> dict[str, Any]:
    """The ``recorders`` / ``onRecordingFailure`` fields of this rule's SSHAction."""
    if not recorder_aliases(rule):
        return {}
    out: dict[str, Any] = {}
    recorders = []
    for v, lo, _hi in _sorted_addrs(recorder_nodes(rule, r), r):
        text = addr_str(v, lo)
        recorders.append(f"{text}:{RECORDER_PORT}" if v == 4 else f"[{text}]:{RECORDER_PORT}")
    if recorders:
        out["recorders"] = recorders
    if enforced(rule):
        out["onRecordingFailure"] = {
            "RejectSessionWithMessage": REJECT_MESSAGE,
            "TerminateSessionWithMessage": TERMINATE_MESSAGE,
        }
    return out


def upload_rules(policy: Policy, r: Resolver) -> Mapping[str, list[dict[str, Any]]]:
    """Per recorder node: the TCP/80 rule admitting uploads from the recorded SSH servers."""
    sources: dict[str, list[Interval]] = {}
    for rule in policy.ssh:
        if not recorder_aliases(rule) or rule.action.strip() not in ("accept", "check"):
            continue
        servers: list[Interval] = []
        for dst in rule.dst:
            alias = dst.text.strip()
            targets = r.members if alias == "autogroup:self" else r.devices_for(alias)
            for n in targets:
                servers.extend(r.ivs[n.name])
        for rec in recorder_nodes(rule, r):
            sources.setdefault(rec.name, []).extend(servers)
    out: dict[str, list[dict[str, Any]]] = {}
    by_name = {n.name: n for n in r.nodes}
    for name, ivs in sources.items():
        if not ivs:
            continue
        dsts = [
            {"IP": addr_str(v, lo), "Ports": {"First": RECORDER_PORT, "Last": RECORDER_PORT}}
            for v, lo, _hi in sorted(r.ivs[by_name[name].name])
        ]
        src = [addr_str(v, x) for v, lo, hi in AddrSet(ivs).intervals for x in range(lo, hi + 1)]
        out[name] = [{"SrcIPs": src, "DstPorts": dsts, "IPProto": [6]}]
    return out
