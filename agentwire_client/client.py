"""An async agentwire client: accounts over HTTP, then one WebSocket that keeps itself alive.

    async with Client(ws_url, await login(auth_url, email, password)) as client:
        accepted = await client.send("Why is the api slow this week?")
        async for frame in client:
            print(frame["type"])
            if frame.get("run_id") == accepted["run_id"] and frame["type"] in TERMINAL_TYPES:
                break

The socket authenticates with an ``Authorization`` header. When it drops the client reconnects
(exponential backoff with jitter; at once after close 4000) with ``?after_seq=<last seq>``, so the
iterator yields every event once, in order: replayed duplicates are dropped by seq. A socket that
stays silent past ``idle_timeout_s`` is pinged, and replaced if the pong does not come. Requests
made while disconnected are sent on the next connection (a message keeps its ``client_msg_id``,
so the server answers a resend with the original run). Close 4401 ends the client with
:class:`Unauthorized`, 4403 (the session was ended elsewhere) with :class:`SessionRevoked`.

Given a :class:`Session` instead of a token string, the client keeps its socket past the access
token's lifetime: on ``token_expiring``, and at 80% of the lifetime, it refreshes the session and
sends ``{"type": "auth", "token"}`` on the open socket; reconnects use the newest token; a 4401
gets one refresh and a reconnect before the client gives up::

    session = await Session.login(auth_url, email, password)
    async with Client(ws_url, session) as client: ...

With ``deltas=True`` the socket asks for streamed text (``/ws?deltas=1``, kept on every
reconnect along with ``after_seq``): thoughts and the answer also come as ``message_started`` and
``message_delta`` events, long tools send ``tool_progress``, and a socket that joins with no
position first gets one ``run_snapshot`` per run under way (its ``upto_seq`` becomes the
position). :class:`~agentwire_client.transcript.Transcript` folds all of it into the text so far
of each message::

    async with Client(ws_url, token, deltas=True) as client:
        await client.send("Why is the api slow this week?")
        async for update in Transcript().follow(client):
            if isinstance(update, MessageUpdate):
                print(update.message.kind, update.message.text)

Without ``deltas`` the client sees exactly the events it always did.

Errors are in ``errors``; ``login`` and ``register`` in ``auth``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from agentwire_client.errors import (
    AgentwireError,
    AuthError,
    ConnectionLost,
    ServerError,
    SessionRevoked,
    Unauthorized,
)
from agentwire_client.protocol import (
    SUBPROTOCOL,
    AfterClose,
    AgentInfo,
    CloseCode,
    Page,
    PendingRequest,
    Requests,
    SeqTracker,
    after_close,
    backoff_delay,
    is_event,
    page_frame,
    page_key,
    with_query,
)
from agentwire_client.session import Session

__all__ = ["Client", "Connector", "connect_with_header"]

Frame = dict[str, Any]
Connector = Callable[[str, str], Awaitable[ClientConnection]]
_END = object()
_PING = json.dumps({"type": "ping"})
_AUTH_REFUSED = frozenset({"unauthorized", "session_revoked"})  # error codes answering ``auth``


async def connect_with_header(url: str, token: str) -> ClientConnection:
    """The default connector: the token in an ``Authorization`` header (never in the URL)."""
    return await websockets.connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
        open_timeout=10,
        close_timeout=2,
        max_size=2**22,
    )


class Client:
    def __init__(
        self,
        ws_url: str,
        token: str | Session,
        *,
        after_seq: int | None = None,
        deltas: bool = False,
        reconnect: bool = True,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 15.0,
        idle_timeout_s: float = 30.0,
        pong_timeout_s: float = 10.0,
        request_timeout_s: float = 15.0,
        connector: Connector = connect_with_header,
        renew_at: float = 0.8,
        renew_retry_s: float = 5.0,
    ) -> None:
        self.ws_url = ws_url
        self.deltas = deltas
        self._url = with_query(ws_url, "deltas", "1") if deltas else ws_url
        self.session = token if isinstance(token, Session) else None
        self._token = token if isinstance(token, str) else ""
        self._renew_at = renew_at
        self._renew_retry_s = renew_retry_s
        self._renew_now = asyncio.Event()  # set by token_expiring
        self._auth_sent = False  # an auth frame awaits its auth_ok (or its error)
        self._auth_failed: Unauthorized | None = None  # the refresh was refused mid-socket
        self._reconnect = reconnect
        self._backoff = (backoff_base_s, backoff_max_s)
        self._idle_timeout_s = idle_timeout_s
        self._pong_timeout_s = pong_timeout_s
        self._request_timeout_s = request_timeout_s
        self._connector = connector
        self._seq = SeqTracker(after_seq)
        self._requests = Requests()
        self._frames: asyncio.Queue[Any] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()
        self._error: AgentwireError | None = None
        self._closing = False
        self._drop_now = False
        self.state = "idle"
        self.connections = 0  # sockets opened so far (1 + reconnects)

    @property
    def token(self) -> str:
        """The newest access token: what the next connect and the next ``auth`` frame use."""
        return self.session.access_token if self.session else self._token

    @property
    def last_seq(self) -> int | None:
        return self._seq.last_seq

    @property
    def duplicates(self) -> int:
        """Events dropped because their seq had been seen already."""
        return self._seq.duplicates

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self, timeout_s: float = 10.0) -> None:
        """Start the connection loop and wait for the first socket to open."""
        self._task = asyncio.create_task(self._run(), name="agentwire-client")
        opened = asyncio.create_task(self._opened.wait())
        await asyncio.wait(
            {opened, self._task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        opened.cancel()
        if self._task.done() and not self._task.cancelled() and self._task.exception():
            raise self._task.exception()  # e.g. an invalid URL: not worth retrying
        if self._error is not None:
            raise self._error
        if not self._opened.is_set():
            await self.close()
            raise ConnectionLost("unreachable", f"could not connect to {self.ws_url}")

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._finish("closed", ConnectionLost("closed", "the client was closed"))

    async def reconnect(self) -> None:
        """Drop the socket (as a network change would); the client reconnects and resumes."""
        if self._ws is not None:
            self._drop_now = True
            await self._ws.close(CloseCode.SERVER_RESTART, "client reconnecting")

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> Frame:
        """Every frame, events deduplicated by seq; ends when the client closes."""
        frame = await self._frames.get()
        if frame is _END:
            self._frames.put_nowait(_END)  # every later reader ends too
            if self._error is not None and not self._closing:
                raise self._error
            raise StopAsyncIteration
        return dict(frame)

    # Requests

    async def send(
        self,
        content: str,
        *,
        thread_id: str | None = None,
        client_msg_id: str | None = None,
        agent: str | None = None,
    ) -> Frame:
        """Send a message; returns its ``run_accepted``: ``{run_id, thread_id, state, ahead?}``,
        ``state`` being ``starting``, or ``queued`` (``ahead`` runs before it) until its
        ``agent_started``. ``agent`` names which agent runs it (one of :meth:`list_agents`);
        without it the deployment's default does. Raises ServerError ``intake_unavailable`` when
        the message could not be stored (nothing will run: send it again), ``unknown_agent``
        when no agent has that name (nothing is stored), or another code if it was refused."""
        msg_id = client_msg_id or uuid.uuid4().hex
        frame: Frame = {"type": "message", "content": content, "client_msg_id": msg_id}
        if thread_id:
            frame["thread_id"] = thread_id
        if agent:
            frame["agent"] = agent
        return await self._request(frame, "run_accepted", msg_id)

    async def list_agents(self) -> list[AgentInfo]:
        """The deployment's agents, the default first::

            for agent in await client.list_agents():
                print(agent.name, "(default)" if agent.default else "", agent.description)

        Raises ServerError ``no_agent_available`` when no agent process answered in time."""
        reply = await self._request({"type": "list_agents"}, "agents", None)
        return [AgentInfo.from_wire(item) for item in reply.get("agents") or []]

    async def cancel(self, run_id: str) -> Frame:
        """Stop a run; returns ``cancel_accepted`` (``state``: cancelling, or how it ended)."""
        return await self._request({"type": "cancel", "run_id": run_id}, "cancel_accepted", run_id)

    async def list_threads(self, *, limit: int | None = None, cursor: str | None = None) -> Page:
        """A page of your threads, most recently used first (50 unless ``limit``, at most 200);
        ``page.next_cursor`` passed as ``cursor`` gives the next page::

            page = await client.list_threads()
            while page.next_cursor:
                page = await client.list_threads(cursor=page.next_cursor)
        """
        frame = page_frame({"type": "list_threads"}, limit, cursor)
        reply = await self._request(frame, "threads", page_key(None, cursor))
        return Page(reply["threads"], reply.get("next_cursor"))

    async def list_runs(
        self, thread_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """A page of a thread's runs, newest first; paged as :meth:`list_threads`."""
        frame = page_frame({"type": "list_runs", "thread_id": thread_id}, limit, cursor)
        reply = await self._request(frame, "runs", page_key(thread_id, cursor))
        return Page(reply["runs"], reply.get("next_cursor"))

    async def approve(self, approval_id: str) -> Frame:
        """Let the tool call that waits for a person (``approval_requested``) run. Returns
        ``approval_decided``: ``first`` False when another tab decided first (``decision`` is
        then theirs). ServerError ``approval_not_found`` for one that is not yours."""
        frame: Frame = {"type": "approve", "approval_id": approval_id}
        return await self._request(frame, "approval_decided", approval_id)

    async def deny(self, approval_id: str, reason: str | None = None) -> Frame:
        """Refuse it: the tool does not run, the agent is told ``reason``; answered as
        :meth:`approve`."""
        frame: Frame = {"type": "deny", "approval_id": approval_id}
        if reason:
            frame["reason"] = reason
        return await self._request(frame, "approval_decided", approval_id)

    async def run_events(self, run_id: str, *, after_seq: int, upto_seq: int) -> Frame:
        """One run's events stored after ``after_seq`` up to ``upto_seq``, compacted, as its
        ``run_snapshot`` (``{run_id, thread_id, upto_seq, events}``). With a finished run's
        ``first_seq - 1`` and ``last_seq`` (from :meth:`list_runs`) it is the whole run, to show
        a thread again after a reload. The answer is history: the client's position is left as
        it is. Feed it to :meth:`Transcript.apply` to fold it like live events."""
        frame: Frame = {"type": "run_events", "run_id": run_id}
        frame |= {"after_seq": after_seq, "upto_seq": upto_seq}
        return await self._request(frame, "run_snapshot", run_id)

    async def _request(self, frame: Frame, reply_type: str, key: str | None) -> Frame:
        if self._error is not None:
            raise self._error
        request = PendingRequest(frame, reply_type, key, asyncio.get_running_loop().create_future())
        self._requests.add(request)
        if self._ws is not None:
            try:
                await self._ws.send(json.dumps(frame))
            except websockets.ConnectionClosed:
                pass  # sent again on the next connection
        try:
            return dict(await asyncio.wait_for(request.waiter, self._request_timeout_s))
        except TimeoutError:
            raise AgentwireError(
                "timeout", f"no {reply_type} in {self._request_timeout_s} s"
            ) from None
        finally:
            self._requests.remove(request)

    # The connection loop

    async def _run(self) -> None:
        attempt = 0
        refreshed = False  # one refresh per 4401 until a socket is heard from: no loop
        while not self._closing:
            self.state = "connecting"
            code, reason, heard = await self._connect_once()
            if heard:
                attempt, refreshed = 0, False
            if self._closing:
                return
            if self._auth_failed is not None:
                self._finish("unauthorized", self._auth_failed)
                return
            action = after_close(code)
            if action is AfterClose.UNAUTHORIZED and self.session and not refreshed:
                refreshed = True  # most likely the token ran out while we were away
                if await self._refresh_or_fail(reason):
                    self._drop_now = True
                    continue
                return
            if action is AfterClose.UNAUTHORIZED:
                self._finish("unauthorized", Unauthorized("unauthorized", reason))
                return
            if action is AfterClose.REVOKED:
                self._finish("revoked", SessionRevoked("session_revoked", reason))
                return
            if action is AfterClose.STOP or not self._reconnect:
                self._finish("closed", ConnectionLost(f"closed_{code}", reason))
                return
            if self._drop_now or (action is AfterClose.RECONNECT_NOW and attempt == 0):
                delay = random.random() * 0.25
            else:
                delay = backoff_delay(attempt, *self._backoff)
            self._drop_now = False
            attempt += 1
            self.state = "reconnecting"
            await asyncio.sleep(delay)

    async def _connect_once(self) -> tuple[int | None, str, bool]:
        """One socket's life: (close code or None if it never opened, reason, heard anything)."""
        try:
            ws = await self._connector(self._seq.url(self._url), self.token)
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            return None, str(exc), False
        renewer = asyncio.create_task(self._keep_token_fresh(ws)) if self.session else None
        try:
            await self._resend(ws)
            self._ws = ws
            self.state = "open"
            self.connections += 1
            self._opened.set()
            return await self._read(ws)
        except websockets.ConnectionClosed:
            return ws.close_code, ws.close_reason or "", False
        finally:
            self._ws = None
            self._auth_sent = False
            if renewer is not None:
                renewer.cancel()
                await asyncio.gather(renewer, return_exceptions=True)

    # Token renewal

    async def _keep_token_fresh(self, ws: ClientConnection) -> None:
        """While ``ws`` is open: renew at ``renew_at`` of the token's lifetime, or when warned."""
        assert self.session is not None
        self._renew_now.clear()
        while True:
            pair = self.session.pair
            due = pair.expires_at - (1 - self._renew_at) * pair.lifetime_s - time.time()
            try:
                await asyncio.wait_for(self._renew_now.wait(), max(0.0, due))
            except TimeoutError:
                pass
            self._renew_now.clear()
            try:
                # shielded: a socket closing mid-refresh must not lose a pair the auth service
                # already rotated to (the spent token would then be reused: session revoked)
                fresh = await asyncio.shield(self.session.refresh(pair.refresh_token))
            except AuthError as exc:  # the session is over: end the client, do not reconnect
                self._auth_failed = Unauthorized(exc.code, exc.message)
                await ws.close()
                return
            except (httpx.HTTPError, OSError):  # auth unreachable: retry while the token works
                await asyncio.sleep(self._renew_retry_s)
                continue
            self._auth_sent = True
            await ws.send(json.dumps({"type": "auth", "token": fresh.access_token}))
            self._renew_now.clear()  # a warning during the refresh was about the old token

    async def _refresh_or_fail(self, reason: str) -> bool:
        """After a 4401: True with a fresh token to reconnect with; else the client is ended."""
        assert self.session is not None
        try:
            await self.session.refresh()
            return True
        except AuthError as exc:
            self._finish("unauthorized", Unauthorized(exc.code, exc.message))
        except (httpx.HTTPError, OSError) as exc:
            self._finish("unauthorized", Unauthorized("unauthorized", f"{reason}; {exc}"))
        return False

    async def _resend(self, ws: ClientConnection) -> None:
        """Requests still unanswered go out again (or for the first time) on a new socket."""
        sent: set[int] = set()
        while todo := [r for r in self._requests.pending if id(r) not in sent]:
            for request in todo:
                sent.add(id(request))
                await ws.send(json.dumps(request.frame))

    async def _read(self, ws: ClientConnection) -> tuple[int | None, str, bool]:
        heard = False
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), self._idle_timeout_s)
                except TimeoutError:
                    raw = await self._ping(ws)
                    if raw is None:
                        return CloseCode.ABNORMAL, "heartbeat timeout", heard
                heard = True
                self._handle(raw)
        except websockets.ConnectionClosed:
            return ws.close_code, ws.close_reason or "", heard

    async def _ping(self, ws: ClientConnection) -> str | bytes | None:
        """The socket went quiet: the next frame after a ping, or None if it is dead."""
        await ws.send(_PING)
        try:
            return await asyncio.wait_for(ws.recv(), self._pong_timeout_s)
        except TimeoutError:
            ws.transport.abort()  # no close handshake with a peer that does not answer
            return None

    def _handle(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            return
        if not isinstance(frame, dict) or not self._seq.accept(frame):
            return
        kind = frame.get("type")
        if kind == "token_expiring":
            self._renew_now.set()
        elif kind == "auth_ok":
            self._auth_sent = False
        elif kind == "error" and self._auth_sent:
            if (frame.get("data") or {}).get("code") in _AUTH_REFUSED:
                self._auth_sent = False  # our auth frame's answer, not a request's
                self._frames.put_nowait(frame)
                return
        request = None if is_event(frame) else self._requests.match(frame)
        if kind == "run_snapshot" and request is None:  # sent on joining: where we now stand
            self._seq.snapshot(int(frame.get("upto_seq") or 0))
        if request is not None and not request.waiter.done():
            if frame.get("type") == "error":
                data = frame.get("data") or {}
                request.waiter.set_exception(
                    ServerError(data.get("code", "?"), data.get("message", ""))
                )
            else:
                request.waiter.set_result(frame)
        self._frames.put_nowait(frame)

    def _finish(self, state: str, error: AgentwireError) -> None:
        if self.state in ("closed", "unauthorized", "revoked"):
            return
        self.state = state
        self._error = self._error or error
        for request in self._requests.drain():
            if not request.waiter.done():
                request.waiter.set_exception(error)
        self._frames.put_nowait(_END)
