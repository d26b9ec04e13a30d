"""What an MCP server's answer becomes: the result a user and a model read, or an error code."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ImageContent, TextContent

from services.tools.mcp_servers.results import error_of, failure_of, result_of
from shared.errors import ErrorCode


def text(value: str) -> TextContent:
    return TextContent(type="text", text=value)


def test_structured_content_is_preferred_over_the_text() -> None:
    result = CallToolResult(content=[text('{"sum": 3}')], structured_content={"sum": 3})
    assert result_of(result) == {"sum": 3}


def test_text_blocks_are_joined() -> None:
    assert result_of(CallToolResult(content=[text("one"), text("two")])) == "one\ntwo"


def test_other_blocks_come_along_as_mcp_shapes_them() -> None:
    image = ImageContent(type="image", data="aGk=", mime_type="image/png")
    result = result_of(CallToolResult(content=[text("a chart"), image]))

    assert result == {
        "text": "a chart",
        "content": [{"type": "image", "data": "aGk=", "mimeType": "image/png"}],
    }


def test_an_is_error_result_fails_the_call_with_its_text() -> None:
    failed = error_of("files__read", CallToolResult(content=[text("no such file")], is_error=True))
    assert failed.code == ErrorCode.TOOL_FAILED
    assert failed.message == "files__read failed: no such file"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (-32602, ErrorCode.INVALID_PARAMETERS),
        (-32001, ErrorCode.TOOL_TIMEOUT),
        (-32000, ErrorCode.TOOL_UNAVAILABLE),
        (-32603, ErrorCode.TOOL_FAILED),
        (-1, ErrorCode.TOOL_FAILED),
    ],
)
def test_json_rpc_errors_map_to_tool_error_codes(code: int, expected: ErrorCode) -> None:
    failed = failure_of("files__read", "files", MCPError(code=code, message="said the server"))
    assert failed.code == expected
    assert "said the server" in failed.message
