"""Which users and sockets are on this gateway, and how they hear their live events.

The EVENTS stream republishes each stored event to ``live.user.<id>.events``. A gateway hears
those in one of two ways (``LIVE_SUBSCRIPTION``, see
:class:`~services.ws_gateway.settings.LiveSubscription`):

- ``all`` (the default): one subscription to ``live.user.*.events`` for the gateway's life; an
  event is dispatched by its subject to the user's sockets, or dropped when the user has none
  here. The cheapest per event.
- ``per_user``: the first socket of a user subscribes (core NATS) to that user's subject, the last
  socket to leave unsubscribes: a gateway receives only its own users' events.

Either way the messages reach the hub raw, from nats-py's read loop
(:meth:`shared.natsclient.Client.subscribe_raw`): no ``Msg``, headers dict, queue or task switch
per event.

Each event is fanned out to every socket of that user through its session and bounded send
queue: the callback never awaits a socket, so a slow one cannot hold up the subscription or
anyone else.

Detecting a missed live event: republish headers, not an ordered consumer per user. The stream
republishes every stored event with ``Nats-Sequence`` (the frame's ``seq``) and
``Nats-Last-Sequence`` (the same user's previous event). An event whose previous is past what a
socket has is proof that the live path lost something (a core-NATS message dropped, say while
the gateway's NATS connection was down). An ordered consumer per user would notice gaps too, but
it is a server-side consumer per connected user per gateway (10,000 users: 10,000 consumers,
each re-created after every NATS blip, with flow control and heartbeats of its own), where
republish costs one plain subscription and two headers. Gaps are rare; paying for them only when
they happen is the better trade.

Repair is per socket, in the session: each compares ``Nats-Last-Sequence`` with its own position
and replays the missing events from the stream (the resume code) before releasing the event that
showed the gap. Per socket rather than per user, because sockets of one user stand at different
places (one is mid-resume, one holds events for a submission) and each pages its replay through
its own send-queue bound; a slow tab must not stall a fast one. After the gateway's NATS
connection comes back, :meth:`Hub.repair` asks every socket to check the stream, so a quiet user
(no next event to reveal the gap) is repaired too.

A fresh socket (no resume) needs a position to compare with: the hub looks up the user's newest
stored event once per user when the first socket joins, and hands it to every socket as its
baseline. The same newest seq goes into heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import nats.errors
from nats.aio.subscription import Subscription

from services.ws_gateway.metrics import GATEWAY
from services.ws_gateway.transport import Connection
from shared import bus, subjects
from shared.natsclient import Client as NatsClient
from shared.natsclient import header
from shared.wire.revocation import Revocation

__all__ = ["Hub", "NewestSeq"]

log = logging.getLogger(__name__)

# How long a first socket waits for the server to confirm its user's subscription. NATS being
# away is no reason to turn the socket down: the SUB goes out again on reconnect, and repair
# covers the meantime.
_SUBSCRIBED_WITHIN_S = 2.0


class NewestSeq(Protocol):
    async def newest(self, user_id: str) -> int:
        """The seq of the user's newest stored event; 0 when there is none."""
        ...


@dataclass(eq=False, slots=True)
class _User:
    connections: set[Connection] = field(default_factory=set)
    subscription: Subscription | None = None
    last_seq: int = 0  # the newest stream position seen for this user
    known: bool = False  # last_seq is the user's newest (looked up, or seen live)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)  # the server has the SUB


class Hub:
    def __init__(self, nc: NatsClient, log_reader: NewestSeq, *, per_user: bool = True) -> None:
        self._nc = nc
        self._log = log_reader
        self._per_user = per_user
        self._users: dict[str, _User] = {}
        self._lookups: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Without per-user subscriptions: the one for every user's live events, confirmed."""
        if not self._per_user:
            await self._nc.subscribe_raw(subjects.live_user_events_all(), self._on_any_live)
            await bus.until_subscribed(self._nc)

    def connections(self, user_id: str | None = None) -> Iterator[Connection]:
        """Every connection here, or one user's."""
        users = self._users.values() if user_id is None else [self._users.get(user_id, _User())]
        for user in users:
            yield from tuple(user.connections)

    def count(self, user_id: str) -> int:
        """How many sockets ``user_id`` has here."""
        user = self._users.get(user_id)
        return len(user.connections) if user is not None else 0

    def __len__(self) -> int:
        """How many users have at least one socket here."""
        return len(self._users)

    def newest(self, user_id: str) -> int:
        """The newest seq of the user this gateway knows of (0: none, or not known yet)."""
        user = self._users.get(user_id)
        return user.last_seq if user is not None else 0

    async def join(self, conn: Connection) -> None:
        """Register ``conn``; returns once the server holds the user's live subscription.

        The first socket of a user subscribes; later ones wait (bounded) for that to be confirmed.
        """
        user = self._users.get(conn.user_id)
        if user is not None:
            user.connections.add(conn)
            if user.known:
                conn.session.baseline(user.last_seq)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SUBSCRIBED_WITHIN_S):
                    await user.subscribed.wait()  # the first socket may still be confirming it
            return
        user = self._users[conn.user_id] = _User({conn})
        if not self._per_user:
            self._look_up(conn.user_id, user)  # the subscription is in place since start()
            user.subscribed.set()
            return
        try:
            await self._subscribe(conn.user_id, user)
        finally:
            user.subscribed.set()  # confirmed, or given up on: nobody waits any longer

    async def _subscribe(self, user_id: str, user: _User) -> None:
        subject = subjects.live_user_events(user_id)
        try:
            subscription = await self._nc.subscribe_raw(subject, partial(self._on_live, user))
        except BaseException:
            if self._users.get(user_id) is user:
                del self._users[user_id]  # no half-registered user is left behind
            raise
        if self._users.get(user_id) is not user:
            await _unsubscribe(subscription)  # every socket left while we were subscribing
            return
        user.subscription = subscription
        self._look_up(user_id, user)  # after the SUB: NATS keeps their order
        # Once the socket is served, every event stored from then on must reach it: wait until
        # the server holds the SUB, not merely until nats-py has queued it.
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            async with asyncio.timeout(_SUBSCRIBED_WITHIN_S):
                await bus.until_subscribed(self._nc)

    async def leave(self, conn: Connection) -> None:
        """Forget ``conn``; the user's last socket takes the subscription with it."""
        user = self._users.get(conn.user_id)
        if user is None or conn not in user.connections:
            return
        user.connections.discard(conn)
        if user.connections:
            return
        del self._users[conn.user_id]
        if user.subscription is not None:
            await _unsubscribe(user.subscription)

    def repair(self) -> None:
        """The NATS connection is back: every socket checks the stream for what it missed."""
        for conn in self.connections():
            _safely(_repair, conn)

    def heartbeat(self) -> None:
        """One tick of the heartbeat timer for every socket here."""
        for user in tuple(self._users.values()):
            for conn in tuple(user.connections):
                _safely(_beat, conn, user.last_seq)

    def keepalive(self, now: float, timeout_s: float) -> None:
        """One tick of the WebSocket ping timer (``now`` on the loop's clock) for every socket."""
        for conn in self.connections():
            _safely(Connection.keepalive, conn, now, timeout_s)

    def revoke(self, revocation: Revocation) -> None:
        """Close the sockets of ``revocation.user_id`` whose token it covers."""
        for conn in self.connections(revocation.user_id):
            _safely(_revoke, conn, revocation)

    def expire(self, now: float) -> None:
        """One tick of the expiry timer (wall-clock ``now``) for every socket here."""
        for conn in self.connections():
            _safely(_expire, conn, now)

    async def close(self) -> None:
        for task in tuple(self._lookups):
            task.cancel()
        await asyncio.gather(*self._lookups, return_exceptions=True)

    def _look_up(self, user_id: str, user: _User) -> None:
        task = asyncio.create_task(self._baseline(user_id, user), name=f"newest-{user_id}")
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _baseline(self, user_id: str, user: _User) -> None:
        try:
            newest = await self._log.newest(user_id)
        except Exception as exc:
            # Sockets then take their position from their first event instead.
            log.warning("could not look up the newest event of user %s: %r", user_id, exc)
            return
        user.last_seq = max(user.last_seq, newest)
        user.known = True
        for conn in tuple(user.connections):
            conn.session.baseline(user.last_seq)

    # Live events arrive raw, straight from nats-py's read loop (Client.subscribe_raw).

    def _on_live(self, user: _User, subject: bytes, data: bytes, headers: bytes | None) -> None:
        """A message of one user's subscription (per_user)."""
        self._deliver(user, subject.decode(), data, headers)

    def _on_any_live(self, subject: bytes, data: bytes, headers: bytes | None) -> None:
        """A message of the one subscription for every user (all)."""
        name = subject.decode()
        user = self._users.get(subjects.user_of_live_events(name))
        if user is not None:  # else nobody here wants it
            self._deliver(user, name, data, headers)

    def _deliver(self, user: _User, subject: str, data: bytes, headers: bytes | None) -> None:
        try:
            seq = int(header(headers, b"Nats-Sequence"))  # type: ignore[arg-type]
            previous = int(header(headers, b"Nats-Last-Sequence") or 0)
        except (TypeError, ValueError):
            log.warning("live event on %s without a stream sequence; dropped", subject)
            return
        if not data.startswith(b"{"):
            # Sessions splice seq into the payload as a JSON object; anything else would reach
            # the browser as garbage. Producers encode with shared.wire.events, so this is a bug.
            log.warning("live event %d on %s is not a JSON object; dropped", seq, subject)
            return
        if user.known and previous > user.last_seq:
            log.warning(
                "live path skipped events on %s: got seq %d after %d, its previous is %d; "
                "sockets repair from the stream",
                subject,
                seq,
                user.last_seq,
                previous,
            )
        user.last_seq = max(user.last_seq, seq)
        user.known = True
        for conn in tuple(user.connections):
            _safely(Connection.deliver, conn, seq, data, previous)
        GATEWAY.until_sample -= 1  # the delivery lag is sampled (one int per event when due)
        if GATEWAY.until_sample <= 0:
            GATEWAY.sample_lag(data)
        if GATEWAY.tracing:  # a run's first and last deliveries join its trace
            GATEWAY.trace_delivery(data, headers, seq, len(user.connections))


def _repair(conn: Connection) -> None:
    conn.execute(conn.session.repair())


def _revoke(conn: Connection, revocation: Revocation) -> None:
    conn.execute(conn.session.revoke(revocation))


def _expire(conn: Connection, now: float) -> None:
    conn.execute(conn.session.expiry(now))


def _beat(conn: Connection, newest_seq: int) -> None:
    conn.execute(conn.session.heartbeat(newest_seq))


def _safely(action: Callable[..., None], conn: Connection, *args: object) -> None:
    """``action(conn, *args)``; one broken connection must not cost the others their turn."""
    try:
        action(conn, *args)
    except Exception:
        log.exception("socket of user %s failed", conn.user_id)


async def _unsubscribe(subscription: Subscription) -> None:
    try:
        await subscription.unsubscribe()
    except nats.errors.Error as exc:
        # Closing or draining connections refuse UNSUB; the server forgets the SUB with them.
        log.debug("unsubscribe from %s: %r", subscription.subject, exc)
