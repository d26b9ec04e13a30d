"""MCP_SERVERS: what it accepts, and refusals that name the server and what is wrong."""

from __future__ import annotations

import pytest

from services.tools.mcp_servers.config import McpServerConfig, parse_mcp_servers
from services.tools.settings import ToolsSettings
from shared.settings import Env, SettingsError


def test_unset_or_blank_means_no_servers() -> None:
    assert parse_mcp_servers(None) == ()
    assert parse_mcp_servers("  ") == ()


def test_a_stdio_command_and_an_http_url_with_their_options() -> None:
    files, docs = parse_mcp_servers(
        '{"files": {"command": ["python", "-m", "x"], "env": {"ROOT": "/srv"}, "cwd": "/tmp"},'
        ' "docs": {"url": "http://127.0.0.1:9000/mcp", "headers": {"X-Key": "k"}, "timeout_s": 90}}'
    )

    assert files == McpServerConfig(
        name="files", command=("python", "-m", "x"), env={"ROOT": "/srv"}, cwd="/tmp"
    )
    assert docs == McpServerConfig(
        name="docs", url="http://127.0.0.1:9000/mcp", headers={"X-Key": "k"}, timeout_s=90.0
    )
    assert docs.describe() == "http://127.0.0.1:9000/mcp"  # no headers: they may hold a token


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("{not json", "is not JSON"),
        ('["files"]', "must be a JSON object"),
        ('{"a.b": {"url": "http://x/mcp"}}', "server name 'a.b'"),
        ('{"a__b": {"url": "http://x/mcp"}}', "no '__'"),
        ('{"files": {}}', "exactly one of command (stdio) or url (HTTP)"),
        ('{"files": {"command": ["x"], "url": "http://x"}}', "exactly one of command"),
        ('{"files": {"command": "python -m x"}}', "non-empty list of strings"),
        ('{"files": {"command": []}}', "non-empty list of strings"),
        ('{"docs": {"url": "ftp://x"}}', "http:// or https://"),
        ('{"docs": {"url": "http://x", "timeout_s": 0}}', "timeout_s must be a positive number"),
        ('{"docs": {"url": "http://x", "env": {"A": 1}}}', "env must be an object of strings"),
        ('{"docs": {"url": "http://x", "header": {}}}', "unknown keys ['header']"),
    ],
)
def test_a_malformed_setting_is_refused_naming_the_problem(raw: str, complaint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_mcp_servers(raw)
    assert "MCP_SERVERS" in str(caught.value) and complaint in str(caught.value)


def test_the_tools_settings_read_the_mcp_variables() -> None:
    settings = ToolsSettings.from_env(
        Env({"MCP_SERVERS": '{"docs": {"url": "http://x/mcp"}}', "MCP_PROBE_INTERVAL_S": "2"})
    )

    assert [server.name for server in settings.mcp_servers] == ["docs"]
    assert settings.mcp_probe_interval_s == 2.0
    assert settings.mcp_connect_timeout_s == 10.0
