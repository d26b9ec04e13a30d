"""agentwire.js on its own, in the browser, with a scripted fake WebSocket: no server at all.

The module is served from the source tree (``static_page``); each test drives the fake
socket (open, deliver a frame, drop with a close code) and reads back what the client did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import STATIC_ORIGIN, _serve_static

if TYPE_CHECKING:
    from playwright.sync_api import Page

FAKE_SOCKET = """
window.sockets = [];
window.sleep = (ms) => new Promise((r) => setTimeout(r, ms));
window.ev = (seq) => ({seq, type: "agent_thinking", run_id: "r1", thread_id: "t1", data: {}});
window.FakeSocket = class {
  constructor(url, protocols) {
    Object.assign(this, {url, protocols, readyState: 0, sent: [], closedWith: null});
    sockets.push(this);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code, reason) { this.readyState = 3; this.closedWith = [code, reason]; }
  open() { this.readyState = 1; this.onopen?.({}); }
  deliver(frame) { this.onmessage?.({data: JSON.stringify(frame)}); }
  drop(code, reason = "") { this.readyState = 3; this.onclose?.({code, reason}); }
};
window.start = async (options = {}) => {
  const {connect} = await import("/agentwire.js");
  return connect({url: "ws://gw/ws", token: "T", WebSocket: FakeSocket,
                  backoffBaseMs: 10, backoffMaxMs: 20, ...options});
};
// A token store over this origin's localStorage whose /auth/refresh is a stub: every call is
// recorded in `refreshes`; pair n is A<n>/R<n> (n counts this page's calls).
window.refreshes = [];
window.startRenewing = async ({expiresIn = 900, refuse = false, ...options} = {}) => {
  const {TokenStore} = await import("/tokens.js");
  const {AgentwireError} = await import("/agentwire.js");
  const tokens = new TokenStore({authUrl: "http://auth.test", refresh: async (url, spent) => {
    refreshes.push(spent);
    await sleep(80);  // long enough for a second tab to try too
    if (refuse) throw new AgentwireError("invalid_refresh_token", "spent");
    const n = refreshes.length;
    return {access_token: "A" + n, refresh_token: "R" + n, expires_in: expiresIn,
            refresh_expires_in: 1209600};
  }});
  if (!tokens.get()) {
    tokens.save({access_token: "A0", refresh_token: "R0", expires_in: expiresIn,
                 refresh_expires_in: 1209600});
  }
  return start({token: null, tokens, ...options});
};
true;  // not the function above: page.evaluate would call a function it is handed
"""


@pytest.fixture
def page(static_page: Page) -> Page:
    static_page.evaluate(FAKE_SOCKET)
    return static_page


def run(page: Page, body: str) -> Any:
    return page.evaluate(f"async () => {{ {body} }}")


def test_offers_the_token_as_a_subprotocol_never_in_the_url(page: Page) -> None:
    result = run(page, "await start(); return [sockets[0].url, sockets[0].protocols];")
    assert result == ["ws://gw/ws", ["agentwire.v1", "bearer.T"]]


def test_resumes_after_the_last_seq_and_drops_replayed_duplicates(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start();
        const seen = [];
        client.on("agent_thinking", (e) => seen.push(e.seq));
        sockets[0].open();
        for (const seq of [1, 2, 3]) sockets[0].deliver(ev(seq));
        sockets[0].drop(1006);
        await sleep(60);
        sockets[1].open();
        for (const seq of [2, 3, 4]) sockets[1].deliver(ev(seq));
        return {seen, url: sockets[1].url, duplicates: client.duplicates, last: client.lastSeq};
        """,
    )
    assert result == {"seen": [1, 2, 3, 4], "url": "ws://gw/ws?after_seq=3", "duplicates": 2,
                      "last": 4}  # fmt: skip


@pytest.mark.parametrize("code", [1001, 1006, 1011, 4000, 4008])
def test_reconnects_after_a_close_that_means_carry_on(page: Page, code: int) -> None:
    result = run(
        page,
        f"""
        const client = await start();
        sockets[0].open();
        sockets[0].drop({code});
        await sleep(300);
        return [sockets.length, client.state];
        """,
    )
    assert result == [2, "connecting"]


@pytest.mark.parametrize(
    ("code", "signal"), [(4401, "unauthorized"), (4403, "revoked"), (4409, "closed")]
)
def test_stops_after_a_close_that_means_change_something(
    page: Page, code: int, signal: str
) -> None:
    result = run(
        page,
        f"""
        const client = await start();
        const heard = [];
        client.on("{signal}", (e) => heard.push(e.code));
        sockets[0].open();
        const pending = client.listThreads().catch((e) => e.code);
        sockets[0].drop({code}, "token expired");
        await sleep(200);
        return [sockets.length, client.state, heard, await pending];
        """,
    )
    assert result == [1, signal, [code], signal]


def test_a_message_is_resent_with_its_id_after_a_server_restart(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start({backoffBaseMs: 10000, backoffMaxMs: 10000});
        sockets[0].open();
        const accepted = client.send("hello", {threadId: "t1"});
        const first = sockets[0].sent[0];
        sockets[0].drop(4000);  // "reconnect at once", whatever the backoff says
        await sleep(400);
        sockets[1].open();
        const again = sockets[1].sent[0];
        sockets[1].deliver({type: "run_accepted", run_id: "r1", thread_id: "t1",
                            client_msg_id: again.client_msg_id});
        return [first, again, (await accepted).run_id];
        """,
    )
    first, again, run_id = result
    assert first == again and first["type"] == "message" and first["thread_id"] == "t1"
    assert run_id == "r1"


def test_run_accepted_gives_a_resume_point_when_no_event_came_yet(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start();
        sockets[0].open();
        const accepted = client.send("hello");
        const sent = sockets[0].sent[0];
        sockets[0].deliver({type: "run_accepted", run_id: "r1", thread_id: "t1",
                            client_msg_id: sent.client_msg_id, state: "queued", last_seq: 41});
        await accepted;
        sockets[0].drop(1006);  // the run is still queued: no event has come
        await sleep(700);
        return [client.lastSeq, sockets[1].url];
        """,
    )
    assert result == [41, "ws://gw/ws?after_seq=41"]


def test_an_error_frame_fails_the_oldest_request(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start();
        sockets[0].open();
        const runs = client.listRuns("t9").catch((e) => e.code);
        const threads = client.listThreads();
        sockets[0].deliver({type: "error", data: {code: "thread_not_found", message: "no"}});
        sockets[0].deliver({type: "threads", threads: [{thread_id: "t1"}]});
        return [await runs, (await threads).length];
        """,
    )
    assert result == ["thread_not_found", 1]


def test_a_message_not_stored_fails_its_send_not_an_older_request(page: Page) -> None:
    """Replies overtake each other: a list sent first may still wait for an agent when the
    message sent after it is refused as not stored."""
    result = run(
        page,
        """
        const client = await start();
        sockets[0].open();
        const threads = client.listThreads();
        const sent = client.send("hi").catch((e) => [e.name, e.code, e.message]);
        const cancel = client.cancel("r9").catch((e) => e.code);
        sockets[0].deliver({type: "error", data: {code: "intake_unavailable",
                                                  message: "could not be stored"}});
        sockets[0].deliver({type: "error", data: {code: "run_not_found", message: "no"}});
        sockets[0].deliver({type: "threads", threads: [{thread_id: "t1"}]});
        return [await sent, await cancel, (await threads).length];
        """,
    )
    assert result == [["AgentwireError", "intake_unavailable", "could not be stored"],
                      "run_not_found", 1]  # fmt: skip


def test_lists_ask_for_a_page_and_give_its_next_cursor_each_to_its_own_request(
    page: Page,
) -> None:
    result = run(
        page,
        """
        const client = await start();
        sockets[0].open();
        const newest = client.listRuns("t1", {limit: 2});
        const older = client.listRuns("t1", {limit: 2, cursor: "c2"});
        const threads = client.listThreads();
        // The older page is answered first: each reply goes to the request with its cursor.
        sockets[0].deliver({type: "runs", thread_id: "t1", cursor: "c2", runs: [{run_id: "r1"}],
                            next_cursor: null});
        sockets[0].deliver({type: "runs", thread_id: "t1", runs: [{run_id: "r3"}, {run_id: "r2"}],
                            next_cursor: "c2"});
        sockets[0].deliver({type: "threads", threads: [], next_cursor: null});
        const [a, b, c] = [await newest, await older, await threads];
        return [sockets[0].sent, a.map((r) => r.run_id), a.nextCursor,
                b.map((r) => r.run_id), b.nextCursor, c.length, c.nextCursor];
        """,
    )
    sent, newest, newest_next, older, older_next, threads, threads_next = result
    assert sent == [
        {"type": "list_runs", "thread_id": "t1", "limit": 2},
        {"type": "list_runs", "thread_id": "t1", "limit": 2, "cursor": "c2"},
        {"type": "list_threads"},
    ]
    assert (newest, newest_next) == (["r3", "r2"], "c2")
    assert (older, older_next) == (["r1"], None)
    assert (threads, threads_next) == (0, None)


def test_a_silent_socket_is_pinged_then_replaced(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start({idleMs: 50, deadMs: 50});
        sockets[0].open();
        await sleep(400);
        return [sockets[0].sent.map((f) => f.type), sockets[0].closedWith[1], sockets.length];
        """,
    )
    pings, reason, opened = result
    assert pings == ["ping"] and reason == "heartbeat timeout" and opened >= 2


def test_a_heartbeat_keeps_a_quiet_socket_alive_and_gives_a_resume_point(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start({idleMs: 80, deadMs: 80});
        sockets[0].open();
        for (let i = 0; i < 5; i++) {
          await sleep(40);
          sockets[0].deliver({type: "heartbeat", last_seq: 17});
        }
        return [sockets.length, sockets[0].sent.length, client.lastSeq];
        """,
    )
    assert result == [1, 0, 17]


# Renewing the token (docs/protocol.md, "Keeping a socket past its token's expiry")


def test_token_expiring_refreshes_and_sends_the_new_token_on_the_open_socket(page: Page) -> None:
    result = run(
        page,
        """
        const client = await startRenewing();
        sockets[0].open();
        sockets[0].deliver({type: "token_expiring", expires_at: 1, grace_s: 30});
        sockets[0].deliver({type: "token_expiring", expires_at: 1, grace_s: 30});  // one refresh
        await sleep(200);
        sockets[0].deliver({type: "auth_ok", expires_at: 2});
        sockets[0].drop(1006);
        await sleep(100);
        return [refreshes, sockets[0].sent, sockets[1].protocols[1], client.state];
        """,
    )
    assert result == [
        ["R0"],
        [{"type": "auth", "token": "A1"}],
        "bearer.A1",  # a reconnect uses the newest token
        "connecting",
    ]


def test_the_token_is_renewed_before_the_server_warns(page: Page) -> None:
    result = run(
        page,
        """
        await startRenewing({expiresIn: 0.5});  // renewed at 80%: after 0.4 s
        sockets[0].open();
        await sleep(300);
        const early = refreshes.length;
        await sleep(400);
        return [early, refreshes[0], sockets[0].sent[0]];
        """,
    )
    assert result == [0, "R0", {"type": "auth", "token": "A1"}]


def test_a_4401_gets_one_refresh_and_a_reconnect_then_gives_up(page: Page) -> None:
    result = run(
        page,
        """
        const client = await startRenewing();
        const heard = [];
        client.on("unauthorized", (e) => heard.push(e.code));
        sockets[0].open();
        sockets[0].drop(4401, "token expired");
        await sleep(200);
        sockets[1].open();
        sockets[1].drop(4401, "token expired");  // nothing heard since: no second refresh
        await sleep(200);
        return [refreshes, sockets.length, sockets[1].protocols[1], client.state, heard];
        """,
    )
    assert result == [["R0"], 2, "bearer.A1", "unauthorized", [4401]]


def test_a_refused_refresh_ends_the_client_as_unauthorized(page: Page) -> None:
    result = run(
        page,
        """
        const client = await startRenewing({refuse: true});
        const heard = [];
        client.on("unauthorized", (e) => heard.push(e.reason));
        sockets[0].open();
        sockets[0].deliver({type: "token_expiring", expires_at: 1, grace_s: 30});
        await sleep(200);
        return [client.state, heard, sockets[0].closedWith[0], sockets.length];
        """,
    )
    assert result == ["unauthorized", ["spent"], 1000, 1]


def test_two_tabs_sharing_a_session_refresh_it_once(page: Page) -> None:
    """Both tabs are warned at once; only one spends R0, the other takes its pair from storage."""
    other = page.context.new_page()
    other.route(f"{STATIC_ORIGIN}/**", _serve_static)
    other.goto(f"{STATIC_ORIGIN}/blank")
    other.evaluate(FAKE_SOCKET)
    tabs = (page, other)
    for tab in tabs:
        run(tab, "window.client = await startRenewing(); sockets[0].open(); return true;")
    for tab in tabs:
        tab.evaluate("sockets[0].deliver({type: 'token_expiring', expires_at: 1, grace_s: 30})")
    page.wait_for_timeout(600)
    results = [run(tab, "return [refreshes, sockets[0].sent];") for tab in tabs]
    assert sorted(len(refreshes) for refreshes, _ in results) == [0, 1]
    assert [sent for _, sent in results] == [[{"type": "auth", "token": "A1"}]] * 2


# Streamed text (docs/protocol.md, "Streamed text and tool progress")


def test_a_socket_without_deltas_opens_as_before_and_one_with_deltas_asks_for_them(
    page: Page,
) -> None:
    result = run(
        page,
        """
        await start();
        sockets[0].open();
        sockets[0].deliver(ev(5));
        sockets[0].drop(1006);
        await sleep(60);
        await start({deltas: true});
        sockets[2].open();
        sockets[2].deliver(ev(9));
        sockets[2].drop(1006);
        await sleep(60);
        return sockets.map((s) => s.url);
        """,
    )
    assert result == [
        "ws://gw/ws",
        "ws://gw/ws?after_seq=5",
        "ws://gw/ws?deltas=1",
        "ws://gw/ws?deltas=1&after_seq=9",
    ]


def test_a_snapshot_on_join_is_emitted_and_its_upto_seq_is_the_position(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start({deltas: true});
        const snapshots = [], seen = [];
        client.on("run_snapshot", (s) => snapshots.push([s.run_id, s.events.map((e) => e.seq)]));
        client.on("event", (e) => seen.push(e.seq));
        sockets[0].open();
        sockets[0].deliver({type: "run_snapshot", run_id: "r1", thread_id: "t1", upto_seq: 12,
                            events: [ev(3), ev(7)]});
        sockets[0].deliver({type: "run_snapshot", run_id: "r2", thread_id: "t1", upto_seq: 10,
                            events: [ev(10)]});
        const position = client.lastSeq;
        sockets[0].deliver(ev(12));  // already in a snapshot's range: not new
        sockets[0].deliver(ev(13));
        sockets[0].drop(1006);
        await sleep(60);
        return [snapshots, position, seen, sockets[1].url];
        """,
    )
    assert result == [
        [["r1", [3, 7]], ["r2", [10]]],
        12,
        [13],
        "ws://gw/ws?deltas=1&after_seq=13",
    ]


def test_run_events_asks_for_a_range_and_resolves_with_its_snapshot(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start({deltas: true});
        const heard = [];
        client.on("run_snapshot", (s) => heard.push(s.run_id));
        sockets[0].open();
        sockets[0].deliver({type: "caught_up", last_seq: 90});
        const older = client.runEvents("r1", 9, 20);
        const newer = client.runEvents("r2", 29, 40);
        // Answered out of order: each goes to the request for its run.
        sockets[0].deliver({type: "run_snapshot", run_id: "r2", thread_id: "t1", upto_seq: 40,
                            events: [ev(30), ev(40)]});
        sockets[0].deliver({type: "run_snapshot", run_id: "r1", thread_id: "t1", upto_seq: 20,
                            events: [ev(10)]});
        const [a, b] = [await older, await newer];
        return [sockets[0].sent, a.events.length, b.events.length, heard, client.lastSeq];
        """,
    )
    sent, older, newer, heard, position = result
    assert sent == [
        {"type": "run_events", "run_id": "r1", "after_seq": 9, "upto_seq": 20},
        {"type": "run_events", "run_id": "r2", "after_seq": 29, "upto_seq": 40},
    ]
    assert (older, newer) == (1, 2)
    assert heard == [], "an answer goes to its caller, not to the join listeners"
    assert position == 90, "an old run's history does not move the position back"


def test_a_gateway_without_run_events_fails_that_request_not_another(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start({deltas: true});
        sockets[0].open();
        const threads = client.listThreads();
        const history = client.runEvents("r1", 0, 5).catch((e) => e.code);
        sockets[0].deliver({type: "error", data: {code: "unknown_type", message: "run_events"}});
        sockets[0].deliver({type: "threads", threads: [], next_cursor: null});
        return [await history, (await threads).length];
        """,
    )
    assert result == ["unknown_type", 0]


def test_approve_and_deny_are_answered_by_their_approval_decided(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start();
        sockets[0].open();
        const denied = client.deny("a2", "not now");
        const approved = client.approve("a1");
        sockets[0].deliver({type: "approval_decided", approval_id: "a1", decision: "approved",
                            first: true});
        sockets[0].deliver({type: "approval_decided", approval_id: "a2", decision: "approved",
                            first: false});  // another tab approved it first
        return [sockets[0].sent, await approved, await denied];
        """,
    )
    sent, approved, denied = result
    assert sent == [
        {"type": "deny", "approval_id": "a2", "reason": "not now"},
        {"type": "approve", "approval_id": "a1"},
    ]
    assert approved["decision"] == "approved" and approved["first"] is True
    assert denied["decision"] == "approved" and denied["first"] is False


def test_approval_not_found_fails_the_decision_not_an_older_request(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start();
        sockets[0].open();
        const threads = client.listThreads();
        const approved = client.approve("nope").catch((e) => e.code);
        sockets[0].deliver({type: "error", data: {code: "approval_not_found", message: "no"}});
        sockets[0].deliver({type: "threads", threads: []});
        return [await approved, (await threads).length];
        """,
    )
    assert result == ["approval_not_found", 0]


def test_list_agents_and_a_message_to_a_named_agent(page: Page) -> None:
    result = run(
        page,
        """
        const client = await start();
        sockets[0].open();
        const agents = client.listAgents();
        sockets[0].deliver({type: "agents", agents: [
          {name: "analyst", description: "Analyses", default: true},
          {name: "echo", description: "Repeats", default: false}]});
        client.send("hi", {agent: "echo"}).catch(() => null);
        client.send("hello").catch(() => null);
        return [(await agents).map((a) => a.name), sockets[0].sent.slice(1)
                .map((f) => [f.content, f.agent ?? null])];
        """,
    )
    assert result == [["analyst", "echo"], [["hi", "echo"], ["hello", None]]]


# A scripted HTTP server for the fallback: each GET /events is a stream the test writes to
# (streams[i].write(text), .end()), each POST is answered by `answer(frame)`.
FAKE_HTTP = """
window.streams = [];
window.posts = [];
window.answer = (frame) => ({type: "pong"});
window.fakeFetch = async (url, init = {}) => {
  const headers = init.headers || {};
  if ((init.method || "GET") === "POST") {
    const frame = JSON.parse(init.body);
    posts.push({url, frame, auth: headers.authorization});
    return new Response(JSON.stringify(answer(frame)), {status: 200});
  }
  const entry = {url, headers, status: 200};
  streams.push(entry);
  const body = new ReadableStream({start(c) { entry.controller = c; }});
  entry.write = (text) => entry.controller.enqueue(new TextEncoder().encode(text));
  entry.end = () => entry.controller.close();
  init.signal?.addEventListener("abort", () => {
    entry.aborted = true;
    try { entry.controller.error(new DOMException("aborted", "AbortError")); } catch {}
  });
  return new Response(body, {status: 200, headers: {"content-type": "text/event-stream"}});
};
window.frameText = (frame) => (typeof frame.seq === "number" ? `id: ${frame.seq}\\n` : "")
  + `data: ${JSON.stringify(frame)}\\n\\n`;
true;
"""


def test_a_websocket_that_never_opens_falls_back_to_http_streaming(page: Page) -> None:
    page.evaluate(FAKE_HTTP)
    result = run(
        page,
        """
        const client = await start({fetch: fakeFetch, deltas: true});
        const states = [];
        client.on("state", (s) => states.push([s.state, s.transport]));
        for (let i = 0; i < 3; i++) {  // refused every time, before ever opening
          await sleep(40);
          sockets[i].drop(1006);
        }
        await sleep(60);
        const seen = [];
        client.on("agent_thinking", (e) => seen.push(e.seq));
        streams[0].write(": agentwire\\n\\n");
        streams[0].write(frameText(ev(7)).slice(0, 9));  // an event split across two reads
        streams[0].write(frameText(ev(7)).slice(9) + frameText(ev(8)).replaceAll("\\n", "\\r\\n"));
        await sleep(30);
        return {sockets: sockets.length, transport: client.transport, url: streams[0].url,
                auth: streams[0].headers.authorization, seen, last: client.lastSeq,
                open: states.filter(([s]) => s === "open")};
        """,
    )
    assert result == {"sockets": 3, "transport": "sse", "url": "http://gw/events?deltas=1",
                      "auth": "Bearer T", "seen": [7, 8], "last": 8,
                      "open": [["open", "sse"]]}  # fmt: skip


def test_over_http_frames_are_posted_and_a_broken_stream_resumes_from_the_last_seq(
    page: Page,
) -> None:
    page.evaluate(FAKE_HTTP)
    result = run(
        page,
        """
        window.answer = (frame) => ({type: "threads", threads: [{thread_id: "t1"}],
                                     next_cursor: null});
        const client = await start({fetch: fakeFetch, transport: "sse"});
        await sleep(20);
        streams[0].write(frameText(ev(41)));
        const threads = await client.listThreads();
        streams[0].write("event: close\\ndata: " + JSON.stringify({code: 1011, reason: "x"})
                         + "\\n\\n");  // the server ends the stream as it would close a socket
        await sleep(100);
        streams[1].write(frameText(ev(41)) + frameText(ev(42)));  // a replay overlapping
        await sleep(20);
        streams[1].write(": keep-alive\\n\\n");
        return {posted: posts.map((p) => [p.url, p.frame.type, p.auth]),
                threads: threads.length, resumedWith: streams[1].headers["last-event-id"],
                last: client.lastSeq, duplicates: client.duplicates, state: client.state};
        """,
    )
    assert result == {"posted": [["http://gw/events", "list_threads", "Bearer T"]],
                      "threads": 1, "resumedWith": "41", "last": 42, "duplicates": 1,
                      "state": "open"}  # fmt: skip


def test_over_http_a_refused_token_is_unauthorized(page: Page) -> None:
    page.evaluate(FAKE_HTTP)
    result = run(
        page,
        """
        const refuse = async () => new Response(JSON.stringify({type: "error",
          data: {code: "unauthorized", message: "token expired"}}), {status: 401});
        const client = await start({fetch: refuse, transport: "sse"});
        const heard = [];
        client.on("unauthorized", (e) => heard.push(e.code));
        await sleep(100);
        return [client.state, heard];
        """,
    )
    assert result == ["unauthorized", [4401]]


def test_over_http_a_renewed_token_reopens_the_stream_where_it_was(page: Page) -> None:
    page.evaluate(FAKE_HTTP)
    result = run(
        page,
        """
        const client = await startRenewing({fetch: fakeFetch, transport: "sse"});
        await sleep(20);
        streams[0].write(frameText(ev(5)) + frameText({type: "token_expiring", expires_in: 60}));
        await sleep(250);
        streams[1].write(frameText(ev(6)));
        await sleep(20);
        return {auth: streams.map((s) => s.headers.authorization), from: streams[1].headers[
                "last-event-id"], aborted: Boolean(streams[0].aborted), posted: posts.length,
                refreshes, state: client.state, last: client.lastSeq};
        """,
    )
    assert result == {"auth": ["Bearer A0", "Bearer A1"], "from": "5", "aborted": True,
                      "posted": 0, "refreshes": ["R0"], "state": "open", "last": 6}  # fmt: skip


def test_over_http_keep_alives_keep_a_quiet_stream_and_silence_replaces_it(page: Page) -> None:
    page.evaluate(FAKE_HTTP)
    result = run(
        page,
        """
        const client = await start({fetch: fakeFetch, transport: "sse", idleMs: 60,
                                    deadMs: 60});
        await sleep(20);
        for (let i = 0; i < 6; i++) { streams[0].write(": keep-alive\\n\\n"); await sleep(30); }
        const kept = streams.length;
        await sleep(600);  // silence: pinged (not posted: the stream is the proof), then replaced
        return [kept, streams.length > 1, Boolean(streams[0].aborted), posts.length];
        """,
    )
    assert result == [1, True, True, 0]
