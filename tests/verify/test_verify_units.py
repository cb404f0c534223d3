"""The pure parts of verify: SSH policy decisions, identities, owners of addresses, route
approval, and assertions that cannot be probed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tailcfg.inventory import Host
from tailcfg.keys.backends import KeyRequest
from tailcfg.node.agent import NodeAgent
from tailcfg.policy.evaluate.verdicts import Outcome, TestResult
from tailcfg.source import Span
from tailcfg.verify import NOT_PROBED, Row
from tailcfg.verify.bootstrap import HostKey
from tailcfg.verify.identity import Member, Names, auto_approved, matches, owner_of, split_dst
from tailcfg.verify.probes import Mesh, run_row
from tailcfg.verify.run import _joined_as_declared
from tailcfg.verify.ssh import local_user, ssh_decision

LAPTOP = Member("laptop", (), "odin@example.com", ("100.64.0.1", "fd7a:115c:a1e0::1"))
DAO = Member("dao", ("tag:server",), None, ("100.64.0.2", "fd7a:115c:a1e0::2"))
GATEWAY = Member("gateway", ("tag:router",), None, ("100.64.0.3",), ("192.168.1.0/24",))
EXIT = Member("exit", ("tag:exit",), None, ("100.64.0.4",), ("0.0.0.0/0", "::/0"))
NAMES = Names(
    groups={"group:ops": ["odin@example.com", "freya@example.com"]},
    hosts={"nas": "192.168.1.10", "lan": "192.168.1.0/24", "dao-ip": "100.64.0.2"},
)
ACCEPT = {"accept": True}
CHECK = {"holdAndDelegate": "https://unused/machine/ssh/action/1/to/2"}


def rule(action: dict[str, Any], users: dict[str, str], *principals: dict[str, Any]) -> Any:
    return {"principals": list(principals), "sshUsers": users, "action": action}


POLICY = {
    "rules": [
        rule(ACCEPT, {"*": "=", "root": ""}, {"nodeIP": "100.64.0.1"}),
        rule({"reject": True}, {"*": "="}, {"nodeIP": "100.64.0.9"}),
        rule(CHECK, {"root": "root"}, {"any": True}),
    ]
}


@pytest.mark.parametrize(
    ("addresses", "login", "decision"),
    [
        (("100.64.0.1",), "odin", "accept"),
        (("100.64.0.1",), "root", "check"),  # refused by rule 0's users, rule 2 matches
        (("100.64.0.9",), "odin", "deny"),  # reject action
        (("100.64.0.7",), "root", "check"),  # any principal
        (("100.64.0.7",), "odin", "deny"),  # no rule maps odin
        ((), "odin", "deny"),
    ],
)
def test_ssh_decision(addresses: tuple[str, ...], login: str, decision: str) -> None:
    assert ssh_decision(POLICY, addresses, login) == decision


@pytest.mark.parametrize(
    ("users", "login", "local"),
    [
        ({"*": "="}, "odin", "odin"),
        ({"*": "=", "root": ""}, "root", ""),
        ({"root": "root"}, "odin", ""),
        ({"odin": "ubuntu"}, "odin", "ubuntu"),
    ],
)
def test_local_user(users: dict[str, str], login: str, local: str) -> None:
    assert local_user(users, login) == local


@pytest.mark.parametrize(
    ("alias", "who"),
    [
        ("*", ["laptop", "dao", "gateway"]),
        ("autogroup:member", ["laptop"]),
        ("autogroup:tagged", ["dao", "gateway"]),
        ("tag:server", ["dao"]),
        ("group:ops", ["laptop"]),
        ("odin@example.com", ["laptop"]),
        ("freya@example.com", []),
        ("dao-ip", ["dao"]),
        ("100.64.0.3", ["gateway"]),
        ("lan", []),  # a network is not one device
    ],
)
def test_matches(alias: str, who: list[str]) -> None:
    assert [m.name for m in (LAPTOP, DAO, GATEWAY) if matches(alias, m, NAMES)] == who


@pytest.mark.parametrize(
    ("dst", "split"),
    [
        ("tag:server:22", ("tag:server", 22)),
        ("[fd7a::1]:80", ("fd7a::1", 80)),
        ("nas:445", ("nas", 445)),
    ],
)
def test_split_dst(dst: str, split: tuple[str, int]) -> None:
    assert split_dst(dst) == split


@pytest.mark.parametrize(
    ("address", "owner"),
    [
        ("100.64.0.2", "dao"),  # the device holding it
        ("192.168.1.10", "gateway"),  # the longest approved route
        ("8.8.8.8", "exit"),  # only the exit node's default route holds it
        ("fd7a:115c:a1e0::2", "dao"),
        ("2001:db8::1", "exit"),
    ],
)
def test_owner_of(address: str, owner: str) -> None:
    found = owner_of(address, (LAPTOP, DAO, GATEWAY, EXIT))
    assert found is not None and found.name == owner


def test_owner_of_nothing() -> None:
    assert owner_of("10.0.0.1", (LAPTOP, DAO, GATEWAY)) is None


APPROVERS = {"routes": {"192.168.0.0/16": ["tag:router"]}, "exitNode": ["tag:exit"]}


@pytest.mark.parametrize(
    ("route", "member", "approved"),
    [
        ("192.168.1.0/24", GATEWAY, True),
        ("192.168.1.0/24", DAO, False),
        ("10.0.0.0/8", GATEWAY, False),
        ("0.0.0.0/0", EXIT, True),
        ("::/0", GATEWAY, False),
    ],
)
def test_auto_approved(route: str, member: Member, approved: bool) -> None:
    assert auto_approved(APPROVERS, route, member, NAMES) is approved


def result(src: str, dst: str) -> TestResult:
    span = Span("policy.hujson", 3, 5, 3, 20)
    return TestResult(
        "tests", 0, span, src, dst, None, None, Outcome.ACCEPT, Outcome.ACCEPT, True, ""
    )


def row(src: str, dst: str, declared: tuple[Member, ...] = ()) -> Row:
    mesh = Mesh({}, (LAPTOP,), declared, {"dao": "did not join: x"}, NAMES)
    return asyncio.run(run_row(result(src, dst), mesh))


def test_source_without_device_is_not_probed() -> None:
    got = row("tag:ci", "tag:server:22")
    assert (got.observed, got.status, got.reason, got.location) == (
        "-",
        NOT_PROBED,
        "no device in the inventory has identity tag:ci",
        "policy.hujson:3:5",
    )


def test_source_promised_by_the_inventory_is_a_mismatch() -> None:
    got = row("tag:server", "tag:router:22", declared=(DAO,))
    assert (got.observed, got.status, got.reason) == (
        "none",
        "mismatch",
        "no device has identity tag:server: inventory host dao should have it (did not join: x)",
    )


def test_destination_held_only_by_the_source_is_not_probed() -> None:
    got = row("odin@example.com", "100.64.0.1:22")
    assert (got.status, got.reason) == (
        NOT_PROBED,
        "no device other than the source holds 100.64.0.1",
    )


def joined(tags: tuple[str, ...], user: str | None, minted: tuple[str, ...], host: Host) -> Any:
    node = NodeAgent("http://127.0.0.1:9", auth_key_file=Path("unused"), state_dir=Path("unused"))
    node.identity = {"Tags": list(tags), "User": user}
    key = HostKey(host.name, Path("unused"), KeyRequest(tags=minted))
    return _joined_as_declared(node, host, key)


DAO_HOST = Host("dao", "ssh-ed25519 AAAA", tags=("tag:server",))
LAPTOP_HOST = Host("laptop", "ssh-ed25519 AAAA", user="freya@example.com")


@pytest.mark.parametrize(
    ("tags", "user", "minted", "host", "verdict"),
    [
        (("tag:server",), None, ("tag:server",), DAO_HOST, (True, "joined")),
        ((), "odin@example.com", (), DAO_HOST,
         (False, "it registered with tags []: its auth key was minted with tags []")),
        ((), "odin@example.com", ("tag:server",), DAO_HOST,
         (False, "it registered with tags []")),
        ((), "freya@example.com", (), LAPTOP_HOST, (True, "joined")),
        ((), "odin@example.com", (), LAPTOP_HOST,
         (False, "it registered as odin@example.com's device, not freya@example.com's: the "
                 "embedded control plane mints every key as its admin")),
    ],
)  # fmt: skip
def test_joined_as_declared(
    tags: tuple[str, ...], user: str | None, minted: tuple[str, ...], host: Host, verdict: Any
) -> None:
    assert joined(tags, user, minted, host) == verdict
