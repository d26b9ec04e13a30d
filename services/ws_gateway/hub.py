"""Which users and sockets are on this gateway, and the one live subscription per user.

The first socket of a user subscribes (core NATS) to ``live.user.<id>.events``, where the EVENTS
stream republishes each stored event; the last socket to leave unsubscribes. Each event is fanned
out to every socket of that user through its session and bounded send queue: the callback never
awaits a socket, so a slow one cannot hold up the subscription or anyone else.

The republish headers carry the event's stream position (``Nats-Sequence``, the frame's ``seq``)
and the same user's previous position (``Nats-Last-Sequence``). The hub remembers the last
position it saw per user; a ``Nats-Last-Sequence`` beyond it means the live path skipped an event
(a core-NATS message lost, say during a reconnect). Today that is logged as a warning. Repair
plugs in at exactly that point in :meth:`Hub._on_live`: fetch the missing positions from the
stream for this user and deliver them, in order, before the event that revealed the gap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.ws_gateway.transport import Connection
from shared import subjects

__all__ = ["Hub"]

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _User:
    connections: set[Connection] = field(default_factory=set)
    subscription: Subscription | None = None
    last_seq: int = 0  # the last stream position seen for this user; 0 = none yet


class Hub:
    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._users: dict[str, _User] = {}

    def connections(self, user_id: str | None = None) -> Iterator[Connection]:
        """Every connection here, or one user's."""
        users = self._users.values() if user_id is None else [self._users.get(user_id, _User())]
        for user in users:
            yield from tuple(user.connections)

    def __len__(self) -> int:
        """How many users have at least one socket here."""
        return len(self._users)

    async def join(self, conn: Connection) -> None:
        """Register ``conn``; for a user's first socket, subscribe to the user's live events."""
        user = self._users.get(conn.user_id)
        if user is not None:
            # The first socket's SUB went out before anything this socket can send, and NATS
            # keeps one connection's order, so this socket misses nothing it triggers.
            user.connections.add(conn)
            return
        user = self._users[conn.user_id] = _User({conn})
        subject = subjects.live_user_events(conn.user_id)
        try:
            subscription = await self._nc.subscribe(subject, cb=partial(self._on_live, user))
        except BaseException:
            if self._users.get(conn.user_id) is user:
                del self._users[conn.user_id]  # no half-registered user is left behind
            raise
        if self._users.get(conn.user_id) is user:
            user.subscription = subscription
        else:
            await _unsubscribe(subscription)  # every socket left while we were subscribing

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

    async def _on_live(self, user: _User, msg: Msg) -> None:
        headers = msg.headers or {}
        try:
            seq = int(headers["Nats-Sequence"])
            previous = int(headers.get("Nats-Last-Sequence", "0"))
        except (KeyError, ValueError):
            log.warning("live event on %s without a stream sequence; dropped", msg.subject)
            return
        if not msg.data.startswith(b"{"):
            # Sessions splice seq into the payload as a JSON object; anything else would reach
            # the browser as garbage. Producers encode with shared.wire.events, so this is a bug.
            log.warning("live event %d on %s is not a JSON object; dropped", seq, msg.subject)
            return
        if user.last_seq and previous > user.last_seq:
            log.warning(
                "live path skipped events on %s: got seq %d after %d, its previous is %d",
                msg.subject,
                seq,
                user.last_seq,
                previous,
            )
        user.last_seq = max(user.last_seq, seq)
        for conn in tuple(user.connections):
            try:
                conn.deliver(seq, msg.data)
            except Exception:
                # One broken connection must not cost the user's other sockets this event.
                log.exception("delivering seq %d to a socket of %s failed", seq, msg.subject)


async def _unsubscribe(subscription: Subscription) -> None:
    try:
        await subscription.unsubscribe()
    except nats.errors.Error as exc:
        # Closing or draining connections refuse UNSUB; the server forgets the SUB with them.
        log.debug("unsubscribe from %s: %r", subscription.subject, exc)
