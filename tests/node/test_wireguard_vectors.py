"""A deterministic handshake, byte for byte: fixed static and ephemeral keys, timestamp, indices.

The golden file pins the exact bytes of an initiation, a response and a transport message
(wireguard-go accepted this construction in the interop test; the vector keeps it from
drifting). ``TAILCFG_UPDATE_GOLDEN=1`` rewrites it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tailcfg.node import noise, packets
from tailcfg.node.crypto import tai64n
from tailcfg.node.session import Keypair

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "wireguard" / "handshake.json"
UPDATE = os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1"


def _key(fill: int) -> bytes:
    raw = bytearray([fill] * 32)
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    return bytes(raw)


def vector() -> dict[str, str]:
    initiator = noise.Identity.from_private(_key(0x11))
    responder = noise.Identity.from_private(_key(0x22))
    body, state = noise.create_initiation(
        initiator, responder.public, 0x01020304, tai64n(1_700_000_000.25),
        ephemeral_private=_key(0x33),
    )  # fmt: skip
    initiation = noise.add_macs(body, responder.mac1_key, None)
    consumed = noise.consume_initiation(responder, initiation, {initiator.public}.__contains__)
    body, responder_keys = noise.create_response(consumed, 0x05060708, ephemeral_private=_key(0x44))
    response = noise.add_macs(body, initiator.mac1_key, None)
    initiator_keys = noise.consume_response(initiator, state, response)
    ping = packets.icmp_echo("100.64.0.1", "100.64.0.2", 1, 1, b"tailcfg")
    transport = Keypair(initiator_keys, 0.0).seal(ping)
    assert Keypair(responder_keys, 0.0).open(0, transport[16:])[: len(ping)] == ping
    return {
        "initiator_public": initiator.public.hex(),
        "responder_public": responder.public.hex(),
        "initiation": initiation.hex(),
        "response": response.hex(),
        "initiator_send_key": initiator_keys.send.hex(),
        "initiator_receive_key": initiator_keys.receive.hex(),
        "transport": transport.hex(),
    }


def test_handshake_vector() -> None:
    got = vector()
    if UPDATE:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2) + "\n", encoding="utf-8")
    assert got == json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert (len(bytes.fromhex(got["initiation"])), len(bytes.fromhex(got["response"]))) == (
        noise.INITIATION_SIZE,
        noise.RESPONSE_SIZE,
    )
