"""POST /agui on a real stack, driven by the official AG-UI client (``@ag-ui/client`` under Node).

What an AG-UI frontend sees:

- a run with reasoning, two tools (one reporting progress) and a streamed answer, accepted by the
  client's own enforcement and verification, with no warning;
- Stop (``POST /agui/cancel``) ends the run with the ``cancelled`` outcome;
- the built-in analyst's approval arrives as an interrupt, and the resume answering it (approve
  or deny) continues the same run to its answer;
- a stream cut mid-run and re-requested with ``Last-Event-ID`` gives the whole run once: the
  joined events pass the client's verification and equal the run read again from its start;
- no token, a token in the URL, a foreign origin: refused; an allowed origin gets CORS.

The client is installed from npm into ``.data/agui_client`` (kept between runs); no npm, or no
registry, fails the module with a message saying so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.integration.client import ring_token
from tests.integration.conftest import LogSink

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "tests" / "agui_client"
INSTALL_DIR = ROOT / ".data" / "agui_client"
ASK = "Why is the api slow this week?"
APPLY = "Apply the top recommendation for the db"
APP_ORIGIN = "http://app.example"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``@ag-ui/client`` as pinned in tests/agui_client/package.json, installed once."""
    wanted = json.loads((CLIENT_DIR / "package.json").read_text())["dependencies"]
    installed = INSTALL_DIR / "node_modules" / "@ag-ui" / "client" / "package.json"
    if (
        installed.exists()
        and json.loads(installed.read_text())["version"] == wanted["@ag-ui/client"]
    ):
        return INSTALL_DIR / "node_modules"
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.fail("these tests run the official AG-UI client under Node: install node and npm")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(CLIENT_DIR / "package.json", INSTALL_DIR / "package.json")
    done = subprocess.run(
        [npm, "install", "--prefix", str(INSTALL_DIR), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.fail(f"npm could not install @ag-ui/client:\n{done.stdout}\n{done.stderr}")
    return INSTALL_DIR / "node_modules"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("agui")
    extra = {
        "THINK_DELAY_S": "0",
        "STREAM_TOKENS_PER_S": "300",  # slow enough for many deltas, fast enough for a test
        "LOG_LEVEL": "INFO",
        "ALLOWED_ORIGINS": APP_ORIGIN,
        "APPROVAL_TIMEOUT_S": "60",
    }
    running = Stack(data_dir=data_dir, sink=LogSink(data_dir), extra_env=extra)
    try:
        running.start(timeout_s=60)
        yield running
    finally:
        running.stop()


async def client(node_modules: Path, **config: Any) -> dict[str, Any]:
    """Run one scenario of tests/agui_client/agui.cjs; its JSON answer."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    process = await asyncio.create_subprocess_exec(
        node,
        str(CLIENT_DIR / "agui.cjs"),
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode()
    answer: dict[str, Any] = json.loads(out)
    assert "crashed" not in answer, answer["crashed"]
    return answer


def a_user(stack: Stack) -> dict[str, str]:
    user_id = f"agui-{uuid.uuid4().hex[:12]}"
    return {
        "url": stack.http_url,
        "token": ring_token(stack, user_id),
        "threadId": str(uuid.uuid4()),
        "runId": str(uuid.uuid4()),
    }


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def text_of(events: list[dict[str, Any]], kind: str) -> str:
    return "".join(e["delta"] for e in events if e["type"] == kind)


async def test_the_official_client_gets_a_valid_run_with_reasoning_tools_and_an_answer(
    stack: Stack, node_modules: Path
) -> None:
    user = a_user(stack)
    answer = await client(node_modules, scenario="run", message=ASK, **user)
    assert answer["error"] is None and answer["warnings"] == []
    events = answer["events"]
    started = events[0]
    assert started["type"] == "RUN_STARTED" and started["protocolVersion"] == "1.0"
    assert (started["threadId"], started["runId"]) == (user["threadId"], user["runId"])
    assert answer["finished"]["outcome"] == "success"
    tools = [e["toolCallName"] for e in events if e["type"] == "TOOL_CALL_START"]
    assert tools == ["analyze_performance", "detect_anomalies"]
    results = [json.loads(e["content"]) for e in events if e["type"] == "TOOL_CALL_RESULT"]
    assert len(results) == 2 and all("error" not in r for r in results)
    assert "ACTIVITY_SNAPSHOT" in types(events)  # analyze_performance reports its progress
    assert types(events).count("REASONING_MESSAGE_START") >= 2
    assert text_of(events, "REASONING_MESSAGE_CONTENT")
    assert types(events).count("TEXT_MESSAGE_CONTENT") > 1  # the answer streamed
    said = [m for m in answer["messages"] if m["role"] == "assistant" and m.get("content")]
    assert said[-1]["content"] == text_of(events, "TEXT_MESSAGE_CONTENT")
    assert "api" in said[-1]["content"]


async def test_stop_ends_the_run_with_the_cancelled_outcome(
    stack: Stack, node_modules: Path
) -> None:
    user = a_user(stack)
    answer = await client(
        node_modules, scenario="stop", message="slow_task seconds=4 steps=8", **user
    )
    assert answer["cancel"] == {
        "status": 200,
        "body": {"runId": user["runId"], "state": "cancelling"},
    }
    assert answer["error"] is None and answer["warnings"] == []
    assert answer["finished"]["outcome"] == "cancelled"
    [result] = [
        json.loads(e["content"]) for e in answer["events"] if e["type"] == "TOOL_CALL_RESULT"
    ]
    assert result["error"]["code"] == "cancelled"  # stopped at the tool runner too


@pytest.mark.parametrize("approve", [True, False])
async def test_an_approval_is_an_interrupt_and_the_resume_continues_the_run(
    stack: Stack, node_modules: Path, approve: bool
) -> None:
    user = a_user(stack)
    resume_run_id = str(uuid.uuid4())
    answer = await client(
        node_modules,
        scenario="approve",
        message=APPLY,
        approve=approve,
        resumeRunId=resume_run_id,
        **user,
    )
    first, second = answer["first"], answer["second"]
    assert first["error"] is None and second["error"] is None and answer["warnings"] == []
    assert first["finished"]["outcome"] == "interrupt"
    [interrupt] = answer["interrupts"]
    assert interrupt["reason"] == "tool_approval" and "apply_recommendation" in interrupt["message"]
    assert interrupt["responseSchema"]["required"] == ["approved"]
    assert answer["resume"] == [
        {"interruptId": interrupt["id"], "status": "resolved", "payload": {"approved": approve}}
    ]
    assert second["events"][0]["runId"] == resume_run_id
    assert second["finished"]["outcome"] == "success" and answer["pending"] == []
    said = text_of(second["events"], "TEXT_MESSAGE_CONTENT")
    if approve:
        assert "apply_recommendation" in [
            e["toolCallName"] for e in second["events"] if e["type"] == "TOOL_CALL_START"
        ]
        assert said.startswith("Done: I applied add_read_replica to the db")
    else:
        assert said.startswith("I did not apply add_read_replica")


async def test_a_thread_goes_on_with_its_history_and_a_run_sent_again_is_not_run_twice(
    stack: Stack, node_modules: Path
) -> None:
    user = a_user(stack)
    second_run_id = str(uuid.uuid4())
    answer = await client(
        node_modules,
        scenario="thread",
        message=ASK,
        followUp="and the db?",
        secondRunId=second_run_id,
        **user,
    )
    first, second, resent = answer["first"], answer["second"], answer["resent"]
    assert first["error"] is None and second["error"] is None and answer["warnings"] == []
    assert second["finished"]["outcome"] == "success"
    [call] = [json.loads(e["delta"]) for e in second["events"] if e["type"] == "TOOL_CALL_ARGS"][:1]
    assert call["service"] == "db" and call["period"] == "7d"  # "this week", from the history
    again = [frame["data"] for frame in resent["frames"]]
    assert again[0]["type"] == "RUN_STARTED" and again[0]["runId"] == second_run_id
    assert again[1:] == [{k: v for k, v in e.items()} for e in second["events"][1:]]


async def test_a_cut_stream_re_requested_with_last_event_id_gives_the_whole_run_once(
    stack: Stack, node_modules: Path
) -> None:
    user = a_user(stack)
    answer = await client(node_modules, scenario="cut", message=ASK, cutAfter=8, **user)
    before, after, again = answer["before"], answer["after"], answer["again"]
    assert not before["complete"] and after["complete"] and again["complete"]
    assert answer["verifyError"] is None and answer["warnings"] == []
    joined = before["frames"] + after["frames"]
    assert joined[-1]["data"]["type"] == "RUN_FINISHED"
    assert joined[-1]["data"]["outcome"] == {"type": "success"}  # the cut did not stop the run
    assert after["frames"][0]["data"]["type"] != "RUN_STARTED"
    ids = [frame["id"] for frame in joined]
    assert len(set(ids)) == len(ids)
    assert joined[1:] == again["frames"]  # read again from the log: the same run, once


async def sse_events(http: httpx.AsyncClient, token: str, body: dict[str, Any]) -> list[Any]:
    """The AG-UI events of one POST /agui, read to the end of its stream."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with http.stream("POST", "/agui", json=body, headers=headers, timeout=30) as response:
        assert response.status_code == 200, await response.aread()
        return [
            json.loads(line[len("data: ") :])
            async for line in response.aiter_lines()
            if line.startswith("data: ")
        ]


async def test_stop_while_an_approval_waits_ends_the_run_cancelled(stack: Stack) -> None:
    user = a_user(stack)
    message = {"id": "m1", "role": "user", "content": APPLY}
    body = {"threadId": user["threadId"], "runId": user["runId"], "messages": [message]}
    async with httpx.AsyncClient(base_url=stack.http_url) as http:
        asked = await sse_events(http, user["token"], body)
        [interrupt] = asked[-1]["outcome"]["interrupts"]
        # The client knows its latest run id, not agentwire's: the thread's waiting run is stopped.
        stop = {"runId": str(uuid.uuid4()), "threadId": user["threadId"]}
        auth = {"Authorization": f"Bearer {user['token']}"}
        stopped = await http.post("/agui/cancel", json=stop, headers=auth)
        answer = {
            "interruptId": interrupt["id"],
            "status": "resolved",
            "payload": {"approved": True},
        }
        resumed = {**body, "runId": str(uuid.uuid4()), "resume": [answer]}
        after = await sse_events(http, user["token"], resumed)
    assert stopped.json() == {"runId": user["runId"], "state": "cancelling"}
    assert types(after) == ["RUN_STARTED", "RUN_FINISHED"]  # the tool never ran
    assert after[-1]["outcome"] == {"type": "cancelled"}


async def test_another_users_thread_is_not_found_and_nothing_of_it_shows(stack: Stack) -> None:
    owner, intruder = a_user(stack), a_user(stack)
    message = {"id": "m1", "role": "user", "content": ASK}
    body = {"threadId": owner["threadId"], "runId": owner["runId"], "messages": [message]}
    async with httpx.AsyncClient(base_url=stack.http_url) as http:
        owned = await sse_events(http, owner["token"], body)
        foreign = {**body, "runId": intruder["runId"]}
        refused = await sse_events(http, intruder["token"], foreign)
    assert owned[-1]["type"] == "RUN_FINISHED"
    assert types(refused) == ["RUN_STARTED", "RUN_ERROR"]
    assert refused[-1]["code"] == "thread_not_found"


async def test_requests_without_the_users_token_or_from_a_foreign_origin_are_refused(
    stack: Stack,
) -> None:
    user = a_user(stack)
    body = {"threadId": user["threadId"], "runId": user["runId"], "messages": []}
    async with httpx.AsyncClient(base_url=stack.http_url) as http:
        missing = await http.post("/agui", json=body)
        in_url = await http.post(f"/agui?token={user['token']}", json=body)
        foreign = await http.post(
            "/agui",
            json=body,
            headers={"Authorization": f"Bearer {user['token']}", "Origin": "http://evil.example"},
        )
        no_message = await http.post(
            "/agui",
            json=body,
            headers={"Authorization": f"Bearer {user['token']}", "Origin": APP_ORIGIN},
        )
        preflight = await http.options(
            "/agui",
            headers={
                "Origin": APP_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,last-event-id",
            },
        )
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "unauthorized")
    assert in_url.status_code == 401 and "URL" in in_url.json()["error"]["message"]
    assert foreign.status_code == 403
    assert no_message.status_code == 422
    assert no_message.headers["access-control-allow-origin"] == APP_ORIGIN
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "last-event-id" in preflight.headers["access-control-allow-headers"].lower()
