"""A small MCP server, written with the official ``mcp`` SDK, whose tools join agentwire's tool
catalog as ``units__convert``: every agent can call it (``run.call_tool("units__convert", ...)``)
and the LLM agents are offered it. Run agentwire with it, from the repository root::

    MCP_SERVERS='{"units": {"command": ["python", "-m", "examples.mcp_server"]}}' ./dev up

The tool runner starts it and speaks MCP over its stdin and stdout; a server behind a URL is
``{"units": {"url": "http://127.0.0.1:9000/mcp"}}`` instead.
"""

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["server"]

server = MCPServer("units")

# How many of the base unit (seconds, bytes) one of each is.
_SCALES = (
    {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0},
    {"B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12},
)


@server.tool()
def convert(value: float, from_unit: str, to_unit: str) -> dict[str, float | str]:
    """Convert a duration (ms, s, min, h, d) or a size (B, KB, MB, GB, TB) to another unit."""
    for scale in _SCALES:
        if from_unit in scale and to_unit in scale:
            converted = value * scale[from_unit] / scale[to_unit]
            return {"value": converted, "unit": to_unit}
    raise ToolError(f"cannot convert {from_unit!r} to {to_unit!r}")


if __name__ == "__main__":
    server.run("stdio")
