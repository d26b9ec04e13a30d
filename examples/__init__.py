"""Agents written with the agent SDK, run by the tests: start here to bring your own.

hello_agent.py        plain Python, about 30 lines: thinks, calls a tool, streams its answer
pydantic_ai_agent.py  a pydantic-ai agent plugged in through the SDK (any OpenAI-compatible model)
mcp_server.py         an MCP server whose tools join the tool catalog (MCP_SERVERS)
"""
