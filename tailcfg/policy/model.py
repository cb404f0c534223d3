"""The policy as typed, immutable data: every rule, alias and test keeps its Span.

Built from a parsed HuJSON document by :func:`tailcfg.policy.parse.build_policy`.
Strings are kept as written (``Ref.text``); meaning is given to them by
:mod:`tailcfg.policy.resolve`. Legacy spellings are normalised here: an ACL's
``users``/``ports`` become ``src``/``dst``, a test's ``user``/``allow`` become
``src``/``accept``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tailcfg.source import Span


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Ref:
    """One string of the policy (an alias, a port spec, a login) and where it is."""

    text: str
    span: Span

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class AclRule:
    """An entry of ``acls``; ``index`` is its position in the list."""

    index: int
    action: str
    src: tuple[Ref, ...]
    dst: tuple[Ref, ...]
    proto: Ref | None
    span: Span
    src_key: str = "src"
    dst_key: str = "dst"


@dataclass(frozen=True, slots=True)
class Grant:
    """An entry of ``grants``: ``ip`` port specs and/or ``app`` capabilities, optional ``via``."""

    index: int
    src: tuple[Ref, ...]
    dst: tuple[Ref, ...]
    ip: tuple[Ref, ...]
    app: Mapping[str, tuple[Any, ...]]
    via: tuple[Ref, ...]
    span: Span
    has_ip: bool = False
    has_app: bool = False


@dataclass(frozen=True, slots=True)
class SshRule:
    """An entry of ``ssh``."""

    index: int
    action: str
    src: tuple[Ref, ...]
    dst: tuple[Ref, ...]
    users: tuple[Ref, ...]
    check_period: str | None
    accept_env: tuple[Ref, ...]
    span: Span
    raw: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class NodeAttr:
    """An entry of ``nodeAttrs``."""

    index: int
    target: tuple[Ref, ...]
    attr: tuple[Any, ...]
    ip_pool: tuple[Ref, ...]
    app: Mapping[str, Any]
    span: Span


@dataclass(frozen=True, slots=True)
class PolicyTest:
    """An entry of ``tests``: one ``src`` and ``host:port`` expectations."""

    index: int
    src: Ref | None
    proto: Ref | None
    accept: tuple[Ref, ...]
    deny: tuple[Ref, ...]
    span: Span
    raw: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class SshTest:
    """An entry of ``sshTests``: logins expected to be accepted, checked or denied."""

    index: int
    src: Ref | None
    dst: tuple[Ref, ...]
    accept: tuple[Ref, ...]
    check: tuple[Ref, ...]
    deny: tuple[Ref, ...]
    span: Span
    raw: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class NamedList:
    """A named entry of ``groups``/``tagOwners``/``ipsets``/``postures``: its members."""

    name: str
    members: tuple[Ref, ...]
    span: Span
    key_span: Span


@dataclass(frozen=True, slots=True)
class Host:
    """An entry of ``hosts``: a name for one IP or CIDR."""

    name: str
    value: Ref
    key_span: Span


@dataclass(frozen=True, slots=True)
class AutoApprovers:
    """``autoApprovers``: route prefix -> approvers, and ``exitNode`` approvers."""

    routes: Mapping[str, tuple[Ref, ...]] = field(default_factory=_empty)
    exit_node: tuple[Ref, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    """A whole policy file. Mappings keep the file's order and are read-only."""

    path: str
    text: str
    acls: tuple[AclRule, ...] = ()
    grants: tuple[Grant, ...] = ()
    groups: Mapping[str, NamedList] = field(default_factory=_empty)
    hosts: Mapping[str, Host] = field(default_factory=_empty)
    tag_owners: Mapping[str, NamedList] = field(default_factory=_empty)
    auto_approvers: AutoApprovers = field(default_factory=AutoApprovers)
    ssh: tuple[SshRule, ...] = ()
    node_attrs: tuple[NodeAttr, ...] = ()
    ipsets: Mapping[str, NamedList] = field(default_factory=_empty)
    postures: Mapping[str, NamedList] = field(default_factory=_empty)
    tests: tuple[PolicyTest, ...] = ()
    ssh_tests: tuple[SshTest, ...] = ()
    has_acls: bool = False
    has_grants: bool = False
    users: tuple[str, ...] = ()
    span: Span | None = None
    raw: Mapping[str, Any] = field(default_factory=_empty)
