"""store.py: migrations, atomic single-use claims, device records."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tailcfg.control.addresses import address_candidates, name_candidates
from tailcfg.control.model import AuthKey, ControlRequestError, utcnow
from tailcfg.control.store import MIGRATIONS, Registration, Store


def _key(key_id: str, user_id: int, **kw: object) -> AuthKey:
    base: dict[str, object] = {
        "id": key_id,
        "user_id": user_id,
        "description": "",
        "tags": (),
        "reusable": False,
        "ephemeral": False,
        "preauthorized": True,
        "created": utcnow(),
        "expires": utcnow() + timedelta(days=1),
        "used": False,
        "revoked": None,
    }
    base.update(kw)
    return AuthKey(**base)  # type: ignore[arg-type]


def _reg(machine: str, node: str, user_id: int, key_id: str | None) -> Registration:
    return Registration(
        machine_key=machine,
        node_key=node,
        key_expiry=None,
        hostname="box",
        tags=(),
        user_id=user_id,
        auth_key_id=key_id,
        authorized=True,
        routable_ips=(),
        endpoints=(),
        ephemeral=False,
    )


def _register(store: Store, machine: str, node: str, user_id: int, key_id: str | None) -> int:
    device = store.register(
        _reg(machine, node, user_id, key_id),
        now=utcnow(),
        addresses=lambda: address_candidates(machine),
        names=lambda: name_candidates("box"),
    )
    return device.id


def test_migrations_recorded_and_pragmas(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store._read("PRAGMA journal_mode")[0][0] == "wal"
        assert store._read("PRAGMA foreign_keys")[0][0] == 1
    with Store(tmp_path / "c.db") as again:  # reopening applies nothing twice
        assert again.schema_version == len(MIGRATIONS)


def test_single_use_key_has_exactly_one_winner_across_threads(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store:
        user = store.ensure_user("odin@example.com", now=utcnow())
        store.add_auth_key(_key("k1", user.id), "hash")
        winners: list[int] = []
        errors: list[str] = []
        barrier = threading.Barrier(50)

        def attempt(i: int) -> None:
            barrier.wait()
            try:
                winners.append(_register(store, f"mkey:{i}", f"nodekey:{i}", user.id, "k1"))
            except ControlRequestError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1
        assert errors == ["auth key already used"] * 49
        assert [d.id for d in store.devices()] == winners


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"revoked": utcnow()}, "auth key has been revoked"),
        ({"expires": utcnow() - timedelta(seconds=1)}, "auth key expired"),
        ({"used": True}, "auth key already used"),
    ],
)
def test_refused_keys_say_why(tmp_path: Path, changes: dict[str, object], reason: str) -> None:
    with Store(tmp_path / "c.db") as store:
        user = store.ensure_user("odin@example.com", now=utcnow())
        store.add_auth_key(_key("k1", user.id, **changes), "hash")
        with pytest.raises(ControlRequestError) as info:
            _register(store, "mkey:a", "nodekey:a", user.id, "k1")
        assert (str(info.value), info.value.status) == (reason, 401)
        assert store.devices() == []


def test_reregistration_keeps_address_and_name(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store:
        user = store.ensure_user("odin@example.com", now=utcnow())
        store.add_auth_key(_key("k1", user.id, reusable=True), "hash")
        first = _register(store, "mkey:a", "nodekey:a", user.id, "k1")
        second = _register(store, "mkey:b", "nodekey:b", user.id, "k1")
        before = store.device(first)
        again = _register(store, "mkey:a", "nodekey:a2", user.id, "k1")
        after = store.device(again)
        assert before is not None and after is not None
        assert again == first
        assert (after.ipv4, after.ipv6, after.given_name) == (
            before.ipv4,
            before.ipv6,
            before.given_name,
        )
        assert after.node_key == "nodekey:a2"
        other = store.device(second)
        assert other is not None and other.given_name == "box-1"


def test_put_policy_if_match(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store:
        store.put_policy("{}", "e1", now=utcnow())
        with pytest.raises(ControlRequestError) as info:
            store.put_policy("{ }", "e2", now=utcnow(), if_match="other")
        assert info.value.status == 412
        store.put_policy("{ }", "e2", now=utcnow(), if_match="e1")
        stored = store.policy()
        assert stored is not None and (stored.text, stored.etag) == ("{ }", "e2")


def test_repeated_registration_with_the_same_single_use_key_is_answered_again(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "c.db") as store:
        user = store.ensure_user("odin@example.com", now=utcnow())
        store.add_auth_key(_key("k1", user.id), "hash")
        first = _register(store, "mkey:a", "nodekey:a", user.id, "k1")
        assert _register(store, "mkey:a", "nodekey:a", user.id, "k1") == first  # lost answer
        with pytest.raises(ControlRequestError) as info:  # a new node key is a new use
            _register(store, "mkey:a", "nodekey:b", user.id, "k1")
        assert str(info.value) == "auth key already used"
