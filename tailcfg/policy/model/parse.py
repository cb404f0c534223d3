"""Build the typed :class:`~tailcfg.policy.model.policy.Policy` from a parsed HuJSON document.

Shape errors (wrong JSON types) are the validator's business; this builder is lenient:
a string where a list is expected counts as a one-item list, other wrong types are
skipped. Every Ref carries the location of its string in the file (a Span on first use).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from tailcfg.hujson import Document, JsonPath
from tailcfg.policy.model.autogroups import MEMBERS_LEGACY
from tailcfg.policy.model.policy import (
    AclRule,
    AutoApprovers,
    Grant,
    Host,
    Loc,
    NamedList,
    NodeAttr,
    Policy,
    PolicyTest,
    Ref,
    SshRule,
    SshTest,
)


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def ref(self, path: JsonPath, value: Any) -> Ref:
        text = str(value)
        if text.strip() == MEMBERS_LEGACY:  # the legacy plural: the engine reads one name
            text = "autogroup:member"
        return Ref(text, self.loc(path))

    def loc(self, path: JsonPath, *, key: bool = False) -> Loc:
        return Loc(doc=self.doc, path=path, key=key)

    def refs(self, path: JsonPath, value: Any) -> tuple[Ref, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (self.ref(path, value),)
        if not isinstance(value, list):
            return ()
        return tuple(
            self.ref((*path, i), item)
            for i, item in enumerate(value)
            if isinstance(item, str | int) and not isinstance(item, bool)
        )

    def opt_ref(self, path: JsonPath, value: Any) -> Ref | None:
        if value is None or isinstance(value, list | dict | bool):
            return None
        return self.ref(path, value)

    def entries(self, key: str, raw: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        value = raw.get(key)
        if not isinstance(value, list):
            return []
        return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]

    def named(self, key: str, raw: Mapping[str, Any]) -> Mapping[str, NamedList]:
        value = raw.get(key)
        if not isinstance(value, dict):
            return MappingProxyType({})
        out = {
            name: NamedList(
                name,
                self.refs((key, name), members),
                self.loc((key, name)),
                self.loc((key, name), key=True),
            )
            for name, members in value.items()
        }
        return MappingProxyType(out)

    def acls(self, raw: Mapping[str, Any]) -> tuple[AclRule, ...]:
        out = []
        for i, item in self.entries("acls", raw):
            p = ("acls", i)
            src_key = "src" if "src" in item or "users" not in item else "users"
            dst_key = "dst" if "dst" in item or "ports" not in item else "ports"
            out.append(
                AclRule(
                    index=i,
                    action=str(item.get("action", "")),
                    src=self.refs((*p, src_key), item.get(src_key)),
                    dst=self.refs((*p, dst_key), item.get(dst_key)),
                    proto=self.opt_ref((*p, "proto"), item.get("proto")),
                    loc=self.loc(p),
                    src_key=src_key,
                    dst_key=dst_key,
                )
            )
        return tuple(out)

    def grants(self, raw: Mapping[str, Any]) -> tuple[Grant, ...]:
        out = []
        for i, item in self.entries("grants", raw):
            p = ("grants", i)
            app = item.get("app")
            app_map: dict[str, tuple[Any, ...]] = {}
            if isinstance(app, dict):
                for name, values in app.items():
                    app_map[name] = tuple(values) if isinstance(values, list) else (values,)
            out.append(
                Grant(
                    index=i,
                    src=self.refs((*p, "src"), item.get("src")),
                    dst=self.refs((*p, "dst"), item.get("dst")),
                    ip=self.refs((*p, "ip"), item.get("ip")),
                    app=MappingProxyType(app_map),
                    via=self.refs((*p, "via"), item.get("via")),
                    loc=self.loc(p),
                    has_ip=bool(item.get("ip")),
                    has_app=bool(app),
                )
            )
        return tuple(out)

    def ssh(self, raw: Mapping[str, Any]) -> tuple[SshRule, ...]:
        out = []
        for i, item in self.entries("ssh", raw):
            p = ("ssh", i)
            period = item.get("checkPeriod")
            out.append(
                SshRule(
                    index=i,
                    action=str(item.get("action") or ""),
                    src=self.refs((*p, "src"), item.get("src")),
                    dst=self.refs((*p, "dst"), item.get("dst")),
                    users=self.refs((*p, "users"), item.get("users")),
                    check_period=None if period is None else str(period),
                    accept_env=self.refs((*p, "acceptEnv"), item.get("acceptEnv")),
                    loc=self.loc(p),
                    raw=MappingProxyType(dict(item)),
                )
            )
        return tuple(out)

    def node_attrs(self, raw: Mapping[str, Any]) -> tuple[NodeAttr, ...]:
        out = []
        for i, item in self.entries("nodeAttrs", raw):
            p = ("nodeAttrs", i)
            attr = item.get("attr")
            app = item.get("app")
            out.append(
                NodeAttr(
                    index=i,
                    target=self.refs((*p, "target"), item.get("target")),
                    attr=tuple(attr) if isinstance(attr, list) else (),
                    ip_pool=self.refs((*p, "ipPool"), item.get("ipPool")),
                    app=MappingProxyType(dict(app) if isinstance(app, dict) else {}),
                    loc=self.loc(p),
                )
            )
        return tuple(out)

    def tests(self, raw: Mapping[str, Any]) -> tuple[PolicyTest, ...]:
        out = []
        for i, item in self.entries("tests", raw):
            p = ("tests", i)
            src_key = "src" if "src" in item or "user" not in item else "user"
            acc_key = "accept" if "accept" in item or "allow" not in item else "allow"
            out.append(
                PolicyTest(
                    index=i,
                    src=self.opt_ref((*p, src_key), item.get(src_key)),
                    proto=self.opt_ref((*p, "proto"), item.get("proto")),
                    accept=self.refs((*p, acc_key), item.get(acc_key)),
                    deny=self.refs((*p, "deny"), item.get("deny")),
                    loc=self.loc(p),
                    raw=MappingProxyType(dict(item)),
                )
            )
        return tuple(out)

    def ssh_tests(self, raw: Mapping[str, Any]) -> tuple[SshTest, ...]:
        out = []
        for i, item in self.entries("sshTests", raw):
            p = ("sshTests", i)
            out.append(
                SshTest(
                    index=i,
                    src=self.opt_ref((*p, "src"), item.get("src")),
                    dst=self.refs((*p, "dst"), item.get("dst")),
                    accept=self.refs((*p, "accept"), item.get("accept")),
                    check=self.refs((*p, "check"), item.get("check")),
                    deny=self.refs((*p, "deny"), item.get("deny")),
                    loc=self.loc(p),
                    raw=MappingProxyType(dict(item)),
                )
            )
        return tuple(out)

    def hosts(self, raw: Mapping[str, Any]) -> Mapping[str, Host]:
        value = raw.get("hosts")
        if not isinstance(value, dict):
            return MappingProxyType({})
        return MappingProxyType(
            {
                name: Host(name, self.ref(("hosts", name), v), self.loc(("hosts", name), key=True))
                for name, v in value.items()
                if isinstance(v, str)
            }
        )

    def auto_approvers(self, raw: Mapping[str, Any]) -> AutoApprovers:
        value = raw.get("autoApprovers")
        if not isinstance(value, dict):
            return AutoApprovers()
        routes = value.get("routes")
        route_map = {}
        if isinstance(routes, dict):
            for prefix, approvers in routes.items():
                route_map[prefix] = self.refs(("autoApprovers", "routes", prefix), approvers)
        return AutoApprovers(
            routes=MappingProxyType(route_map),
            exit_node=self.refs(("autoApprovers", "exitNode"), value.get("exitNode")),
        )


def build_policy(doc: Document, *, users: Sequence[str] = ()) -> Policy:
    """Turn a parsed document into a Policy (no validation beyond JSON shape leniency)."""
    raw = doc.value if isinstance(doc.value, dict) else {}
    b = _Builder(doc)
    return Policy(
        path=doc.path,
        text=doc.text,
        acls=b.acls(raw),
        grants=b.grants(raw),
        groups=b.named("groups", raw),
        hosts=b.hosts(raw),
        tag_owners=b.named("tagOwners", raw),
        auto_approvers=b.auto_approvers(raw),
        ssh=b.ssh(raw),
        node_attrs=b.node_attrs(raw),
        ipsets=b.named("ipsets", raw),
        postures=b.named("postures", raw),
        tests=b.tests(raw),
        ssh_tests=b.ssh_tests(raw),
        has_acls="acls" in raw,
        has_grants="grants" in raw,
        users=tuple(users),
        span=doc.span_at(()),
        raw=MappingProxyType(dict(raw)),
    )
