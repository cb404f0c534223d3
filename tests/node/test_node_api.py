"""The data plane's public names: ``tailcfg.node.__all__`` is sorted and complete."""

from __future__ import annotations

import tailcfg.node


def test_node_all_is_sorted_and_importable() -> None:
    assert list(tailcfg.node.__all__) == sorted(tailcfg.node.__all__)
    assert all(hasattr(tailcfg.node, name) for name in tailcfg.node.__all__)
    assert set(tailcfg.node.__all__) >= {"Device", "PeerConfig", "ProbeResult", "PacketFilter"}
