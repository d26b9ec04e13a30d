"""``python -m services.agent``: settings from the environment, then one agent node until a signal.

The process supervisor waits for one stdout line containing ``agentwire service ready: agent``,
printed only once the node is subscribed, so "ready" means "taking runs". Bad configuration exits
with status 2 and one line naming the variable at fault. SIGTERM or SIGINT stops taking runs,
finishes (or fails) the runs in flight, closes, and exits 0.

``python -m services.agent migrate`` (``./dev migrate``) brings the database named by
``DATABASE_URL`` to the newest schema and exits; it needs no other setting. Start-up applies the
migrations itself unless ``AGENT_MIGRATE_ON_START=false``; then it exits 3 on an old schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from services.agent import migrate
from services.agent.node import AgentNode
from services.agent.ops import DEFAULT_PORT, PORT_VARIABLE, AgentOps
from services.agent.repository import open_engine
from services.agent.settings import AgentSettings, database_url_from_env
from shared import tracing
from shared.logging import configure
from shared.settings import Env, ObservabilitySettings, SettingsError

__all__ = ["READY_LINE", "main", "migrate_main"]

READY_LINE = "agentwire service ready: agent"
_EXIT_BAD_CONFIG = 2
_EXIT_STARTUP_FAILED = 3  # as the auth service's


async def _serve(settings: AgentSettings, observability: ObservabilitySettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    node = AgentNode(settings)
    ops = AgentOps(node, observability, settings.agent_name)
    await ops.start()  # /readyz answers (not ready) while NATS is still away
    try:
        if await _started_unless_stopped(node, stop):
            await ops.announce()
            print(f"{READY_LINE} ({settings.agent_name})", flush=True)
            await stop.wait()
    finally:
        await ops.stop()
        await node.stop()


async def _started_unless_stopped(node: AgentNode, stop: asyncio.Event) -> bool:
    """Start the node unless a signal comes first: with NATS down, connect retries for ever."""
    starting = asyncio.create_task(node.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if starting.done():
        starting.result()  # a start-up error propagates from here
        return True
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    return False


def migrate_main() -> int:
    configure("agent", "INFO")
    return migrate.MIGRATIONS.command(lambda: database_url_from_env(Env()), open_engine)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["migrate"]:
        return migrate_main()
    if args:
        print("usage: python -m services.agent [migrate]", file=sys.stderr)
        return _EXIT_BAD_CONFIG
    try:
        settings = AgentSettings.from_env(Env())
        observability = ObservabilitySettings.from_env(
            Env(), port_variable=PORT_VARIABLE, default_port=DEFAULT_PORT
        )
    except SettingsError as exc:
        print(f"agent: {exc}", file=sys.stderr)
        return _EXIT_BAD_CONFIG
    configure("agent", settings.log_level, observability.log_format)
    tracing.configure("agent", observability.otlp_endpoint)
    try:
        asyncio.run(_serve(settings, observability))
    except SettingsError as exc:  # found only when used, such as a DATABASE_URL no driver takes
        print(f"agent: {exc}", file=sys.stderr)
        return _EXIT_BAD_CONFIG
    except migrate.SchemaOutOfDate as exc:
        print(f"agent: {exc}", file=sys.stderr)
        return _EXIT_STARTUP_FAILED
    finally:
        tracing.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
