"""``./dev bench runs``: the whole stack, real services, measured from users' sockets.

A burst of one message from every user at once, then open-loop rates up to saturation, with one
and with two agent processes; every run checked event by event. Rooms, in the order a run uses
them:

- ``config``       what to measure, from the command line
- ``runner``       one run: a stack per agent count, every phase, clean-up, table and JSON
- ``stack``        the stack under test (devstack's ``Stack``, more agent processes, tokens)
- ``phases``       the burst and one open-loop rate, CPU meters, the stream check
- ``loadgen``      a load-generator process: users' sockets, the send schedule
- ``checker``      one process's frames checked against the protocol's rules, sans I/O
- ``tally``        a phase's figures from the checker, merged over the load generators
- ``streamcheck``  lost events: the EVENTS stream against what each socket received
- ``verdict``      kept up, saturated, limited by, and the issue's targets
- ``report``       the tables

See bench/README.md for what is measured, how, and what the figures say.
"""

__all__: list[str] = []
