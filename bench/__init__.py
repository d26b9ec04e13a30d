"""``./dev bench``: agentwire's gateway against nats-server's own WebSocket listener.

Rooms, in the order a run uses them:

- ``config``     what to measure, from the command line
- ``runner``     one run: the fleet of processes, every scenario, clean-up, table and JSON
- ``scenarios``  one scenario (N users): servers up, each system through the same phases
- ``phases``     the latency, flat-out and reconnect phases, and CPU sampling
- ``publisher``  the process publishing events through JetStream
- ``loadgen``    a load-generator process holding many sockets
- ``clients``    its sockets (agentwire ``/ws``, NATS over nats-server's WebSocket)
- ``wsframes``   WebSocket framing, sans I/O;  ``natsproto``  the NATS protocol, sans I/O
- ``stats``      latency histograms, CPU and RSS;  ``report``  the table and the targets
- ``worker``     driving a worker process over a pipe;  ``procs``  gateways and nats-server

``bench.runs`` is the other benchmark, ``./dev bench runs``: the whole stack's runs, from users'
sockets (a burst, open-loop rates, one and two agent processes).

See bench/README.md for what is measured, how, and what the figures say.
"""

__all__: list[str] = []
