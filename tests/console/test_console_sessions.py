"""Console sessions: random ids, expiry, the bound on the table, admin-only keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from tailcfg.control import auth
from tailcfg.control.bootstrap import DB_FILE, read_admin_key
from tailcfg.control.console.sessions import Session, Sessions, admin_for_key
from tailcfg.control.model import ControlRequestError
from tailcfg.control.store import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_session_lifecycle() -> None:
    table = Sessions(lifetime=timedelta(hours=1))
    sid = table.create("odin@example.com", now=T0)
    assert len(sid) == 43
    assert table.get(sid, now=T0) == Session("odin@example.com", T0 + timedelta(hours=1))
    assert table.get(sid + "x", now=T0) is None
    assert table.get(None, now=T0) is None
    assert table.get(sid, now=T0 + timedelta(hours=1)) is None  # expired, and forgotten
    assert len(table) == 0
    other = table.create("odin@example.com", now=T0)
    table.drop(other)
    assert table.get(other, now=T0) is None


def test_table_is_bounded_oldest_first() -> None:
    table = Sessions(lifetime=timedelta(hours=1), limit=3)
    ids = [table.create(f"u{i}@example.com", now=T0 + timedelta(minutes=i)) for i in range(5)]
    assert len(table) == 3
    now = T0 + timedelta(minutes=5)
    assert [table.get(s, now=now) is not None for s in ids] == [False, False, True, True, True]


def test_only_admin_keys_log_in(state_dir: Path) -> None:
    admin_key = read_admin_key(state_dir)
    with Store(state_dir / DB_FILE) as store:
        assert admin_for_key(store, admin_key).login == "odin@example.com"
        member = store.ensure_user("freya@example.com", now=T0)
        key_id, secret, full = auth.new_key(auth.API_PREFIX)
        store.add_api_key(key_id, auth.hash_secret(secret), user_id=member.id, now=T0)
        for text in (full, "tskey-auth-kX-y", admin_key + "0"):
            with pytest.raises(ControlRequestError) as err:
                admin_for_key(store, text)
            assert (err.value.status, str(err.value)) == (401, "invalid admin key")


def test_templates_are_package_data() -> None:
    folder = resources.files("tailcfg.control.console") / "templates"
    assert sorted(p.name for p in folder.iterdir()) == [
        "base.html",
        "devices.html",
        "graph.html",
        "keys.html",
        "login.html",
        "policy.html",
        "unauthorized.html",
    ]
