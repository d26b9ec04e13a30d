"""The WebSocket gateway: users' sockets in, their agents' events out, over NATS.

Rooms, in the order a frame travels:

- ``auth``      where a handshake carries its token, and the subprotocol to answer with
- ``app``       the Litestar app and its uvicorn server (the HTTP edge: Origin allow-list,
                tokens refused in URLs, then moves bytes only)
- ``transport`` one socket's reader, writer, replay task and bounded send queue
- ``session``   one connection's logic, sans I/O: frames and events in, ``commands`` out
- ``guard``     a session's credentials (renewal, expiry, revocation) and message rate, sans I/O
- ``framing``   client frames parsed and checked; the server frames the session sends
- ``outbox``    a session's bounded backlog, and frames held back for ``run_accepted``
- ``cursor``    where a session stands in its user's event log: dedupe, gaps, resume, replay
- ``hub``       which users and sockets are here; one live NATS subscription per user
- ``eventlog``  reading a user's stored events from the EVENTS stream (direct get)
- ``replay``    carrying out a session's Replay: gap check, paged reads, caught_up
- ``agents``    run submissions, cancels and listings as NATS requests to the agents
- ``authority`` token verification with the auth service's keys (JWKS over NATS), revocations
- ``revocations`` revocations remembered for a token lifetime, to refuse their tokens
- ``node``      the lifecycle and the NATS side: stream, heartbeat timer, reconnects, stop
- ``settings``  every setting, from the environment
- ``static/``   the files served at ``/`` (the chat UI)
"""

__all__: list[str] = []
