"""The WebSocket gateway: users' sockets in, their agents' events out, over NATS.

Rooms, in the order a frame travels:

- ``auth``      where a handshake carries its token, and the subprotocol to answer with
- ``app``       the Litestar app and its uvicorn server (the HTTP edge; moves bytes only)
- ``transport`` one socket's reader, writer and bounded send queue
- ``session``   one connection's logic, sans I/O: frames and events in, commands out
- ``hub``       which users and sockets are here; one live NATS subscription per user
- ``node``      the lifecycle and the NATS side: stream, run submissions, graceful stop
- ``settings``  every setting, from the environment
"""

__all__: list[str] = []
