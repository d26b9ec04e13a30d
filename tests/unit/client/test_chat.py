"""The terminal chat's session logic against a scripted client: what the person at the terminal
reads when a message is refused or waits in the queue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentwire_client.cli import Chat, decision, parse_args
from agentwire_client.errors import ServerError

NOT_STORED = "your message could not be stored, so it will not run; send it again shortly"


class ScriptedClient:
    """Yields the frames it is given; ``send`` answers with the next scripted reply, and puts
    that reply's frame on the stream as the real client does (the request fails first)."""

    def __init__(self, *replies: dict[str, Any], then: list[dict[str, Any]] = ()) -> None:
        self.replies = list(replies)
        self.then = list(then)
        self.frames: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def send(
        self, content: str, *, thread_id: str | None = None, agent: str | None = None
    ) -> dict[str, Any]:
        reply = self.replies.pop(0)
        self.frames.put_nowait(reply)
        for frame in self.then:
            self.frames.put_nowait(frame)
        if reply["type"] == "error":
            self.frames.put_nowait(None)
            raise ServerError(reply["data"]["code"], reply["data"]["message"])
        return reply

    def __aiter__(self) -> ScriptedClient:
        return self

    async def __anext__(self) -> dict[str, Any]:
        frame = await self.frames.get()
        if frame is None:
            raise StopAsyncIteration
        return frame


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one frame, one line


async def chat_once(client: ScriptedClient, *flags: str) -> str:
    chat = Chat(client, parse_args(["-m", "hi", *flags], {}))  # type: ignore[arg-type]
    pump = asyncio.create_task(chat.pump())
    outcome = await asyncio.wait_for(chat.run_message("hi"), 5)
    await asyncio.wait_for(pump, 5)
    return outcome


async def test_a_message_that_was_not_stored_is_reported_once_as_not_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = {"type": "error", "data": {"code": "intake_unavailable", "message": NOT_STORED}}
    assert await chat_once(ScriptedClient(refused)) == "error"
    printed = capsys.readouterr()
    assert (printed.out + printed.err).count("not sent") == 1
    assert f"✗ not sent: {NOT_STORED}" in printed.out


async def test_a_queued_run_says_it_waits_then_runs(capsys: pytest.CaptureFixture[str]) -> None:
    accepted = {"type": "run_accepted", "run_id": "r" * 12, "thread_id": "t" * 12}
    started = {
        "seq": 1,
        "type": "agent_started",
        "run_id": "r" * 12,
        "thread_id": "t" * 12,
        "data": {"agent_id": "infra_analyst", "message": "On it", "timestamp": 1.0},
    }
    answer = {"agent_id": "infra_analyst", "result": "fine", "timestamp": 2.0}
    done = {**started, "seq": 2, "type": "agent_completed", "data": answer}
    client = ScriptedClient({**accepted, "state": "queued", "ahead": 3}, then=[started, done, None])
    assert await chat_once(client) == "agent_completed"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("· queued: waiting for a free agent, 3 ahead")
    assert lines[1].startswith("▶ infra_analyst")


async def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    chat = Chat(ScriptedClient(), parse_args([], {}))  # type: ignore[arg-type]
    await chat.command("/help")
    err = capsys.readouterr().err
    for command in ("/new", "/threads", "/help", "/quit", "Ctrl-D", "Ctrl-C"):
        assert command in err


async def test_an_unknown_command_is_not_sent_as_a_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = ScriptedClient()  # no reply scripted: a send would fail the test
    chat = Chat(client, parse_args([], {}))  # type: ignore[arg-type]
    await chat.command("/hepl")
    assert "no command /hepl: /help lists them" in capsys.readouterr().err


async def test_quit_and_end_of_input_leave_the_chat() -> None:
    for typed in ("/quit", None):
        chat = Chat(ScriptedClient(), parse_args([], {}))  # type: ignore[arg-type]
        chat.start_reading_stdin = lambda: None  # type: ignore[method-assign]
        chat.lines.put_nowait(typed)  # type: ignore[arg-type]
        await asyncio.wait_for(chat.interactive(), 2)


async def test_a_streamed_answer_types_out_in_the_chat(capsys: pytest.CaptureFixture[str]) -> None:
    accepted = {"type": "run_accepted", "run_id": "r" * 12, "thread_id": "t" * 12}

    def event(seq: int, type_: str, **data: object) -> dict[str, object]:
        return {"seq": seq, "type": type_, "run_id": "r" * 12, "thread_id": "t" * 12, "data": data}

    client = ScriptedClient(accepted, then=[
        event(1, "message_started", message_id="m", kind="answer", agent_id="a"),
        event(2, "message_delta", message_id="m", delta="fi"),
        event(3, "message_delta", message_id="m", delta="ne"),
        event(4, "agent_completed", agent_id="a", result="fine", message_id="m"),
        None,
    ])  # fmt: skip
    assert await chat_once(client) == "agent_completed"
    assert "answer\nfine\n✓ answered" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "decided"),
    [
        ("y", (True, None)),
        ("Yes", (True, None)),
        ("n", (False, None)),
        ("", (False, None)),
        ("no, not on a Friday", (False, "not on a Friday")),
        ("too risky", (False, "too risky")),
    ],
)
def test_an_answer_to_approve_is_yes_only_when_it_says_so(
    answer: str, decided: tuple[bool, str | None]
) -> None:
    assert decision(answer) == decided


class ApprovingClient(ScriptedClient):
    """Also takes approve/deny, answering as the gateway does and resolving the approval."""

    def __init__(self, *replies: dict[str, Any], then: list[dict[str, Any]] = ()) -> None:
        super().__init__(*replies, then=then)
        self.decisions: list[tuple[str, str, str | None]] = []

    async def approve(self, approval_id: str) -> dict[str, Any]:
        self.decisions.append(("approve", approval_id, None))
        return self._decided(approval_id, "approved")

    async def deny(self, approval_id: str, reason: str | None = None) -> dict[str, Any]:
        self.decisions.append(("deny", approval_id, reason))
        return self._decided(approval_id, "denied")

    def _decided(self, approval_id: str, decision: str) -> dict[str, Any]:
        run = {"run_id": "r" * 12, "thread_id": "t" * 12}
        data = {"approval_id": approval_id, "decision": decision, "decided_by": "user"}
        self.frames.put_nowait({"seq": 3, "type": "approval_resolved", **run, "data": data})
        self.frames.put_nowait({"seq": 4, "type": "agent_completed", **run,
                                "data": {"agent_id": "a", "result": "ok"}})  # fmt: skip
        self.frames.put_nowait(None)
        return {"type": "approval_decided", "approval_id": approval_id, "decision": decision}


async def test_a_run_that_asks_for_approval_gets_the_answer_typed_at_the_prompt() -> None:
    run = {"run_id": "r" * 12, "thread_id": "t" * 12}
    asked = {"seq": 2, "type": "approval_requested", **run,
             "data": {"approval_id": "a1", "tool_call_id": "c1", "tool_name": "slow_task",
                      "parameters": {}, "reason": "slow", "expires_at": 9.0}}  # fmt: skip
    client = ApprovingClient({"type": "run_accepted", **run}, then=[asked])
    chat = Chat(client, parse_args(["-m", "hi"], {}))  # type: ignore[arg-type]
    chat.start_reading_stdin = lambda: None  # type: ignore[method-assign]
    chat.lines.put_nowait("n not now")
    pump = asyncio.create_task(chat.pump())
    assert await asyncio.wait_for(chat.run_message("hi"), 5) == "agent_completed"
    await asyncio.wait_for(pump, 5)
    assert client.decisions == [("deny", "a1", "not now")]
