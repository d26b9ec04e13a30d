"""The terminal chat's options: flags first, then the environment, then the defaults."""

from __future__ import annotations

import pytest

from agentwire_client.cli import DEFAULT_AUTH_URL, DEFAULT_WS_URL, parse_args


def test_defaults_point_at_a_local_dev_stack() -> None:
    args = parse_args([], {})
    assert (args.command, args.auth_url, args.ws_url) == ("chat", DEFAULT_AUTH_URL, DEFAULT_WS_URL)
    assert args.email is None and args.password is None and not args.json


def test_the_environment_fills_what_flags_leave_out() -> None:
    env = {"AGENTWIRE_EMAIL": "a@b.io", "AGENTWIRE_PASSWORD": "pw", "AGENTWIRE_WS_URL": "ws://x/ws"}
    args = parse_args(["tail", "--email", "flag@b.io"], env)
    assert args.command == "tail"
    assert (args.email, args.password, args.ws_url) == ("flag@b.io", "pw", "ws://x/ws")


def test_exit_after_run_needs_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--exit-after-run"], {})
    assert "--exit-after-run needs --message" in capsys.readouterr().err


def test_the_chat_streams_unless_told_not_to() -> None:
    assert not parse_args([], {}).no_stream
    assert parse_args(["--no-stream"], {}).no_stream
