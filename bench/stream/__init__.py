"""``./dev bench stream``: streamed answers through the gateway to ``deltas=1`` sockets.

Rooms, in the order a run uses them:

- ``config``     what to measure, from the command line
- ``runner``     one run: nats-server, a gateway, the worker processes, clean-up, table and JSON
- ``phases``     many users streaming at once; one finished answer resumed
- ``publisher``  a process streaming answers as the agent does (MessageWriter over EventPublisher)
- ``loadgen``    a load-generator process holding one ``deltas=1`` socket per user
- ``client``     its sockets: every frame decoded, deltas joined and checked, tokens timed
- ``stamps``     tokens that carry their hand-over time, and the latency figures (pure)
- ``report``     the table and the verdict against the targets

It reuses the fan-out bench's pieces: ``bench.procs`` (gateway, stream), ``bench.worker``,
``bench.clients`` (the raw WebSocket client), ``bench.stats`` and ``bench.report``.
See bench/README.md, *Streaming*.
"""

__all__: list[str] = []
