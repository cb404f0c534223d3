"""tailcfg.peers.headscale against the real headscale binary: start, CLI, API key, stop."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from tailcfg.errors import PeerError
from tailcfg.peers import headscale
from tailcfg.peers.binaries import HEADSCALE_VERSION, locate, module_versions
from tailcfg.peers.headscale import HeadscaleServer


def test_binary_is_the_pinned_version(headscale_binary: Path) -> None:
    versions = module_versions(headscale_binary)
    assert versions["github.com/juanfont/headscale"] == HEADSCALE_VERSION == "v0.29.2"


def test_start_user_api_key_stop(headscale_binary: Path, tmp_path: Path) -> None:
    with HeadscaleServer.start(tmp_path / "hs", binary=headscale_binary) as hs:
        assert hs.running
        assert hs.url == f"http://127.0.0.1:{hs.ports.http}"
        assert hs.config_path == (tmp_path / "hs" / "config.yaml").resolve()
        assert hs.api_key not in repr(hs)
        odin = hs.create_user("odin", email="odin@example.com", display_name="Odin")
        thor = hs.create_user("thor")
        assert (odin, thor) == (1, 2)
        headers = {"Authorization": f"Bearer {hs.api_key}"}
        answer = httpx.get(f"{hs.url}/api/v1/user", headers=headers, timeout=5).json()
        assert [(u["id"], u["name"], u["email"], u["displayName"]) for u in answer["users"]] == [
            ("1", "odin", "odin@example.com", "Odin"),
            ("2", "thor", "", ""),
        ]
        second = hs.create_api_key()
        assert second != hs.api_key
        headers = {"Authorization": f"Bearer {second}"}
        assert httpx.get(f"{hs.url}/api/v1/user", headers=headers, timeout=5).status_code == 200
        refused = httpx.get(f"{hs.url}/api/v1/user", headers={"Authorization": "Bearer x"})
        assert refused.status_code == 401
        pid = hs.process.pid
    assert not hs.running
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone
    assert (tmp_path / "hs" / "db.sqlite").is_file()
    assert (tmp_path / "hs" / "noise_private.key").is_file()


def test_cli_error_is_one_line(headscale_server: HeadscaleServer) -> None:
    headscale_server.create_user("dupe")
    with pytest.raises(PeerError) as info:
        headscale_server.create_user("dupe")
    message = str(info.value)
    assert message.startswith("headscale users create dupe: ")
    assert "\n" not in message


def test_port_taken(headscale_binary: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PeerError) as info:
            HeadscaleServer.start(tmp_path / "hs", binary=headscale_binary, port=port)
    assert str(info.value) == f"headscale: port 127.0.0.1:{port} is taken"


def test_a_picked_port_taken_meanwhile_is_picked_again(
    headscale_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metrics port, free when picked, is taken before headscale binds it: a retry."""
    real_free_port = headscale.free_port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([real_free_port(), real_free_port(), taken])  # http, grpc, metrics
        monkeypatch.setattr(
            headscale, "free_port", lambda host="": next(picks, None) or real_free_port()
        )
        with HeadscaleServer.start(tmp_path / "hs", binary=headscale_binary) as hs:
            assert hs.running and taken != hs.ports.metrics
    log = (tmp_path / "hs" / "headscale.log").read_text()
    assert f"127.0.0.1:{taken}: bind: address already in use" in log  # the first attempt


def test_refused_config_names_headscale_reason(headscale_binary: Path, tmp_path: Path) -> None:
    with pytest.raises(PeerError) as info:
        HeadscaleServer.start(tmp_path / "hs", binary=headscale_binary, derp_map="regions: [")
    message = str(info.value)
    assert message.startswith("headscale exited (1): ")
    assert "\n" not in message


def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(PeerError) as info:
        HeadscaleServer.start(tmp_path / "hs", binary=tmp_path / "nope")
    assert str(info.value) == f"headscale not found at {tmp_path / 'nope'}: run scripts/build-peers"
    with pytest.raises(PeerError) as located:
        locate("headscale", tmp_path)
    assert str(located.value) == (
        f"headscale not found at {tmp_path / 'bin' / 'headscale'}:"
        " run scripts/build-peers (or make peers)"
    )


def test_wrong_version(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "headscale"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho v0.0.1\n")
    fake.chmod(0o755)
    with pytest.raises(PeerError) as info:
        locate("headscale", tmp_path)
    assert str(info.value) == (
        f"{fake} is not built from github.com/juanfont/headscale, tailcfg needs v0.29.2:"
        " run scripts/build-peers (or make peers)"
    )
