"""The smallest agent worth running: it thinks, calls a tool through the tool runner, and
streams its answer. Run it from the repository root, then chat at http://127.0.0.1:8002/::

    AGENTS=examples.hello_agent:hello DEFAULT_AGENT=hello ./dev up

(without ``DEFAULT_AGENT`` a message runs it only when it names it: ``"agent": "hello"``).
"""

import re

from agentwire_sdk import RunContext, ToolFailed, agent


@agent(description="Says hello and names the slowest sample service")
async def hello(run: RunContext) -> None:
    async with run.thinking() as thought:  # a thought, shown as it is written
        thought.write(f"Someone said {run.message!r}. ")
        thought.write("Let me see which service is slowest today.")
    try:
        report = await run.call_tool(
            "analyze_performance", {"metric": "latency_ms", "period": "1d"}
        )
        slowest = f"the slowest service today is {report['worst_service']}"
    except ToolFailed as failed:  # the user saw the call fail; say so and carry on
        slowest = f"I could not check the services ({failed.code})"
    async with run.answer() as answer:  # the answer, streamed word by word
        for word in re.findall(r"\S+\s*", f"Hello! You said {run.message!r}, and {slowest}."):
            answer.write(word)
