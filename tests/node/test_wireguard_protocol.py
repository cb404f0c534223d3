"""The WireGuard engine without sockets: handshake, transport, replay, cookies, timers."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcfg.node import noise, packets
from tailcfg.node.crypto import (
    InvalidKeyError,
    generate_private_key,
    hash_,
    hmac_,
    kdf,
    parse_key,
    public_key,
    tai64n,
)
from tailcfg.node.session import (
    KEEPALIVE_TIMEOUT,
    REJECT_AFTER_TIME,
    REKEY_AFTER_MESSAGES,
    REKEY_AFTER_TIME,
    REKEY_ATTEMPT_TIME,
    REKEY_TIMEOUT,
)
from tailcfg.node.wireguard import Received, WireGuard

A_ADDR, B_ADDR = ("127.0.0.1", 1001), ("127.0.0.1", 1002)
PING = packets.icmp_echo("100.64.0.1", "100.64.0.2", 7, 1, b"hello")
PONG = packets.icmp_echo("100.64.0.2", "100.64.0.1", 7, 1, b"hello", reply=True)
DATA = 16 + 48 + 16  # transport header + the 33-byte ping padded to 48 + tag


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pair(clock: Clock) -> tuple[WireGuard, WireGuard]:
    wall = Clock(1_700_000_000.0)
    a = WireGuard(generate_private_key(), clock=clock, wall_clock=lambda: wall.now + clock.now)
    b = WireGuard(generate_private_key(), clock=clock, wall_clock=lambda: wall.now + clock.now)
    a.add_peer(b.public_key)
    b.add_peer(a.public_key)
    return a, b


def handshake(a: WireGuard, b: WireGuard, packet: bytes = PING) -> Received:
    """a sends ``packet`` to b: initiation, response (+ the queued packet); b's result."""
    (init,) = a.send(b.public_key, packet)
    response = b.receive(init, A_ADDR)
    assert (response.event, len(response.replies)) == ("initiation", 1)
    done = a.receive(response.replies[0], B_ADDR)
    assert done.event == "response"
    (data,) = done.replies
    return b.receive(data, A_ADDR)


def test_noise_constants_match_the_whitepaper() -> None:
    assert hash_(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s") == noise.INITIAL_CHAIN_KEY
    assert (
        hash_(noise.INITIAL_CHAIN_KEY, b"WireGuard v1 zx2c4 Jason@zx2c4.com") == noise.INITIAL_HASH
    )
    # KDF1 is HMAC(HMAC(key, input), 0x1); KDF2's second output chains the first.
    t0 = hmac_(b"k" * 32, b"input")
    assert kdf(b"k" * 32, b"input", 2) == (
        hmac_(t0, b"\x01"),
        hmac_(t0, hmac_(t0, b"\x01") + b"\x02"),
    )


def test_tai64n_is_big_endian_seconds_from_2_pow_62_plus_10_then_nanoseconds() -> None:
    assert tai64n(1.5) == struct.pack(">QI", (1 << 62) + 10 + 1, 500_000_000)


def test_handshake_then_transport_both_ways(pair: tuple[WireGuard, WireGuard]) -> None:
    a, b = pair
    got = handshake(a, b)
    assert (got.event, got.peer, got.packet) == ("data", a.public_key, PING)
    (reply,) = b.send(a.public_key, PONG)
    assert len(reply) == 16 + len(PONG) + (-len(PONG) % 16) + 16  # header + padded + tag
    back = a.receive(reply, B_ADDR)
    assert (back.event, back.peer, back.packet) == ("data", b.public_key, PONG)
    assert (a.handshakes, b.handshakes) == (1, 1)
    sa, sb = a.session(b.public_key), b.session(a.public_key)
    assert sa is not None and sb is not None and sa.current and sb.current
    assert (sa.current.send_key, sa.current.receive_key) == (
        sb.current.receive_key,
        sb.current.send_key,
    )


def test_initiator_sends_a_keepalive_when_nothing_is_queued(
    pair: tuple[WireGuard, WireGuard],
) -> None:
    a, b = pair
    init = a.initiate(b.public_key)
    assert init is not None and len(init) == noise.INITIATION_SIZE
    response = b.receive(init, A_ADDR).replies[0]
    assert len(response) == noise.RESPONSE_SIZE
    (keepalive,) = a.receive(response, B_ADDR).replies
    assert len(keepalive) == noise.TRANSPORT_MIN_SIZE
    got = b.receive(keepalive, A_ADDR)
    assert (got.event, got.packet) == ("keepalive", None)
    sb = b.session(a.public_key)
    assert sb is not None and sb.current is not None and sb.next is None  # promoted


def test_a_replayed_transport_message_is_dropped(pair: tuple[WireGuard, WireGuard]) -> None:
    a, b = pair
    handshake(a, b)
    first, second = a.send(b.public_key, PING)[0], a.send(b.public_key, PING)[0]
    assert b.receive(second, A_ADDR).event == "data"
    assert b.receive(first, A_ADDR).event == "data"  # late but inside the window
    assert (b.receive(first, A_ADDR).event, b.receive(first, A_ADDR).reason) == (
        "dropped",
        "replay",
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: m[:-40] + bytes([m[-40] ^ 1]) + m[-39:], "mac1"),  # flip a mac1 bit
        (lambda m: m[:50] + bytes([m[50] ^ 1]) + m[51:], "mac1"),  # body changed: mac1 fails
        (lambda m: m[:100], "malformed"),
    ],
)
def test_tampered_initiations_are_dropped(
    pair: tuple[WireGuard, WireGuard], mutate: object, reason: str
) -> None:
    a, b = pair
    init = a.initiate(b.public_key)
    assert init is not None and callable(mutate)
    got = b.receive(mutate(init), A_ADDR)
    assert (got.event, got.reason) == ("dropped", reason)


def test_initiation_from_an_unknown_key_is_dropped(clock: Clock) -> None:
    stranger, b = WireGuard(generate_private_key(), clock=clock), WireGuard(generate_private_key())
    stranger.add_peer(b.public_key)
    init = stranger.initiate(b.public_key)
    assert init is not None
    got = b.receive(init, A_ADDR)
    assert (got.event, got.reason) == ("dropped", "auth: initiation from an unknown peer")


def test_a_replayed_initiation_is_dropped(pair: tuple[WireGuard, WireGuard], clock: Clock) -> None:
    a, b = pair
    init = a.initiate(b.public_key)
    assert init is not None
    assert b.receive(init, A_ADDR).event == "initiation"
    clock.now += 1
    assert b.receive(init, A_ADDR).reason == "handshake-replay"


def test_transport_with_a_forged_tag_is_dropped(pair: tuple[WireGuard, WireGuard]) -> None:
    a, b = pair
    handshake(a, b)
    (data,) = a.send(b.public_key, PING)
    forged = data[:-1] + bytes([data[-1] ^ 0x80])
    assert b.receive(forged, A_ADDR).reason == "auth: AEAD tag mismatch"
    assert b.receive(data, A_ADDR).event == "data"  # the forgery did not burn the counter


def test_under_load_a_cookie_reply_is_required_then_mac2_admits(
    pair: tuple[WireGuard, WireGuard], clock: Clock
) -> None:
    a, b = pair
    b.under_load = True
    init = a.initiate(b.public_key)
    assert init is not None and init[-16:] == bytes(16)
    cookie_reply = b.receive(init, A_ADDR)
    assert cookie_reply.event == "cookie-sent"
    (reply,) = cookie_reply.replies
    assert len(reply) == noise.COOKIE_REPLY_SIZE
    assert a.receive(reply, B_ADDR).event == "cookie"
    clock.now += REKEY_TIMEOUT
    (retry,) = [d for _, d in a.tick()]
    assert retry[-16:] != bytes(16)  # mac2 now carries the cookie
    assert b.receive(retry, A_ADDR).event == "initiation"
    assert b.receive(retry, ("127.0.0.9", 1001)).event == "cookie-sent"  # cookie is per address


def test_rekey_after_time_on_send(pair: tuple[WireGuard, WireGuard], clock: Clock) -> None:
    a, b = pair
    handshake(a, b)
    clock.now += REKEY_AFTER_TIME - 1
    assert [len(d) for d in a.send(b.public_key, PING)] == [DATA]
    clock.now += 1
    data, init = a.send(b.public_key, PING)
    assert (len(data), len(init)) == (DATA, noise.INITIATION_SIZE)  # still sends on the old key
    assert b.receive(data, A_ADDR).event == "data"
    response = b.receive(init, A_ADDR).replies[0]
    assert a.receive(response, B_ADDR).event == "response"
    assert a.handshakes == 2


def test_responder_does_not_rekey_on_time(pair: tuple[WireGuard, WireGuard], clock: Clock) -> None:
    a, b = pair
    handshake(a, b)
    clock.now += REKEY_AFTER_TIME + 1
    assert [len(d) for d in b.send(a.public_key, PONG)] == [DATA]


def test_rekey_after_messages(pair: tuple[WireGuard, WireGuard], clock: Clock) -> None:
    a, b = pair
    handshake(a, b)
    clock.now += REKEY_TIMEOUT  # initiations are at most one per REKEY_TIMEOUT
    session = a.session(b.public_key)
    assert session is not None and session.current is not None
    session.current.send_counter = REKEY_AFTER_MESSAGES
    assert [len(d) for d in a.send(b.public_key, PING)] == [DATA, noise.INITIATION_SIZE]


def test_reject_after_time_queues_and_rehandshakes(
    pair: tuple[WireGuard, WireGuard], clock: Clock
) -> None:
    a, b = pair
    handshake(a, b)
    (old,) = a.send(b.public_key, PING)
    clock.now += REJECT_AFTER_TIME
    assert b.receive(old, A_ADDR).reason == "expired"
    (init,) = a.send(b.public_key, PING)  # nothing goes out on the dead key
    assert len(init) == noise.INITIATION_SIZE
    response = b.receive(init, A_ADDR).replies[0]
    (queued,) = a.receive(response, B_ADDR).replies
    assert b.receive(queued, A_ADDR).packet == PING


def test_handshake_retry_and_give_up(pair: tuple[WireGuard, WireGuard], clock: Clock) -> None:
    a, b = pair
    a.send(b.public_key, PING)
    clock.now += REKEY_TIMEOUT - 0.1
    assert a.tick() == []
    clock.now += 0.1
    assert [len(d) for _, d in a.tick()] == [noise.INITIATION_SIZE]
    while clock.now < 1000.0 + REKEY_ATTEMPT_TIME:
        clock.now += REKEY_TIMEOUT
        a.tick()
    session = a.session(b.public_key)
    assert session is not None
    assert (session.handshake, session.retry_due, len(session.queue)) == (None, None, 0)
    clock.now += REKEY_TIMEOUT
    assert a.tick() == []


def test_passive_keepalive_after_receiving_data(
    pair: tuple[WireGuard, WireGuard], clock: Clock
) -> None:
    a, b = pair
    handshake(a, b)  # b received data and has sent nothing since
    clock.now += KEEPALIVE_TIMEOUT
    ((peer, keepalive),) = b.tick()
    assert (peer, len(keepalive)) == (a.public_key, noise.TRANSPORT_MIN_SIZE)
    assert a.receive(keepalive, B_ADDR).event == "keepalive"


def test_new_handshake_when_data_sent_gets_no_answer(
    pair: tuple[WireGuard, WireGuard], clock: Clock
) -> None:
    a, b = pair
    handshake(a, b)
    a.send(b.public_key, PING)
    clock.now += KEEPALIVE_TIMEOUT + REKEY_TIMEOUT
    assert [len(d) for _, d in a.tick()] == [noise.INITIATION_SIZE]


def test_keys_are_zeroed_after_three_reject_times(
    pair: tuple[WireGuard, WireGuard], clock: Clock
) -> None:
    a, b = pair
    handshake(a, b)
    clock.now += 3 * REJECT_AFTER_TIME
    a.tick()
    session = a.session(b.public_key)
    assert session is not None and session.keypairs() == []


def test_simultaneous_initiations_converge(pair: tuple[WireGuard, WireGuard]) -> None:
    a, b = pair
    (init_a,) = a.send(b.public_key, PING)
    (init_b,) = b.send(a.public_key, PONG)
    (resp_b,) = b.receive(init_a, A_ADDR).replies
    (resp_a,) = a.receive(init_b, B_ADDR).replies
    (ping,) = a.receive(resp_b, B_ADDR).replies
    (pong,) = b.receive(resp_a, A_ADDR).replies
    assert b.receive(ping, A_ADDR).packet == PING
    assert a.receive(pong, B_ADDR).packet == PONG


KEY = bytes(range(32))


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(KEY).decode(),
        KEY.hex(),
        KEY.hex().upper(),
        "nodekey:" + KEY.hex(),
        f"  {base64.b64encode(KEY).decode()}\n",
    ],
)
def test_parse_key_accepts_base64_and_hex(text: str) -> None:
    assert parse_key(text) == KEY


@pytest.mark.parametrize("text", ["", "abc", KEY.hex()[:-2], "z" * 64, "A" * 43 + "!"])
def test_parse_key_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidKeyError):
        parse_key(text)


def test_public_key_matches_x25519_base_point_multiplication() -> None:
    # RFC 7748 §6.1 (Alice's key pair).
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    assert public_key(alice).hex() == (
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )


@settings(max_examples=200, deadline=None)
@given(
    kind=st.integers(0, 5),
    size=st.sampled_from([0, 4, 31, 32, 64, 92, 148, 200]),
    seed=st.binary(min_size=200, max_size=200),
)
def test_arbitrary_datagrams_are_dropped_never_raised(kind: int, size: int, seed: bytes) -> None:
    b = WireGuard(generate_private_key())
    b.add_peer(public_key(generate_private_key()))
    datagram = (bytes([kind, 0, 0, 0]) + seed)[:size]
    assert b.receive(datagram, A_ADDR).event == "dropped"


@settings(max_examples=100, deadline=None)
@given(position=st.integers(0, 10_000), bit=st.integers(0, 7), which=st.integers(0, 2))
def test_any_flipped_bit_is_dropped(position: int, bit: int, which: int) -> None:
    a, b = WireGuard(generate_private_key()), WireGuard(generate_private_key())
    a.add_peer(b.public_key)
    b.add_peer(a.public_key)
    (init,) = a.send(b.public_key, PING)
    (response,) = b.receive(init, A_ADDR).replies
    (data,) = a.receive(response, B_ADDR).replies
    message, receiver = [(init, b), (response, a), (data, b)][which]
    if which == 1:  # a consumed the response already; build a fresh one for a new handshake
        a2 = WireGuard(generate_private_key())
        a2.add_peer(b.public_key)
        b.add_peer(a2.public_key)
        init2 = a2.initiate(b.public_key)
        assert init2 is not None
        (message,) = b.receive(init2, A_ADDR).replies
        receiver = a2
    # mac2 (the last 16 bytes of a handshake message) is only checked under load.
    i = position % (len(message) - (16 if which < 2 else 0))
    flipped = message[:i] + bytes([message[i] ^ (1 << bit)]) + message[i + 1 :]
    assert receiver.receive(flipped, B_ADDR).event == "dropped"


def test_a_handshake_flood_turns_on_cookies_for_a_second(
    pair: tuple[WireGuard, WireGuard], clock: Clock
) -> None:
    a, b = pair
    b.load_threshold = 3
    events = []
    for _ in range(5):
        clock.now += REKEY_TIMEOUT / 100  # 50 ms apart: not a per-peer flood, but a busy second
        init = a.initiate(b.public_key, retry=True)
        assert init is not None
        events.append(b.receive(init, A_ADDR).event)
    assert events == ["initiation", "initiation", "initiation", "cookie-sent", "cookie-sent"]
    assert b.is_under_load()
    clock.now += 1.01
    assert not b.is_under_load()
