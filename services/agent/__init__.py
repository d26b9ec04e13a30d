"""The agent service: takes chat messages as runs and works them out loud.

bus.py            NATS edge: run submissions in (queue group "agents"), the reply out
service.py        accepting a run: ids, thread ownership, records, the background task per run
runner.py         one run: agent_* events, the planner's steps, tool calls, one terminal event
planner.py        the Planner interface and the built-in deterministic InfraAnalystPlanner
understanding.py  what a message (and its thread) asks: metric, period, services, intent
narration.py      the built-in planner's thoughts and answer, worded from tool results
toolclient.py     one tool call over NATS, with its timeout and failure codes
repository.py     threads and runs storage (the only SQLAlchemy code); models.py the tables
node.py           the process lifecycle; __main__.py runs it; settings.py configures it
"""

__all__: list[str] = []
