"""The agent service: takes chat messages as runs, works them out loud, and always ends them.

intake.py         the RUNS queue: pulled only while a run slot is free; each message recorded
                  (running or queued, in its thread's order), acked, started; cancels find
                  messages still waiting
bus.py            NATS edge: cancel and list requests in (queue group "agents"), each
                  answered in its own task, a bounded number at once; replies out (never over
                  the payload limit); cancel broadcasts heard by every agent process
service.py        the answers: cancel (queued and waiting runs too), the lists
paging.py         the lists' keyset pages: positions, opaque cursors, pages cut to a byte budget
tasks.py          the run slots and the runs this process holds, one task each; promoting a
                  thread's next run; ending from outside a run that ignores its stop
runner.py         one run: agent_* events, the planner's steps, tool calls; says how it ended
messages.py       streamed messages: their ids (from the run), whole texts typed out at a pace
closing.py        ending a run for good: record, settle tool calls, announce the terminal event
supervision.py    leases renewed, cancels heard, dead agents' runs taken over and ended
control.py        a run's handle: stop it and why, and how long its lease holds
planner.py        the Planner interface and the built-in deterministic InfraAnalystPlanner
understanding.py  what a message (and its thread) asks: metric, period, services, intent
narration.py      the built-in planner's thoughts and answer, worded from tool results
toolclient.py     one tool call over NATS: heartbeats watched, failure codes, cancelling it
repository.py     threads and run records (SQLAlchemy); ledger.py a run's lifecycle in the
                  shared database: intake, claims, leases, endings, open tool calls, as whole
                  transactions (recording.py, transactions.py, statements.py, database.py);
                  models.py the tables
node.py           the process lifecycle; __main__.py runs it; settings.py configures it
"""

__all__: list[str] = []
