"""The policy as typed, immutable data: every rule, alias and test keeps its Span.

Built from a parsed HuJSON document by :func:`tailcfg.policy.model.parse.build_policy`.
Strings are kept as written (``Ref.text``); meaning is given to them by
:mod:`tailcfg.policy.compile.resolve`. Legacy spellings are normalised here: an ACL's
``users``/``ports`` become ``src``/``dst``, a test's ``user``/``allow`` become
``src``/``accept``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tailcfg.hujson import Document, JsonPath
from tailcfg.source import Span


class Loc:
    """Where something is in the policy file; turned into a Span on first use.

    Finding a position costs a lookup in the HuJSON document, so a policy with tens of
    thousands of strings only pays for the positions a message actually needs.
    """

    __slots__ = ("_doc", "_key", "_path", "_span")

    def __init__(
        self,
        span: Span | None = None,
        *,
        doc: Document | None = None,
        path: JsonPath = (),
        key: bool = False,
    ) -> None:
        if span is None and doc is None:
            raise ValueError("Loc needs a span or a document")
        self._span = span
        self._doc = doc
        self._path = path
        self._key = key

    @property
    def span(self) -> Span:
        if self._span is None:
            assert self._doc is not None
            at = self._doc.key_span_at if self._key else self._doc.span_at
            self._span = at(self._path)
        return self._span

    def child(self, *steps: str | int) -> Loc:
        """The location of a member inside this one (itself when it has no document)."""
        if self._doc is None:
            return self
        return Loc(doc=self._doc, path=(*self._path, *steps))

    def __repr__(self) -> str:
        return f"Loc({self._path!r})" if self._span is None else f"Loc({self._span!r})"


class Located:
    """Mixin: ``span`` of anything with a ``loc`` (computed on first use)."""

    __slots__ = ()
    loc: Loc

    @property
    def span(self) -> Span:
        return self.loc.span


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Ref(Located):
    """One string of the policy (an alias, a port spec, a login) and where it is."""

    text: str
    loc: Loc = field(compare=False, repr=False)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class AclRule(Located):
    """An entry of ``acls``; ``index`` is its position in the list."""

    index: int
    action: str
    src: tuple[Ref, ...]
    dst: tuple[Ref, ...]
    proto: Ref | None
    loc: Loc = field(compare=False, repr=False)
    src_key: str = "src"
    dst_key: str = "dst"


@dataclass(frozen=True, slots=True)
class Grant(Located):
    """An entry of ``grants``: ``ip`` port specs and/or ``app`` capabilities, optional ``via``."""

    index: int
    src: tuple[Ref, ...]
    dst: tuple[Ref, ...]
    ip: tuple[Ref, ...]
    app: Mapping[str, tuple[Any, ...]]
    via: tuple[Ref, ...]
    loc: Loc = field(compare=False, repr=False)
    has_ip: bool = False
    has_app: bool = False


@dataclass(frozen=True, slots=True)
class SshRule(Located):
    """An entry of ``ssh``."""

    index: int
    action: str
    src: tuple[Ref, ...]
    dst: tuple[Ref, ...]
    users: tuple[Ref, ...]
    check_period: str | None
    accept_env: tuple[Ref, ...]
    loc: Loc = field(compare=False, repr=False)
    raw: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class NodeAttr(Located):
    """An entry of ``nodeAttrs``."""

    index: int
    target: tuple[Ref, ...]
    attr: tuple[Any, ...]
    ip_pool: tuple[Ref, ...]
    app: Mapping[str, Any]
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PolicyTest(Located):
    """An entry of ``tests``: one ``src`` and ``host:port`` expectations."""

    index: int
    src: Ref | None
    proto: Ref | None
    accept: tuple[Ref, ...]
    deny: tuple[Ref, ...]
    loc: Loc = field(compare=False, repr=False)
    raw: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class SshTest(Located):
    """An entry of ``sshTests``: logins expected to be accepted, checked or denied."""

    index: int
    src: Ref | None
    dst: tuple[Ref, ...]
    accept: tuple[Ref, ...]
    check: tuple[Ref, ...]
    deny: tuple[Ref, ...]
    loc: Loc = field(compare=False, repr=False)
    raw: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class NamedList(Located):
    """A named entry of ``groups``/``tagOwners``/``ipsets``/``postures``: its members."""

    name: str
    members: tuple[Ref, ...]
    loc: Loc = field(compare=False, repr=False)
    key_loc: Loc = field(compare=False, repr=False)

    @property
    def key_span(self) -> Span:
        return self.key_loc.span


@dataclass(frozen=True, slots=True)
class Host:
    """An entry of ``hosts``: a name for one IP or CIDR."""

    name: str
    value: Ref
    key_loc: Loc = field(compare=False, repr=False)

    @property
    def key_span(self) -> Span:
        return self.key_loc.span


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
