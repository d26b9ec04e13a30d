"""``python -m services.tools``: run the tool runner until SIGTERM or SIGINT.

Exit status: 0 after a clean stop, 2 when the environment is misconfigured (the message names
the variable; a per-tool override naming no known tool counts). The ready line on stdout tells a
supervisor that calls are being taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable

from services.tools.builtin import builtin_registry, metrics
from services.tools.bus import ToolRunnerNode
from services.tools.infra import DeferredInfra
from services.tools.ops import DEFAULT_PORT, PORT_VARIABLE, ToolsOps
from services.tools.registry import Registry
from services.tools.settings import ToolsSettings
from shared import tracing
from shared.logging import configure
from shared.settings import Env, ObservabilitySettings, SettingsError

__all__ = ["READY_LINE", "main", "serve"]

READY_LINE = "agentwire service ready: tools"


async def serve(
    settings: ToolsSettings,
    stop: asyncio.Event,
    registry: Registry | None = None,
    observability: ObservabilitySettings | None = None,
) -> None:
    """Take tool calls until ``stop`` is set, then finish the calls in flight and return.

    With ``observability``: ``/healthz``, ``/readyz``, ``/metrics`` and NATS discovery too."""
    metrics.sample()  # build the sample now rather than during the first call
    infra = DeferredInfra()  # the users' changes, in NATS once the node has connected
    registry = registry or builtin_registry(settings.slow_task_dir, infra)
    node = ToolRunnerNode(settings, registry, infra)
    ops = ToolsOps(node, observability, registry) if observability else None
    if ops is not None:
        await ops.start()  # /readyz answers (not ready) while NATS is still away
    try:
        if not await _unless_stopped(node.start(), stop):
            return
        try:
            if ops is not None:
                await ops.announce()
            print(READY_LINE, flush=True)
            await stop.wait()
        finally:
            if ops is not None:
                await ops.withdraw()  # before the connection drains
            await node.stop()
    finally:
        if ops is not None:
            await ops.stop()


async def _unless_stopped(start: Awaitable[None], stop: asyncio.Event) -> bool:
    """Await ``start`` unless ``stop`` is set first: NATS may not answer for a long while."""
    starting = asyncio.ensure_future(start)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if starting.done():
        starting.result()  # a failed start-up raises here
        return True
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    return False


async def _run(settings: ToolsSettings, observability: ObservabilitySettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop, observability=observability)


def main() -> int:
    try:
        settings = ToolsSettings.from_env()
        observability = ObservabilitySettings.from_env(
            Env(), port_variable=PORT_VARIABLE, default_port=DEFAULT_PORT
        )
    except SettingsError as exc:
        print(f"tools: {exc}", file=sys.stderr)
        return 2
    configure("tools", settings.log_level, observability.log_format)
    tracing.configure("tools", observability.otlp_endpoint)
    try:
        asyncio.run(_run(settings, observability))
    except SettingsError as exc:  # found only against the registry, such as an unknown tool name
        print(f"tools: {exc}", file=sys.stderr)
        return 2
    finally:
        tracing.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
