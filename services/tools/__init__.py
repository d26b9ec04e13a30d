"""The tool runner: validates tool calls, runs the tools, and tells the user as it goes.

Layout: ``bus`` (the NATS edge and the process's lifecycle), ``runner`` (one call, start to
reply), ``registry`` (tools and their parameter schemas), ``builtin/`` (the tools agentwire
ships), ``mcp_servers/`` (MCP servers' tools, ``MCP_SERVERS``), ``settings`` (the environment),
``__main__`` (``python -m services.tools``).
"""

__all__: list[str] = []
