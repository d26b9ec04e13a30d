"""An MCP server written with the official ``mcp`` SDK, for the tool runner's tests.

    python -m tests.fakes.mcp_server stdio                 speaks MCP on stdin/stdout
    python -m tests.fakes.mcp_server http [--port N]       streamable HTTP on /mcp; prints
                                                           "port N" once it listens

Its tools: ``add`` (a sum, structured), ``echo`` (text), ``count`` (reports progress every
step), ``wait`` (waits until cancelled), ``refuse`` (a result with ``isError``), ``crash`` (a
JSON-RPC error), ``picky`` (a JSON-RPC invalid-params error) and ``die`` (the process exits
mid-call). ``bad.name`` has a name that is no subject token.

What the server itself saw goes to ``$MCP_FAKE_DIR`` when set, one file per fact, so a test can
tell that a cancel reached it: ``started-<tag>`` when ``wait`` starts, ``cancelled-<tag>`` when
its call is cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

__all__ = ["server"]

server = MCPServer("fake")


def _note(fact: str) -> None:
    directory = os.environ.get("MCP_FAKE_DIR")
    if directory:
        (Path(directory) / fact).touch()


@server.tool()
def add(a: int, b: int) -> dict[str, int]:
    """Add two integers."""
    return {"sum": a + b}


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@server.tool()
async def count(steps: int, ctx: Context, delay_s: float = 0.05) -> str:
    """Count to ``steps``, reporting progress at every step."""
    for step in range(1, steps + 1):
        await anyio.sleep(delay_s)
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
    return f"counted to {steps}"


@server.tool()
async def wait(tag: str) -> str:
    """Wait until cancelled (an hour at most)."""
    _note(f"started-{tag}")
    try:
        await anyio.sleep(3600)
    except anyio.get_cancelled_exc_class():
        _note(f"cancelled-{tag}")
        raise
    return "waited"


@server.tool()
def refuse(path: str) -> str:
    """Always fails as a tool (a result with isError)."""
    raise ToolError(f"no such file: {path}")


@server.tool()
def crash() -> str:
    """Always fails as a protocol error (JSON-RPC)."""
    raise MCPError(code=INTERNAL_ERROR, message="the fake server broke")


@server.tool()
def picky(value: int) -> str:
    """Refuses every value as invalid parameters (JSON-RPC -32602)."""
    raise MCPError(code=INVALID_PARAMS, message=f"value {value} is not acceptable")


@server.tool()
def die() -> str:
    """Ends the server's process mid-call."""
    sys.stdout.flush()
    os._exit(3)


@server.tool(name="bad.name")
def bad_name() -> str:
    """A tool whose name cannot be a NATS subject token."""
    return "unreachable"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve_http(port: int) -> None:
    import uvicorn

    app = server.streamable_http_app()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    http = uvicorn.Server(config)
    serving = asyncio.ensure_future(http.serve())
    while not http.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    print(f"port {port}", flush=True)
    await serving


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=("stdio", "http"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        asyncio.run(_serve_http(args.port or _free_port()))


if __name__ == "__main__":
    main()
