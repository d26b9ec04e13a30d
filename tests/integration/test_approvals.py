"""Ask before acting: approvals through the real gateway, agent, tool runner and NATS.

The deployment gates ``estimate_savings`` (``APPROVAL_TOOLS``) and registers SDK agents that call
it (``gated_user``) or ask a question (``asker``). What users see:

- two tabs: one approves, both see ``approval_resolved``, the tool runs once;
- deny: the tool does not run and the agent is told; expiry the same, by itself;
- Stop while waiting: ``agent_cancelled``, the approval ``cancelled`` before it;
- a tab that reconnects, or opens, while an approval waits sees it;
- another user's decision is ``approval_not_found``; a second decision is told the first;
- fifty runs waiting for people do not keep another user's run from starting at once;
- the agent process killed while a run waits: the run ends once, the approval is closed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from devstack.stack import Stack
from shared.wire.events import TERMINAL_TYPES
from tests.integration.client import connect, ring_token, send
from tests.integration.conftest import LogSink, running_stack

pytestmark = pytest.mark.integration

Frame = dict[str, Any]
SAMPLES = "tests.integration.sample_agents"
SLOTS = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(
        tmp_path_factory,
        "approvals",
        AGENTS=f"{SAMPLES}:gated_user,{SAMPLES}:asker,{SAMPLES}:applier",
        APPROVAL_TOOLS="estimate_savings",
        APPROVAL_TIMEOUT_S="20",
        AGENT_MAX_CONCURRENT_RUNS=str(SLOTS),
        RUN_LEASE_S="2",
        INTAKE_ACK_WAIT_S="3",
        AGENT_SHUTDOWN_GRACE_S="1",
    )


class Tab:
    """One socket of a user, and what it received."""

    def __init__(self, stack: Stack, token: str) -> None:
        self.stack, self.token = stack, token
        self.ws: websockets.ClientConnection | None = None
        self.frames: list[Frame] = []

    async def open(self, query: str = "deltas=1") -> Tab:
        self.ws = await connect(f"{self.stack.ws_url}?{query}", self.token, max_size=None)
        await self.until(lambda f: f["type"] == "caught_up")
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def send(self, frame: Frame) -> None:
        assert self.ws is not None
        await send(self.ws, frame)

    async def until(self, done: Any, timeout_s: float = 20) -> Frame:
        assert self.ws is not None
        for frame in self.frames:
            if done(frame) and frame.get("_seen") is None:
                frame["_seen"] = True
                return frame
        async with asyncio.timeout(timeout_s):
            while True:
                frame = json.loads(await self.ws.recv())
                self.frames.append(frame)
                if done(frame):
                    frame["_seen"] = True
                    return frame

    async def start(self, agent: str = "gated_user") -> tuple[str, Frame]:
        """Send a message to ``agent``; its run id and the approval it asks for."""
        await self.send({"type": "message", "content": "go", "agent": agent})
        accepted = await self.until(lambda f: f["type"] in ("run_accepted", "error"))
        assert accepted["type"] == "run_accepted", accepted
        asked = await self.until(lambda f: f["type"] == "approval_requested")
        return accepted["run_id"], asked

    def events(self, run_id: str) -> list[Frame]:
        return [f for f in self.frames if f.get("run_id") == run_id and "seq" in f]


def user(stack: Stack) -> str:
    return ring_token(stack, f"ap-{uuid.uuid4().hex[:12]}")


def ended(frame: Frame, run_id: str) -> bool:
    return frame.get("run_id") == run_id and frame["type"] in TERMINAL_TYPES


async def test_two_tabs_one_approves_both_see_it_and_the_tool_runs_once(stack: Stack) -> None:
    token = user(stack)
    first, second = await Tab(stack, token).open(), await Tab(stack, token).open()
    run_id, asked = await first.start()
    data = asked["data"]
    assert (data["tool_name"], data["parameters"]) == ("estimate_savings", {})
    assert data["reason"] == "To put a monthly figure on right-sizing"
    assert data["expires_at"] > time.time()
    await second.until(lambda f: f["type"] == "approval_requested")  # the other tab sees it

    await second.send({"type": "approve", "approval_id": data["approval_id"]})
    decided = await second.until(lambda f: f["type"] == "approval_decided")
    assert (decided["decision"], decided["first"]) == ("approved", True)
    for tab in (first, second):
        resolved = await tab.until(lambda f: f["type"] == "approval_resolved")
        assert resolved["data"]["decision"] == "approved"
        await tab.until(lambda f: ended(f, run_id))
    events = first.events(run_id)
    assert [f["type"] for f in events].count("tool_executing") == 1
    assert events[-1]["data"]["result"].startswith("saved ")
    kinds = [f["type"] for f in events]
    assert kinds.index("approval_resolved") < kinds.index("tool_executing")
    await first.close()
    await second.close()


async def test_an_approved_change_is_applied_and_the_next_analysis_shows_it(
    stack: Stack,
) -> None:
    tab = await Tab(stack, user(stack)).open()
    run_id, asked = await tab.start(agent="applier")
    assert asked["data"]["tool_name"] == "apply_recommendation"  # the tool itself asks for it
    assert asked["data"]["parameters"] == {"service": "api", "change": "enable_cache"}
    await tab.send({"type": "approve", "approval_id": asked["data"]["approval_id"]})
    end = await tab.until(lambda f: ended(f, run_id))
    before, after = (float(p) for p in end["data"]["result"].removeprefix("p99 ").split(" -> "))
    assert after == pytest.approx(before * 0.6, rel=0.02)
    again, asked_again = await tab.start(agent="applier")  # already applied: refused, said so
    await tab.send({"type": "approve", "approval_id": asked_again["data"]["approval_id"]})
    refused = await tab.until(lambda f: ended(f, again))
    assert refused["data"]["result"] == "did not apply: tool_failed"
    await tab.close()


async def test_a_denied_call_does_not_run_and_the_agent_is_told(stack: Stack) -> None:
    tab = await Tab(stack, user(stack)).open()
    run_id, asked = await tab.start()
    await tab.send({"type": "deny", "approval_id": asked["data"]["approval_id"], "reason": "no"})
    decided = await tab.until(lambda f: f["type"] == "approval_decided")
    assert decided["decision"] == "denied"
    end = await tab.until(lambda f: ended(f, run_id))
    resolved = next(f for f in tab.events(run_id) if f["type"] == "approval_resolved")
    assert (resolved["data"]["decision"], resolved["data"]["reason"]) == ("denied", "no")
    assert end["data"]["result"] == "not run: approval_denied"
    assert "tool_executing" not in [f["type"] for f in tab.events(run_id)]
    await tab.close()


async def test_a_second_decision_is_told_the_first_and_strangers_are_refused(
    stack: Stack,
) -> None:
    owner = await Tab(stack, user(stack)).open()
    stranger = await Tab(stack, user(stack)).open()
    run_id, asked = await owner.start()
    approval_id = asked["data"]["approval_id"]
    await stranger.send({"type": "approve", "approval_id": approval_id})
    refused = await stranger.until(lambda f: f["type"] in ("error", "approval_decided"))
    assert (refused["type"], refused["data"]["code"]) == ("error", "approval_not_found")
    await owner.send({"type": "deny", "approval_id": approval_id})
    await owner.until(lambda f: f["type"] == "approval_decided")
    await owner.send({"type": "approve", "approval_id": approval_id})
    again = await owner.until(lambda f: f["type"] == "approval_decided")
    assert (again["decision"], again["first"]) == ("denied", False)
    await owner.until(lambda f: ended(f, run_id))
    missing = {"type": "approve", "approval_id": "no-such-approval"}
    await owner.send(missing)
    error = await owner.until(lambda f: f["type"] == "error")
    assert error["data"]["code"] == "approval_not_found"
    await owner.close()
    await stranger.close()


async def test_stop_while_waiting_cancels_the_run_and_the_approval(stack: Stack) -> None:
    tab = await Tab(stack, user(stack)).open()
    run_id, _ = await tab.start()
    await tab.send({"type": "cancel", "run_id": run_id})
    end = await tab.until(lambda f: ended(f, run_id))
    assert end["type"] == "agent_cancelled"
    kinds = [f["type"] for f in tab.events(run_id)]
    resolved = next(f for f in tab.events(run_id) if f["type"] == "approval_resolved")
    assert (resolved["data"]["decision"], resolved["data"]["decided_by"]) == ("cancelled", "stop")
    assert kinds.index("approval_resolved") < kinds.index("agent_cancelled")
    await tab.close()


async def test_a_reconnect_and_a_new_tab_see_the_pending_approval(stack: Stack) -> None:
    token = user(stack)
    tab = await Tab(stack, token).open()
    run_id, asked = await tab.start(agent="asker")
    assert asked["data"]["question"] == "Shall I go on?" and asked["data"]["tool_name"] == ""
    resume_at = asked["seq"] - 1
    await tab.close()
    back = await Tab(stack, token).open(f"deltas=1&after_seq={resume_at}")
    replayed = [f["type"] for f in back.frames]
    assert "approval_requested" in replayed
    fresh = await Tab(stack, token).open()
    [snapshot] = [f for f in fresh.frames if f["type"] == "run_snapshot"]
    assert "approval_requested" in [e["type"] for e in snapshot["events"]]
    await fresh.send({"type": "approve", "approval_id": asked["data"]["approval_id"]})
    end = await fresh.until(lambda f: ended(f, run_id))
    assert end["data"]["result"] == "going on"
    await back.until(lambda f: ended(f, run_id))
    await back.close()
    await fresh.close()


async def test_runs_waiting_for_people_hold_no_slot(stack: Stack) -> None:
    waiting = [await Tab(stack, user(stack)).open() for _ in range(50)]
    started = await asyncio.gather(*(tab.start() for tab in waiting))
    other = await Tab(stack, user(stack)).open()
    began = time.monotonic()
    await other.send({"type": "message", "content": "Why is the api slow?"})
    await other.until(lambda f: f["type"] == "agent_started")
    assert time.monotonic() - began < 5  # 50 waiting runs, 4 slots: it started at once
    await other.until(lambda f: f["type"] in TERMINAL_TYPES)
    for tab, (_, asked) in zip(waiting, started, strict=True):
        await tab.send({"type": "deny", "approval_id": asked["data"]["approval_id"]})
    for tab, (run_id, _) in zip(waiting, started, strict=True):
        end = await tab.until(lambda f, run_id=run_id: ended(f, run_id), timeout_s=60)
        assert end["data"]["result"] == "not run: approval_denied"
        await tab.close()
    await other.close()


async def test_an_approval_nobody_answers_expires(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("approvals-expiry")
    extra = {
        "STREAM_TOKENS_PER_S": "0",
        "AGENTS": f"{SAMPLES}:gated_user",
        "APPROVAL_TOOLS": "estimate_savings",
        "APPROVAL_TIMEOUT_S": "1.5",
    }
    quick = Stack(data_dir=data_dir, sink=LogSink(data_dir), extra_env=extra).start(timeout_s=60)
    try:
        tab = await Tab(quick, user(quick)).open()
        run_id, _ = await tab.start()
        end = await tab.until(lambda f: ended(f, run_id))
        resolved = next(f for f in tab.events(run_id) if f["type"] == "approval_resolved")
        assert (resolved["data"]["decision"], resolved["data"]["decided_by"]) == (
            "expired",
            "timeout",
        )
        assert end["data"]["result"] == "not run: approval_expired"
        await tab.close()
    finally:
        quick.stop()


async def test_the_agent_killed_while_a_run_waits_ends_it_once_and_closes_the_approval(
    stack: Stack,
) -> None:
    tab = await Tab(stack, user(stack)).open()
    run_id, asked = await tab.start()
    await asyncio.to_thread(stack.services["agent"].kill)
    replacement = await asyncio.to_thread(stack.restart_service, "agent")
    await asyncio.to_thread(replacement.wait_ready, 60)
    end = await tab.until(lambda f: ended(f, run_id), timeout_s=30)
    assert (end["type"], end["data"]["code"]) == ("agent_failed", "agent_lost")
    events = tab.events(run_id)
    resolved = [f for f in events if f["type"] == "approval_resolved"]
    assert [r["data"]["decision"] for r in resolved] == ["cancelled"]
    assert [f["type"] for f in events].count("agent_failed") == 1
    await tab.send({"type": "approve", "approval_id": asked["data"]["approval_id"]})
    late = await tab.until(lambda f: f["type"] == "approval_decided")
    assert (late["decision"], late["first"]) == ("cancelled", False)
    await tab.close()


@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_the_built_in_analyst_asks_before_applying_and_says_what_happened(
    stack: Stack, decision: str
) -> None:
    tab = await Tab(stack, user(stack)).open()
    assert tab.ws is not None
    await tab.send({"type": "message", "content": "Apply the top recommendation for the db"})
    accepted = await tab.until(lambda f: f["type"] == "run_accepted")
    asked = await tab.until(lambda f: f["type"] == "approval_requested")
    assert asked["data"]["tool_name"] == "apply_recommendation"
    assert asked["data"]["parameters"] == {"service": "db", "change": "add_read_replica"}
    assert "p99" in asked["data"]["reason"]
    await tab.send({"type": decision, "approval_id": asked["data"]["approval_id"]})
    end = await tab.until(lambda f: ended(f, accepted["run_id"]))
    assert end["type"] == "agent_completed"
    if decision == "approve":
        assert end["data"]["result"].startswith("Done: I applied add_read_replica to the db")
    else:
        assert end["data"]["result"].startswith("I did not apply add_read_replica")
        assert "you denied it" in end["data"]["result"]
    await tab.close()
