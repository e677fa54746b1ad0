"""AMQP 1.0 conformance of the embedded endpoint, driven by a general-purpose client.

The official Event Hubs clients exercise a narrow slice of AMQP 1.0: they rarely end a session
before closing the connection, never drain or echo a link, and the endpoint carries workarounds
shaped around their quirks. General-purpose AMQP 1.0 peers (Qpid Proton, Apache Camel, .NET Lite,
rhea, ...) do all of those things as a matter of course: they end every session before the Close,
detach links without closing them, drain a receiving link to learn that nothing is left
(§2.6.7), and ask for the peer's flow state with `echo`. A performative that needs an answer and
gets none leaves such a client waiting until its own timeout, so every scenario here asserts that
each request is answered within 1 second:

    Open -> Open, Begin -> Begin, Attach -> Attach, Detach -> Detach, End -> End, Close -> Close,
    Flow(echo=true) -> Flow, Flow(drain=true) on a receiving link -> Flow with the unused credit
    consumed (delivery-count advanced, link-credit 0), unsettled Transfer -> terminal Disposition,

and that the connection ends clean: the server's Close arrives without error, and the socket then
reaches EOF (or the transport closes both ways) without a transport error.

The client is Qpid Proton's *engine* (python-qpid-proton: `Connection`, `Transport`, `Collector`,
`SASL`) over a plain TCP socket that this module pumps itself, so the test decides exactly which
frames go out and in what order, and sees every frame the server sends with its arrival time.
Both byte streams are also decoded here into a frame log (`Peer.frames`) that the assertions read
and that is printed with each test's captured output. Proton cannot send a Flow with echo=true, so
that one frame is written by hand between Proton's frames.
"""
import base64
import hashlib
import hmac
import select
import socket
import struct
import time
import urllib.parse
import uuid

import proton
import pytest
from proton import Collector, Connection, Data, Delivery, Message

# --- AMQP frame vocabulary ------------------------------------------------------------------

PERFORMATIVES = {
    0x10: ("open", ["container-id", "hostname", "max-frame-size", "channel-max", "idle-time-out",
                    "outgoing-locales", "incoming-locales", "offered-capabilities",
                    "desired-capabilities", "properties"]),
    0x11: ("begin", ["remote-channel", "next-outgoing-id", "incoming-window", "outgoing-window",
                     "handle-max", "offered-capabilities", "desired-capabilities", "properties"]),
    0x12: ("attach", ["name", "handle", "role", "snd-settle-mode", "rcv-settle-mode", "source",
                      "target", "unsettled", "incomplete-unsettled", "initial-delivery-count",
                      "max-message-size", "offered-capabilities", "desired-capabilities",
                      "properties"]),
    0x13: ("flow", ["next-incoming-id", "incoming-window", "next-outgoing-id", "outgoing-window",
                    "handle", "delivery-count", "link-credit", "available", "drain", "echo",
                    "properties"]),
    0x14: ("transfer", ["handle", "delivery-id", "delivery-tag", "message-format", "settled",
                        "more", "rcv-settle-mode", "state", "resume", "aborted", "batchable"]),
    0x15: ("disposition", ["role", "first", "last", "settled", "state", "batchable"]),
    0x16: ("detach", ["handle", "closed", "error"]),
    0x17: ("end", ["error"]),
    0x18: ("close", ["error"]),
    0x40: ("sasl-mechanisms", ["sasl-server-mechanisms"]),
    0x41: ("sasl-init", ["mechanism", "initial-response", "hostname"]),
    0x42: ("sasl-challenge", ["challenge"]),
    0x43: ("sasl-response", ["response"]),
    0x44: ("sasl-outcome", ["code", "additional-data"]),
}
SYMBOLIC_DESCRIPTORS = {f"amqp:{name}:list": code for code, (name, _) in PERFORMATIVES.items()}
FLOW = 0x13
OUTCOMES = {0x24: "accepted", 0x25: "rejected", 0x26: "released", 0x27: "modified"}
ERROR_DESCRIPTOR = 0x1D

OUT, IN = "->", "<-"
ANSWER_TIMEOUT = 1.0  # what every answer must beat
SETUP_TIMEOUT = 5.0  # waits that are not answers: credit, token replies, events
HUB = "eh1"
KEY_NAME = "RootManageSharedAccessKey"
KEY = "SAS_KEY_VALUE"


def descriptor_code(descriptor):
    if isinstance(descriptor, str):
        return SYMBOLIC_DESCRIPTORS.get(descriptor, descriptor)
    return int(descriptor)


def owned(value):
    """`value` with every binary copied out: Proton's decoder hands out memoryviews into its own
    buffer, which is freed with the `Data` object."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, proton.Described):
        return proton.Described(owned(value.descriptor), owned(value.value))
    if isinstance(value, list):
        return [owned(v) for v in value]
    if isinstance(value, dict):
        return {owned(k): owned(v) for k, v in value.items()}
    return value


class Frame:
    """One decoded frame of either direction, with the time it was written or read."""

    def __init__(self, direction, at, channel, kind, body, size=0):
        self.direction = direction
        self.size = size  # the whole frame, header included
        self.at = at
        self.channel = channel
        self.kind = kind  # 0 AMQP, 1 SASL
        self.session = None  # our (the client's) channel for the session, both directions
        self.link = None  # the link's name, for attach/detach/flow/transfer
        self.payload_len = 0
        if not body:
            self.name, self.fields, self.code = "heartbeat", [], None
            return
        data = Data()
        consumed = data.decode(body)
        self.payload_len = len(body) - consumed
        data.rewind()
        data.next()
        value = owned(data.get_object())
        self.code = descriptor_code(value.descriptor)
        name, self._names = PERFORMATIVES.get(self.code, (f"unknown({value.descriptor!r})", []))
        self.name = name
        self.fields = list(value.value or [])

    def __getitem__(self, field):
        index = self._names.index(field)
        return self.fields[index] if index < len(self.fields) else None

    def error_condition(self):
        """The condition symbol of a detach/end/close error, or None."""
        error = self["error"]
        if error is None:
            return None
        return error.value[0] if isinstance(error, proton.Described) else error

    def outcome(self):
        state = self["state"]
        if isinstance(state, proton.Described):
            return OUTCOMES.get(descriptor_code(state.descriptor))
        return None

    def describe(self, t0):
        shown = []
        for name, value in zip(self._names if self.code else [], self.fields):
            if value is None:
                continue
            text = repr(value)
            shown.append(f"{name}={text[:80] + '...' if len(text) > 80 else text}")
        payload = f" +{self.payload_len}B" if self.payload_len else ""
        return (f"{self.at - t0:8.3f}s {self.direction} ch{self.channel} "
                f"{self.name}({', '.join(shown)}){payload}")


class FrameTap:
    """Splits one direction's byte stream into frames (protocol headers skipped)."""

    def __init__(self, direction, on_frame):
        self.direction = direction
        self.on_frame = on_frame
        self.buffer = b""

    def feed(self, data, at):
        self.buffer += data
        while True:
            if self.buffer[:4] == b"AMQP":
                if len(self.buffer) < 8:
                    return
                self.buffer = self.buffer[8:]
                continue
            if len(self.buffer) < 8:
                return
            size, doff, kind, channel = struct.unpack(">IBBH", self.buffer[:8])
            if len(self.buffer) < size:
                return
            frame, self.buffer = self.buffer[:size], self.buffer[size:]
            self.on_frame(Frame(self.direction, at, channel, kind, frame[doff * 4:], size))


def encode_flow(fields):
    """The body of a Flow frame with `fields` (None encodes as null)."""
    data = Data()
    data.put_described()
    data.enter()
    data.put_ulong(FLOW)
    data.put_list()
    data.enter()
    for value in fields:
        if value is None:
            data.put_null()
        elif isinstance(value, bool):
            data.put_bool(value)
        else:
            data.put_uint(value)
    data.exit()
    data.exit()
    return data.encode()


# --- the pumped connection --------------------------------------------------------------------

class Peer:
    """A Proton engine connection over a socket that this object pumps.

    Every request helper writes Proton's output, picks out the frame it asked Proton to send, and
    then waits for the matching answer from the server, failing with the performative's name
    when it does not come in time.
    """

    def __init__(self, port, mechanism="ANONYMOUS", max_frame_size=None, name="proton"):
        self.port = port
        self.t0 = time.monotonic()
        self.frames = []
        self.latencies = []  # (what, seconds)
        self.notes = []  # odd things seen, printed with the trace
        self.eof = False
        self.transport_errors = []
        self._server_channels = {}  # server channel -> our channel
        self._links = {}  # (direction, our channel, handle) -> link name
        self._out = FrameTap(OUT, self._record)
        self._in = FrameTap(IN, self._record)

        self.connection = Connection()
        self.connection.container = f"{name}-{uuid.uuid4().hex[:8]}"
        self.connection.hostname = "127.0.0.1"
        self.collector = Collector()
        self.connection.collect(self.collector)
        self.transport = proton.Transport()
        if max_frame_size:
            self.transport.max_frame_size = max_frame_size
        sasl = self.transport.sasl()
        sasl.allowed_mechs(mechanism)
        if mechanism == "PLAIN":
            sasl.allow_insecure_mechs = True  # loopback, no TLS
            self.connection.user = KEY_NAME
            self.connection.password = KEY
        self.transport.bind(self.connection)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SETUP_TIMEOUT)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- frame log ------------------------------------------------------------------------------

    def _record(self, frame):
        if frame.kind == 0 and frame.code is not None:
            if frame.direction == OUT:
                frame.session = frame.channel
            else:
                if frame.name == "begin" and frame["remote-channel"] is not None:
                    self._server_channels[frame.channel] = int(frame["remote-channel"])
                frame.session = self._server_channels.get(frame.channel)
            if frame.name in ("attach", "detach", "flow", "transfer") and frame["handle"] is not None:
                key = (frame.direction, frame.session, int(frame["handle"]))
                if frame.name == "attach":
                    self._links[key] = frame["name"]
                frame.link = self._links.get(key)
        self.frames.append(frame)

    def trace(self):
        return "\n".join(f.describe(self.t0) for f in self.frames)

    def tail(self, since=None, count=12):
        frames = [f for f in self.frames if since is None or f.at >= since]
        return "\n".join(f.describe(self.t0) for f in frames[-count:]) or "(none)"

    # -- pumping --------------------------------------------------------------------------------

    def _write(self, data):
        # Bounded, so that a server that stops reading fails the test instead of hanging it.
        self.sock.settimeout(SETUP_TIMEOUT)
        try:
            self.sock.sendall(data)
        except OSError as e:
            pytest.fail(f"writing {len(data)} bytes to the server failed ({e!r})\n"
                        f"last frames:\n{self.tail()}", pytrace=False)
        finally:
            self.sock.setblocking(False)
        self._out.feed(data, time.monotonic())

    def flush(self):
        """Writes everything Proton has to send; returns the frames written."""
        first = len(self.frames)
        while True:
            pending = self.transport.pending()
            if pending <= 0:
                break
            data = self.transport.peek(pending)
            self.transport.pop(len(data))
            self._write(data)
        return self.frames[first:]

    def write_raw(self, channel, body):
        """Writes one hand-made AMQP frame between Proton's (after flushing Proton's output, so
        it starts on a frame boundary); returns it as logged."""
        self.flush()
        self._write(struct.pack(">IBBH", 8 + len(body), 2, 0, channel) + body)
        return self.frames[-1]

    def _pump_once(self, wait):
        self.flush()
        if self.eof:
            time.sleep(min(wait, 0.01))
        else:
            readable, _, _ = select.select([self.sock], [], [], max(wait, 0))
            if readable:
                try:
                    data = self.sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                    self.notes.append("socket reset by the server")
                at = time.monotonic()
                if data:
                    self._in.feed(data, at)
                    while data:
                        capacity = self.transport.capacity()
                        if capacity <= 0:
                            self.notes.append(f"{len(data)} bytes after the transport closed its input")
                            break
                        self.transport.push(data[:capacity])
                        data = data[capacity:]
                else:
                    self.eof = True
                    self.transport.close_tail()
        self.transport.tick(time.monotonic())
        while self.collector.peek():
            event = self.collector.peek()
            if event.type == proton.Event.TRANSPORT_ERROR:
                self.transport_errors.append(str(self.transport.condition))
            self.collector.pop()
        self.flush()

    def pump_until(self, predicate, what, timeout=ANSWER_TIMEOUT, since=None, verb="not answered"):
        """Pumps until `predicate()` is truthy (and returns it), or fails naming `what`.

        The deadline runs from `since` (the time the request went out) when given."""
        start = since if since is not None else time.monotonic()
        deadline = start + timeout
        while True:
            result = predicate()
            if result:
                return result
            now = time.monotonic()
            if now >= deadline:
                break
            if self.eof and not self.transport.pending() > 0:
                # Nothing more can arrive; one last look at what has.
                result = predicate()
                if result:
                    return result
                pytest.fail(f"{what} {verb}: the server closed the socket first\n"
                            f"frames since the request:\n{self.tail(since)}", pytrace=False)
            self._pump_once(min(0.05, deadline - now))
        pytest.fail(f"{what} {verb} within {timeout:g} s\n"
                    f"frames since the request:\n{self.tail(since)}", pytrace=False)

    def incoming(self, since, match):
        """The first incoming frame written at or after `since` for which `match` holds."""
        for frame in self.frames:
            if frame.direction == IN and frame.at >= since and match(frame):
                return frame
        return None

    def answer(self, request, what, match, timeout=ANSWER_TIMEOUT):
        """Waits for the answer to `request` (an outgoing frame); records how long it took."""
        frame = self.pump_until(lambda: self.incoming(request.at, match), what,
                                timeout=timeout, since=request.at)
        self.latencies.append((what, frame.at - request.at))
        return frame

    def sent(self, frames, performative, what, **fields):
        """The outgoing `performative` among `frames` that Proton was asked for (fields given
        with `_` for `-`)."""
        for frame in frames:
            if frame.direction == OUT and frame.name == performative and all(
                    frame[k.replace("_", "-")] == v for k, v in fields.items()):
                return frame
        pytest.fail(f"Proton did not send the {what} it was asked for; it sent:\n"
                    + "\n".join(f.describe(self.t0) for f in frames), pytrace=False)

    # -- requests -------------------------------------------------------------------------------

    def open(self):
        self.connection.open()
        request = self.sent(self.pump_to_open(), "open", "Open")
        opened = self.answer(request, "Open", lambda f: f.name == "open")
        return opened

    def pump_to_open(self):
        # Proton sends its Open once SASL is through, which takes a few round trips.
        first = len(self.frames)
        self.pump_until(lambda: any(f.direction == OUT and f.name == "open"
                                    for f in self.frames[first:]),
                        "SASL", timeout=SETUP_TIMEOUT, verb="did not complete")
        return self.frames[first:]

    def begin(self):
        session = self.connection.session()
        session.open()
        request = self.sent(self.flush(), "begin", "Begin")
        session.channel = request.channel  # remembered for matching answers
        self.answer(request, "Begin",
                    lambda f: f.name == "begin" and f["remote-channel"] == request.channel)
        return session

    def _attach(self, link, what):
        link.open()
        request = self.sent(self.flush(), "attach", what, name=link.name)
        link.channel = request.channel
        link.handle = int(request["handle"])
        return self.answer(request, what, lambda f: f.name == "attach"
                           and f.session == request.channel and f["name"] == link.name)

    def attach_sender(self, session, address, name=None, rcv_settle_mode=None):
        sender = session.sender(name or f"sender-{uuid.uuid4().hex[:8]}")
        sender.target.address = address
        sender.source.address = sender.name
        if rcv_settle_mode is not None:
            sender.rcv_settle_mode = rcv_settle_mode
        sender.reply = self._attach(sender, f"Attach (sender to {address})")
        return sender

    def attach_receiver(self, session, address, name=None):
        receiver = session.receiver(name or f"receiver-{uuid.uuid4().hex[:8]}")
        receiver.source.address = address
        receiver.target.address = receiver.name
        receiver.reply = self._attach(receiver, f"Attach (receiver from {address})")
        return receiver

    def detach(self, link, closed=True):
        if closed:
            link.close()
        else:
            link.detach()
        request = self.sent(self.flush(), "detach", "Detach", handle=link.handle)
        assert bool(request["closed"]) == closed, request.describe(self.t0)
        what = f"Detach (closed={str(closed).lower()}) of {link.name}"
        reply = self.answer(request, what, lambda f: f.name == "detach"
                            and f.session == request.channel and f.link == link.name)
        assert reply.error_condition() is None, f"{what}: answered with an error: {reply.describe(self.t0)}"
        assert bool(reply["closed"]) == closed, (
            f"{what}: answered with closed={reply['closed']}: {reply.describe(self.t0)}")
        return reply

    def end(self, session):
        session.close()
        request = self.sent(self.flush(), "end", "End")
        reply = self.answer(request, "End", lambda f: f.name == "end" and f.session == request.channel)
        assert reply.error_condition() is None, f"End answered with an error: {reply.describe(self.t0)}"
        return reply

    def close(self):
        """Closes the connection and checks that it ends clean."""
        self.connection.close()
        request = self.sent(self.flush(), "close", "Close")
        reply = self.answer(request, "Close", lambda f: f.name == "close")
        assert reply.error_condition() is None, f"Close answered with an error: {reply.describe(self.t0)}"
        self.pump_until(lambda: self.eof or self.transport.closed,
                        "the end of the connection after the Close exchange", since=reply.at,
                        verb="did not come")
        assert not self.transport_errors, f"transport errors: {self.transport_errors}"
        condition = self.transport.condition
        assert condition is None, f"the transport ended with {condition}"
        late = [f for f in self.frames if f.direction == IN and f.at > reply.at]
        assert not late, "frames after the server's Close:\n" + "\n".join(
            f.describe(self.t0) for f in late)

    # -- links ----------------------------------------------------------------------------------

    def wait_for_credit(self, sender):
        self.pump_until(lambda: sender.credit > 0, f"credit on {sender.target.address}",
                        timeout=SETUP_TIMEOUT, verb="was not granted")

    def send(self, sender, message, settled=False):
        """Sends one message; returns the frames of its transfer (first to last)."""
        self.wait_for_credit(sender)
        delivery = sender.delivery(f"tag-{uuid.uuid4().hex[:8]}".encode())
        sender.send(message.encode())
        if settled:
            delivery.settle()
        sender.advance()
        first = len(self.frames)
        # A long delivery may wait for session window; pump until its last frame is out.
        def ours():
            return [f for f in self.frames[first:] if f.direction == OUT and f.name == "transfer"
                    and f.session == sender.channel and f.link == sender.name]

        self.pump_until(lambda: any(not f["more"] for f in ours()), "the transfer",
                        timeout=SETUP_TIMEOUT, verb="was not written")
        transfers = ours()
        assert bool(transfers[0]["settled"]) == settled
        return delivery, transfers

    def await_outcome(self, sender, transfers, what="Disposition"):
        """Waits for the first disposition with a terminal outcome for the delivery; then also
        for its settlement, printing when that came only later (a two-phase disposition)."""
        delivery_id = int(transfers[0]["delivery-id"])
        last = transfers[-1]

        def covers(frame):
            if frame.name != "disposition" or not frame["role"] or frame.session != sender.channel:
                return False
            first_id = int(frame["first"])
            last_id = int(frame["last"]) if frame["last"] is not None else first_id
            return first_id <= delivery_id <= last_id

        outcome = self.answer(last, what, lambda f: covers(f) and f.outcome() is not None)
        if not outcome["settled"]:
            settled = self.pump_until(lambda: self.incoming(outcome.at, lambda f: covers(f) and f["settled"]),
                                      f"{what} (settled)", since=last.at)
            note = (f"delivery {delivery_id}: outcome {outcome.outcome()} came unsettled after "
                    f"{(outcome.at - last.at) * 1000:.1f} ms, settled only "
                    f"{(settled.at - outcome.at) * 1000:.1f} ms later")
            print(note)
            self.notes.append(note)
        return outcome

    def receive(self, receiver, count, timeout=SETUP_TIMEOUT):
        """Reads `count` whole deliveries from `receiver`; returns (messages, deliveries)."""
        messages, deliveries = [], []

        def read():
            while len(messages) < count:
                delivery = receiver.current
                if delivery is None or not delivery.readable or delivery.partial:
                    return False
                message = Message()
                message.decode(receiver.recv(delivery.pending))
                deliveries.append(delivery)
                messages.append(message)
                receiver.advance()
                delivery.settle()
            return True

        self.pump_until(read, f"{count} events on {receiver.source.address}", timeout=timeout,
                        verb="did not arrive")
        return messages, deliveries

    def link_frames(self, link, direction, name, since=0.0):
        return [f for f in self.frames if f.direction == direction and f.name == name
                and f.session == link.channel and f.link == link.name and f.at >= since]

    def shutdown(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- Event Hubs specifics: claims-based security -------------------------------------------------

def sas_token(resource, key_name=KEY_NAME, key=KEY, ttl_s=3600):
    expiry = int(time.time()) + ttl_s
    sr = urllib.parse.quote(resource, safe="")
    mac = hmac.new(key.encode(), f"{sr}\n{expiry}".encode(), hashlib.sha256).digest()
    sig = urllib.parse.quote(base64.b64encode(mac).decode(), safe="")
    return f"SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={key_name}", expiry


def put_token(peer, session, hub=HUB):
    """Authorizes the connection for `hub` through `$cbs` on `session`. The two `$cbs` links stay
    attached (as the service's clients keep them to refresh tokens); returns them."""
    cbs_sender = peer.attach_sender(session, "$cbs", name="cbs-sender")
    cbs_receiver = peer.attach_receiver(session, "$cbs", name="cbs-receiver")
    cbs_receiver.flow(10)
    audience = f"sb://127.0.0.1:{peer.port}/{hub}"
    token, expiry = sas_token(audience)
    request_id = f"put-token-{uuid.uuid4().hex[:8]}"
    request = Message(
        id=request_id,
        reply_to="cbs-receiver",
        body=token,
        properties={
            "operation": "put-token",
            "type": "servicebus.windows.net:sastoken",
            "name": audience,
            "expiration": proton.timestamp(expiry * 1000),
        },
    )
    peer.send(cbs_sender, request)
    (reply,), _ = peer.receive(cbs_receiver, 1)
    status = reply.properties.get("status-code")
    assert status in (200, 202), f"put-token refused: {reply.properties}"
    assert reply.correlation_id == request_id, f"put-token reply correlates {reply.correlation_id!r}"
    return cbs_sender, cbs_receiver


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def peers(emulator):
    """Makes Peers against the per-test emulator; prints each one's frames and answer times."""
    made = []

    def make(**kwargs):
        peer = Peer(emulator.port, **kwargs)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        print(f"\n--- {peer.connection.container}: answer times")
        for what, seconds in peer.latencies:
            print(f"  {seconds * 1000:8.1f} ms  {what}")
        for note in peer.notes:
            print(f"  note: {note}")
        print(f"--- {peer.connection.container}: frames")
        print(peer.trace())
        peer.shutdown()


def connected(peers, **kwargs):
    peer = peers(**kwargs)
    peer.open()
    return peer


def event(text):
    message = Message(body=text.encode(), inferred=True)  # a data section, as most clients send
    message.properties = {"n": text}
    return message


# --- scenarios --------------------------------------------------------------------------------

@pytest.mark.parametrize("links", ["no-links", "cbs-links"])
def test_session_ended_before_close(peers, links):
    """1. Open, Begin, End, Close: what every general-purpose client does on close.

    The `cbs-links` variant first puts a token on the session, as a client that authorizes on a
    session of its own does before ending it: the End must be answered there too."""
    peer = connected(peers)
    session = peer.begin()
    if links == "cbs-links":
        put_token(peer, session)
    peer.end(session)
    peer.close()


@pytest.mark.parametrize(
    "rcv_settle_mode, mechanism",
    [(None, "ANONYMOUS"), (proton.Link.RCV_SECOND, "PLAIN")],
    ids=["rcv-settle-first-anonymous", "rcv-settle-second-plain"],
)
def test_publish_one_unsettled_and_one_presettled(peers, rcv_settle_mode, mechanism):
    """2. An unsettled send is accepted and settled; a pre-settled one needs no answer; the link
    then detaches closed, the session ends and the connection closes.

    Parametrized over the receiver settle mode the sender asks for: the endpoint sends
    dispositions in two phases (unsettled, then settled 50 ms later) unless a sender asks for
    `second`; either way the first terminal outcome counts as the answer."""
    peer = connected(peers, mechanism=mechanism)
    session = peer.begin()
    put_token(peer, session)
    sender = peer.attach_sender(session, HUB, rcv_settle_mode=rcv_settle_mode)
    assert sender.reply["target"] is not None, "the Attach answer must carry a target"
    delivery, transfers = peer.send(sender, event("one"))
    outcome = peer.await_outcome(sender, transfers)
    assert outcome.outcome() == "accepted", outcome.describe(peer.t0)
    peer.pump_until(lambda: delivery.settled and delivery.remote_state == Delivery.ACCEPTED,
                    "the settled outcome (in Proton)")
    delivery.settle()
    _, presettled = peer.send(sender, event("two"), settled=True)
    peer.detach(sender, closed=True)
    peer.end(session)
    peer.close()
    # Checked last, so that anything the server held back has had its chance to show.
    presettled_id = int(presettled[0]["delivery-id"])
    stray = [f for f in peer.frames if f.direction == IN and f.name == "disposition"
             and int(f["first"]) <= presettled_id <= int(f["last"] if f["last"] is not None else f["first"])]
    assert not stray, "a disposition for a pre-settled transfer:\n" + "\n".join(
        f.describe(peer.t0) for f in stray)


def test_publish_multi_frame_transfer(peers):
    """3. A ~200 KB event spans several frames of the server's 64 KiB max-frame-size; it is
    accepted within 1 s of its last frame. Our own max-frame-size is set small, so reading the
    event back makes the server split its transfer into frames of at most 4096 bytes."""
    peer = connected(peers, max_frame_size=4096)
    server_max = peer.transport.remote_max_frame_size
    session = peer.begin()
    put_token(peer, session)
    sender = peer.attach_sender(session, HUB)
    body = bytes(range(256)) * (200_000 // 256)
    assert len(body) > 2 * server_max, f"the event must exceed the server's {server_max}-byte frames"
    _, transfers = peer.send(sender, Message(body=body, inferred=True))
    assert len(transfers) >= 3, f"expected a multi-frame transfer, got {len(transfers)} frame(s)"
    assert all(f["more"] for f in transfers[:-1]) and not transfers[-1]["more"]
    outcome = peer.await_outcome(sender, transfers, what="Disposition (multi-frame transfer)")
    assert outcome.outcome() == "accepted", outcome.describe(peer.t0)
    peer.detach(sender, closed=True)

    # The hub picked the partition; read both and take the event from whichever has it.
    receivers = [peer.attach_receiver(session, f"{HUB}/ConsumerGroups/$Default/Partitions/{p}")
                 for p in ("0", "1")]
    for receiver in receivers:
        receiver.flow(1)
    got = peer.pump_until(lambda: next((r for r in receivers if r.current is not None
                                        and not r.current.partial), None),
                          "the 200 KB event", timeout=SETUP_TIMEOUT, verb="was not delivered back")
    (message,), _ = peer.receive(got, 1)
    assert message.body == body
    incoming = peer.link_frames(got, IN, "transfer")
    assert len(incoming) > len(body) // 4096, f"read back in {len(incoming)} frame(s)"
    too_big = [f for f in peer.frames if f.direction == IN and f.size > 4096]
    assert not too_big, "server frames over our max-frame-size of 4096:\n" + "\n".join(
        f"{f.size} bytes: {f.describe(peer.t0)}" for f in too_big[:5])
    for receiver in receivers:
        peer.detach(receiver)
    peer.end(session)
    peer.close()


def publish_to_partition(peer, session, partition, texts):
    sender = peer.attach_sender(session, f"{HUB}/Partitions/{partition}")
    for text in texts:
        delivery, transfers = peer.send(sender, event(text))
        assert peer.await_outcome(sender, transfers).outcome() == "accepted"
        delivery.settle()
    return sender


def test_drain_on_consume_link(peers):
    """4. After the events there are, a drain is answered at once with the unused credit
    consumed: link-credit 0 and delivery-count advanced by it (AMQP 1.0 §2.6.7)."""
    peer = connected(peers)
    session = peer.begin()
    put_token(peer, session)
    texts = ["a", "b", "c"]
    sender = publish_to_partition(peer, session, 0, texts)
    peer.detach(sender)

    receiver = peer.attach_receiver(session, f"{HUB}/ConsumerGroups/$Default/Partitions/0")
    assert receiver.reply["source"] is not None, "the Attach answer must echo the source"
    credit = 10
    receiver.flow(credit)
    messages, _ = peer.receive(receiver, len(texts))
    assert [m.properties["n"] for m in messages] == texts
    transfers = peer.link_frames(receiver, IN, "transfer")
    assert all(f["settled"] for f in transfers), "consume deliveries come pre-settled"

    receiver.drain(0)  # keep the credit that is left, ask the sender to use it up or give it back
    request = peer.sent(peer.flush(), "flow", "Flow (drain)", handle=receiver.handle)
    assert request["drain"] and int(request["link-credit"]) == credit - len(texts), request.describe(peer.t0)
    answer = peer.answer(request, "Flow (drain=true)",
                         lambda f: f.name == "flow" and f.link == receiver.name)
    expected_count = (int(request["delivery-count"]) + int(request["link-credit"])) % 2**32
    assert answer["link-credit"] == 0 and answer["delivery-count"] == expected_count, (
        f"drain answered with delivery-count={answer['delivery-count']} "
        f"link-credit={answer['link-credit']}; expected {expected_count} and 0\n"
        f"{request.describe(peer.t0)}\n{answer.describe(peer.t0)}")
    assert receiver.credit == 0 and not receiver.draining()
    peer.detach(receiver)
    peer.end(session)
    peer.close()


def echo_flow(peer, receiver):
    """Writes a Flow with echo=true for `receiver`, carrying the state Proton's own next Flow
    would: Proton's last Flow for the link, advanced past what arrived since."""
    template = peer.link_frames(receiver, OUT, "flow")[-1]
    since = [f for f in peer.frames if f.direction == IN and f.name == "transfer"
             and f.session == receiver.channel and f.at >= template.at]
    new_deliveries = sum(1 for f in since if f.link == receiver.name and f["delivery-id"] is not None)
    fields = list(template.fields) + [None] * (10 - len(template.fields))
    fields[0] = (int(fields[0]) + len(since)) % 2**32  # next-incoming-id: one per transfer frame
    fields[5] = (int(fields[5]) + new_deliveries) % 2**32  # delivery-count
    fields[6] = max(int(fields[6]) - new_deliveries, 0)  # link-credit
    fields[7], fields[8], fields[9] = None, False, True  # available, drain, echo
    return peer.write_raw(receiver.channel, encode_flow(fields[:10]))


def test_drain_sent_with_the_attach(peers):
    """A drain in the same write as the Attach (before the endpoint has set the link up) is
    answered once, with the credit used up, and the link serves later credit normally."""
    peer = connected(peers)
    session = peer.begin()
    put_token(peer, session)
    sender = publish_to_partition(peer, session, 1, ["x", "y"])
    peer.detach(sender)
    receiver = session.receiver(f"receiver-{uuid.uuid4().hex[:8]}")
    receiver.source.address = f"{HUB}/ConsumerGroups/$Default/Partitions/1"
    receiver.target.address = receiver.name
    receiver.open()
    receiver.drain(5)  # attach, flow(credit 5, drain) in one write
    written = peer.flush()
    attach = peer.sent(written, "attach", "Attach (receiver)", name=receiver.name)
    receiver.channel, receiver.handle = attach.channel, int(attach["handle"])
    request = peer.sent(written, "flow", "Flow (drain with the attach)", handle=receiver.handle)
    assert request["drain"], request.describe(peer.t0)
    answer = peer.answer(request, "Flow (drain=true) after the attach",
                         lambda f: f.name == "flow" and f.link == receiver.name and f["drain"])
    # Both stored events are delivered first, then the rest of the credit is used up.
    assert answer["link-credit"] == 0 and answer["delivery-count"] == 5, answer.describe(peer.t0)
    transfers = peer.link_frames(receiver, IN, "transfer")
    assert len(transfers) == 2, [t.describe(peer.t0) for t in transfers]
    drains = [f for f in peer.link_frames(receiver, IN, "flow") if f["drain"]]
    assert len(drains) == 1, "the drain is answered once"
    peer.detach(receiver)
    peer.end(session)
    peer.close()


def test_echo_flow_on_consume_link(peers):
    """5. A Flow with echo=true on a receiving link asks for the sender's flow state: a Flow for
    that link comes back."""
    peer = connected(peers)
    session = peer.begin()
    put_token(peer, session)
    receiver = peer.attach_receiver(session, f"{HUB}/ConsumerGroups/$Default/Partitions/1")
    receiver.flow(5)
    peer.flush()
    request = echo_flow(peer, receiver)
    assert request.name == "flow" and request["echo"], request.describe(peer.t0)
    answer = peer.answer(request, "Flow (echo=true)",
                         lambda f: f.name == "flow" and f.link == receiver.name)
    assert answer["delivery-count"] is not None and answer["link-credit"] is not None, (
        f"the echo answer lacks the link's state: {answer.describe(peer.t0)}")
    # Nothing was delivered (partition 1 is empty), so both sides see the same credit limit.
    limit = (int(answer["delivery-count"]) + int(answer["link-credit"])) % 2**32
    expected = (int(request["delivery-count"]) + int(request["link-credit"])) % 2**32
    assert limit == expected, (f"the echo answer's delivery-count + link-credit is {limit}, "
                               f"ours is {expected}: {answer.describe(peer.t0)}")
    peer.detach(receiver)
    peer.end(session)
    peer.close()


@pytest.mark.parametrize("variant", ["detach-unclosed", "close-without-detach-or-end",
                                     "end-with-links-attached"])
def test_link_and_session_teardown(peers, variant):
    """6. The other ways general-purpose clients tear down: a detach that does not close the link,
    a Close with sessions and links still up, an End with links still attached."""
    peer = connected(peers)
    session = peer.begin()
    put_token(peer, session)
    sender = peer.attach_sender(session, HUB)
    delivery, transfers = peer.send(sender, event("x"))
    assert peer.await_outcome(sender, transfers).outcome() == "accepted"
    delivery.settle()
    if variant == "detach-unclosed":
        peer.detach(sender, closed=False)
        peer.end(session)
    elif variant == "end-with-links-attached":
        peer.end(session)
    peer.close()


@pytest.mark.parametrize("layout", ["bare", "token-session-then-hub-session"])
def test_two_sessions_ended_in_reverse_order(peers, layout):
    """7. Two sessions, ended in the opposite order to the one they began in.

    The second layout is how a general-purpose client commonly arranges an Event Hubs
    connection: the token goes on a session of its own, the hub link on a second one."""
    peer = connected(peers)
    first = peer.begin()
    if layout != "bare":
        put_token(peer, first)
    second = peer.begin()
    assert first.channel != second.channel
    if layout != "bare":
        sender = peer.attach_sender(second, HUB)
        delivery, transfers = peer.send(sender, event("x"))
        assert peer.await_outcome(sender, transfers).outcome() == "accepted"
        delivery.settle()
        peer.detach(sender)
    peer.end(second)
    peer.end(first)
    peer.close()


@pytest.mark.parametrize("role", ["sender", "receiver"])
def test_attach_to_unknown_hub(peers, role):
    """8. The service refuses a link to an entity that does not exist by answering the Attach and
    detaching at once, closed, with `amqp:not-found`; the session and connection stay usable."""
    peer = connected(peers)
    session = peer.begin()
    if role == "sender":
        link = peer.attach_sender(session, "no-such-hub")
    else:
        link = peer.attach_receiver(session, "no-such-hub/ConsumerGroups/$Default/Partitions/0")
    attach = link.reply
    refusal = peer.pump_until(
        lambda: peer.incoming(attach.at, lambda f: f.name == "detach" and f.link == link.name),
        "Detach (refusing the unknown hub)", since=attach.at, verb="did not come")
    assert refusal["closed"], refusal.describe(peer.t0)
    assert refusal.error_condition() == "amqp:not-found", refusal.describe(peer.t0)
    # Proton answers the server's Detach once the link is closed locally.
    link.close()
    answer = peer.sent(peer.flush(), "detach", "Detach (answer)", handle=link.handle)
    assert answer["closed"]
    peer.end(session)
    peer.close()


def test_session_window_is_applied_per_transfer(peers):
    """9. The session's incoming window counts every transfer frame (AMQP 1.0 §2.5.6): with a
    window of a few frames, the server stops sending when it is used up and goes on when the
    client widens it, so a backlog larger than the window arrives whole, and no transfer ever
    goes past the window the client's last Begin or Flow gave."""
    peer = connected(peers, max_frame_size=4096)
    session = peer.begin()
    put_token(peer, session)
    texts = [f"w{i}" for i in range(12)]
    publish_to_partition(peer, session, 1, texts)
    # A second session whose window is three 4 KiB frames.
    narrow = peer.connection.session()
    narrow.incoming_capacity = 3 * 4096
    narrow.open()
    request = peer.sent(peer.flush(), "begin", "Begin (narrow window)")
    narrow.channel = request.channel
    peer.answer(request, "Begin", lambda f: f.name == "begin" and f["remote-channel"] == request.channel)
    window = int(request["incoming-window"])
    assert 0 < window < len(texts), f"Proton announced a window of {window}"
    receiver = peer.attach_receiver(narrow, f"{HUB}/ConsumerGroups/$Default/Partitions/1")
    receiver.flow(len(texts))
    messages, _ = peer.receive(receiver, len(texts))
    assert [m.properties["n"] for m in messages] == texts
    # Replay the session's frames in order: each transfer's id must be inside the window.
    limit, next_id, seen = window, 0, 0
    for frame in peer.frames:
        if frame.session != narrow.channel:
            continue
        if frame.direction == OUT and frame.name == "flow":
            limit = int(frame["next-incoming-id"] or 0) + int(frame["incoming-window"])
        elif frame.direction == IN and frame.name == "transfer":
            assert next_id < limit, f"transfer {next_id} beyond the window ({limit}): {frame.describe(peer.t0)}"
            next_id += 1
            seen += 1
    assert seen >= len(texts)
    peer.detach(receiver)
    peer.end(narrow)
    peer.end(session)
    peer.close()
