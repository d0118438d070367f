"""The bus between processes: arbkit's components as separate processes over NNG (pynng).

Two channels, matching the in-process bus's two policies (bus/local.py):

* **Facts** (books, connection states, ticks) on PUB/SUB. NNG's PUB never blocks and drops for
  a subscriber whose queue is full, so a slow analytics process never slows the publisher. The
  subscriber drains its socket continuously into a local :class:`~arbkit.bus.local.Bus` whose
  topics carry the in-process policies: on a COALESCE topic the latest book per instrument wins
  and a slow consumer skips intermediates (counted as dropped), exactly as in one process.
* **Never-drop streams** (intents, orders, fills, execution reports) on REQ/REP with sequence
  numbers: the sender keeps every message until the receiver acknowledges it, sends what is
  unacknowledged in order, in batches, and sends it again after a timeout or a reconnect. The
  receiver delivers each sequence number once per sender session and acknowledges the highest it
  delivered. Delivery is at-least-once across a *receiver* restart (a message delivered but whose
  acknowledgement was lost is sent again to the new receiver), so receivers are idempotent on the
  message's own id (execution id, client order id, trade id) — as the engine already is.

Every frame starts with the topic (NNG SUB filters by prefix), a NUL, the magic ``AK`` and the wire
protocol version; a peer speaking another version is refused with an error that names both
versions (counted, logged once per peer, never a crash). Bodies are msgspec msgpack; events are
decoded into their own types by kind (the same table the journal uses).

Addresses: ``ipc://`` on one host; ``tcp://`` on loopback; across hosts only ``tls+tcp://`` with a
:class:`pynng.TLSConfig` (plain tcp to another address is refused, so facts and orders never
cross a network in clear).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import os
import time
from collections import deque
from typing import Any, Callable
from urllib.parse import urlsplit

import msgspec
import pynng

from arbkit.core.events import Event, event_types

log = logging.getLogger("arbkit.bus.nng")

PROTOCOL_VERSION = 1
_MAGIC = b"AK"
MAX_FRAME_BYTES = 4 * 1024 * 1024


class ProtocolMismatch(Exception):
    """A peer speaks another arbkit wire protocol version (or is not arbkit at all)."""


class MalformedFrame(Exception):
    """A frame that is not a well-formed arbkit message."""


class TransportError(Exception):
    """An address or TLS setting that would be unsafe or cannot work."""


# --- addresses ---------------------------------------------------------------------------------


def check_address(address: str, tls: "pynng.TLSConfig | None" = None) -> str:
    """Refuse addresses that would carry facts or orders across a network in clear."""
    scheme = address.split("://", 1)[0] if "://" in address else ""
    if scheme in ("ipc", "inproc"):
        return address
    if scheme == "tcp":
        host = urlsplit(address).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise TransportError(f"{address}: plain tcp is only allowed on loopback; use tls+tcp:// with a TLS "
                                 "configuration to reach another host")
        return address
    if scheme == "tls+tcp":
        if tls is None:
            raise TransportError(f"{address}: tls+tcp needs a TLS configuration (certificate and CA)")
        return address
    raise TransportError(f"{address}: unsupported address (ipc://PATH, tcp://127.0.0.1:PORT or tls+tcp://HOST:PORT)")


# --- frames ------------------------------------------------------------------------------------


class _Body(msgspec.Struct, array_like=True):
    kind: str
    seq: int
    key: str | None
    sent_ns: int  # the sender's wall clock when published: the subscriber's lag
    payload: msgspec.Raw  # the event, msgpack


_body_enc = msgspec.msgpack.Encoder(decimal_format="string")
_body_dec = msgspec.msgpack.Decoder(_Body)
_event_decoders: dict[str, msgspec.msgpack.Decoder] = {}


def _event_decoder(kind: str) -> msgspec.msgpack.Decoder:
    dec = _event_decoders.get(kind)
    if dec is None:
        cls = event_types().get(kind)
        if cls is None:
            raise MalformedFrame(f"unknown event kind {kind!r}")
        dec = _event_decoders[kind] = msgspec.msgpack.Decoder(cls)
    return dec


def encode_frame(topic: str, event: Event, *, seq: int = 0, key: str | None = None, sent_ns: int | None = None) -> bytes:
    body = _Body(kind=type(event).__name__, seq=seq, key=key, sent_ns=time.time_ns() if sent_ns is None else sent_ns,
                 payload=msgspec.Raw(_body_enc.encode(event)))
    return topic.encode() + b"\0" + _MAGIC + bytes((PROTOCOL_VERSION,)) + _body_enc.encode(body)


def decode_frame(frame: bytes) -> tuple[str, _Body, Event]:
    """(topic, header, event); raises ProtocolMismatch or MalformedFrame."""
    nul = frame.find(b"\0")
    if nul < 0 or frame[nul + 1:nul + 3] != _MAGIC or len(frame) < nul + 4:
        raise ProtocolMismatch("not an arbkit frame (no topic/magic header)")
    version = frame[nul + 3]
    if version != PROTOCOL_VERSION:
        raise ProtocolMismatch(f"peer speaks arbkit wire protocol v{version}, this build speaks v{PROTOCOL_VERSION}: "
                               "run the same arbkit version in every process")
    try:
        topic = frame[:nul].decode()
        body = _body_dec.decode(frame[nul + 4:])
        event = _event_decoder(body.kind).decode(body.payload)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise MalformedFrame(str(exc)) from exc
    return topic, body, event


class _Counters:
    def __init__(self) -> None:
        self.received = 0
        self.malformed = 0
        self.refused = 0  # another protocol version
        self._logged: set[str] = set()

    def bad(self, exc: Exception, where: str) -> None:
        if isinstance(exc, ProtocolMismatch):
            self.refused += 1
        else:
            self.malformed += 1
        text = f"{where}: {exc}"
        if text not in self._logged and len(self._logged) < 100:  # once per distinct problem
            self._logged.add(text)
            log.error("%s", text)


# --- facts: PUB/SUB ----------------------------------------------------------------------------


class FactPublisher:
    """Publishes facts; never blocks (NNG drops for a subscriber that cannot keep up)."""

    def __init__(self, address: str, *, tls: "pynng.TLSConfig | None" = None) -> None:
        self.address = check_address(address, tls)
        self._sock = pynng.Pub0(tls_config=tls) if tls is not None else pynng.Pub0()
        self._sock.listen(self.address)
        self.published = 0

    def publish(self, topic: str, event: Event, key: str | None = None) -> None:
        self._sock.send(encode_frame(topic, event, key=key))
        self.published += 1

    def close(self) -> None:
        self._sock.close()


class FactSubscriber:
    """Receives facts into a local Bus (whose topic policies decide coalescing).

    ``lag_ns`` is how old the last delivered fact was on arrival (sender's clock to ours: on one
    host exact; across hosts it includes the clocks' offset)."""

    def __init__(self, address: str, bus: Any, topics: list[str], *, tls: "pynng.TLSConfig | None" = None) -> None:
        self.address = check_address(address, tls)
        self.bus = bus
        self.topics = list(topics)
        self._sock = pynng.Sub0(recv_max_size=MAX_FRAME_BYTES, tls_config=tls) if tls is not None \
            else pynng.Sub0(recv_max_size=MAX_FRAME_BYTES)
        for t in self.topics:
            self._sock.subscribe(t.encode() + b"\0")
        self._sock.dial(self.address, block=False)  # redials by itself after the publisher restarts
        self.counters = _Counters()
        self.lag_ns = 0

    async def run(self) -> None:
        c = self.counters
        while True:
            try:
                frame = await self._sock.arecv()
            except pynng.Closed:
                return
            try:
                topic, body, event = decode_frame(frame)
            except (ProtocolMismatch, MalformedFrame) as exc:
                c.bad(exc, f"facts from {self.address}")
                continue
            c.received += 1
            self.lag_ns = max(0, time.time_ns() - body.sent_ns)
            self.bus.publish(topic, event, key=body.key)

    def stats(self) -> dict[str, Any]:
        c = self.counters
        return {"received": c.received, "malformed": c.malformed, "refused": c.refused, "lag_ms": self.lag_ns / 1e6}

    def close(self) -> None:
        self._sock.close()


# --- never-drop streams: REQ/REP with sequence numbers -----------------------------------------


class _Batch(msgspec.Struct, array_like=True):
    session: str  # the sender's incarnation: sequence numbers start again with a new session
    frames: list[bytes]


class _Ack(msgspec.Struct, array_like=True):
    version: int
    acked: int  # the highest sequence number delivered for that session
    error: str = ""


_batch_enc = msgspec.msgpack.Encoder()
_batch_dec = msgspec.msgpack.Decoder(_Batch)
_ack_dec = msgspec.msgpack.Decoder(_Ack)


class ReliableSender:
    """Sends events that must never be lost, in order, until acknowledged.

    ``send`` is synchronous and never blocks: it appends to the outbox (its length is the lag the
    receiver imposes; ``pending``). A background task (``run``) ships what is unacknowledged."""

    def __init__(self, address: str, name: str, *, tls: "pynng.TLSConfig | None" = None,
                 batch: int = 256, ack_timeout_s: float = 1.0) -> None:
        self.address = check_address(address, tls)
        self.session = f"{name}:{os.getpid()}:{time.time_ns():x}"
        self._tls = tls
        self._batch = batch
        self._timeout_ms = int(ack_timeout_s * 1000)
        self._seq = itertools.count(1)
        self._outbox: deque[tuple[int, bytes]] = deque()
        self._wake = asyncio.Event()
        self.acked = 0
        self.resends = 0
        self.refused: str = ""  # set when the receiver speaks another protocol version
        self._sock: pynng.Req0 | None = None

    @property
    def pending(self) -> int:
        return len(self._outbox)

    def send(self, topic: str, event: Event, key: str | None = None) -> int:
        seq = next(self._seq)
        self._outbox.append((seq, encode_frame(topic, event, seq=seq, key=key)))
        self._wake.set()
        return seq

    def _open(self) -> pynng.Req0:
        kw: dict[str, Any] = {"recv_timeout": self._timeout_ms, "send_timeout": self._timeout_ms,
                              "recv_max_size": MAX_FRAME_BYTES}
        if self._tls is not None:
            kw["tls_config"] = self._tls
        sock = pynng.Req0(**kw)
        sock.dial(self.address, block=False)
        return sock

    async def run(self) -> None:
        self._sock = self._open()
        try:
            while True:
                if not self._outbox:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                frames = [f for _, f in itertools.islice(self._outbox, self._batch)]
                try:
                    await self._sock.asend(_batch_enc.encode(_Batch(session=self.session, frames=frames)))
                    ack = _ack_dec.decode(await self._sock.arecv())
                except (pynng.Timeout, pynng.exceptions.NNGException):
                    # no answer: the receiver is down or restarting; a fresh socket resends the
                    # same unacknowledged batch once it is back (REQ would also retry by itself)
                    self.resends += 1
                    self._sock.close()
                    self._sock = self._open()
                    await asyncio.sleep(0.05)
                    continue
                except msgspec.DecodeError as exc:
                    self.refused = f"receiver at {self.address} answered with a malformed acknowledgement: {exc}"
                    log.error("%s", self.refused)
                    await asyncio.sleep(1.0)
                    continue
                if ack.version != PROTOCOL_VERSION or ack.error:
                    self.refused = ack.error or (f"receiver speaks arbkit wire protocol v{ack.version}, "
                                                 f"this build v{PROTOCOL_VERSION}")
                    log.error("reliable stream to %s refused: %s", self.address, self.refused)
                    await asyncio.sleep(1.0)
                    continue
                while self._outbox and self._outbox[0][0] <= ack.acked:
                    self._outbox.popleft()
                self.acked = max(self.acked, ack.acked)
        finally:
            if self._sock is not None:
                self._sock.close()

    async def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything sent so far is acknowledged."""
        end = time.monotonic() + timeout_s
        while self._outbox and time.monotonic() < end:
            await asyncio.sleep(0.005)
        return not self._outbox


class ReliableReceiver:
    """Delivers each sequence number of each sender session once, in order, and acknowledges.

    ``handler(topic, event)`` is called synchronously; if it raises, the message is counted as a
    handler error and still acknowledged (a poison message must not stall the stream; the handler
    journals its own failures)."""

    def __init__(self, address: str, handler: Callable[[str, Event], Any], *,
                 tls: "pynng.TLSConfig | None" = None) -> None:
        self.address = check_address(address, tls)
        self.handler = handler
        kw: dict[str, Any] = {"recv_max_size": MAX_FRAME_BYTES}
        if tls is not None:
            kw["tls_config"] = tls
        self._sock = pynng.Rep0(**kw)
        self._sock.listen(self.address)
        self.last: dict[str, int] = {}  # session -> highest sequence delivered
        self.counters = _Counters()
        self.duplicates = 0
        self.handler_errors = 0

    async def run(self) -> None:
        c = self.counters
        while True:
            try:
                raw = await self._sock.arecv()
            except pynng.Closed:
                return
            try:
                batch = _batch_dec.decode(raw)
            except msgspec.DecodeError as exc:
                c.bad(MalformedFrame(f"batch: {exc}"), f"reliable stream at {self.address}")
                await self._reply(_Ack(version=PROTOCOL_VERSION, acked=0, error=f"malformed batch: {exc}"))
                continue
            last = self.last.get(batch.session)
            error = ""
            for frame in batch.frames:
                try:
                    topic, body, event = decode_frame(frame)
                except (ProtocolMismatch, MalformedFrame) as exc:
                    c.bad(exc, f"reliable stream from {batch.session}")
                    error = str(exc)
                    break
                if last is not None and body.seq <= last:
                    self.duplicates += 1
                    continue
                # a session seen for the first time starts wherever its unacknowledged messages start
                if last is not None and body.seq != last + 1:
                    error = f"sequence gap from {batch.session}: expected {last + 1}, got {body.seq}"
                    c.bad(MalformedFrame(error), f"reliable stream at {self.address}")
                    break
                c.received += 1
                try:
                    self.handler(topic, event)
                except Exception:  # noqa: BLE001 - counted; the stream goes on
                    self.handler_errors += 1
                    log.exception("reliable stream handler failed on %s seq %d", topic, body.seq)
                last = body.seq
            if last is not None:
                self.last[batch.session] = last
            await self._reply(_Ack(version=PROTOCOL_VERSION, acked=last or 0, error=error))

    async def _reply(self, ack: _Ack) -> None:
        with contextlib.suppress(pynng.exceptions.NNGException):
            await self._sock.asend(_batch_enc.encode(ack))

    def close(self) -> None:
        self._sock.close()
