// agentwire.js: the JavaScript client for agentwire (docs/protocol.md). No dependencies, no build.
//
//   import { connect, login } from "./agentwire.js";
//   const { access_token } = await login("http://127.0.0.1:8083", email, password);
//   const client = connect({ url: "ws://127.0.0.1:8002/ws", token: access_token });
//   // or, to keep the socket past the token's 15 minutes (tokens.js, shared by the tabs):
//   const tokens = new TokenStore({ authUrl }); tokens.save(await login(authUrl, email, pw));
//   const client = connect({ url, tokens });
//   client.on("agent_thinking", (e) => console.log(e.data.thought));
//   const { run_id } = await client.send("Why is the api slow this week?");
//
// The client reconnects by itself (exponential backoff with jitter) and resumes with
// `?after_seq=<last seq>`; events are deduplicated by seq, so a listener sees each event once and
// in order. A silent socket (no frame, heartbeat or pong) is treated as dead and replaced.
// Close 4401 emits "unauthorized" and stops; 4403 (session revoked: logged out elsewhere) emits
// "revoked" and stops; other 4400-4499 and 1008 emit "closed" and stop.
//
// With `tokens` (an object with `get()` → {accessToken, refreshToken, expiresAt, lifetimeMs} and
// `refresh(spentRefreshToken)` → the next such object, e.g. tokens.js's TokenStore) the client
// renews its token: on `token_expiring`, and at 80% of the token's lifetime, it refreshes and
// sends `{"type": "auth", token}` on the open socket; every (re)connect uses the newest token; a
// 4401 gets one refresh and a reconnect. A refresh the auth service refuses emits "unauthorized".
//
// Streamed text (`deltas: true`, docs/protocol.md "Streamed text and tool progress"): the socket
// opens `/ws?deltas=1` and also gets `message_started`, `message_delta` and `tool_progress`
// events. Joining without a position, it first gets a "run_snapshot" per run under way
// (`{run_id, thread_id, upto_seq, events}`, events with their seq): the client takes `upto_seq`
// as its position and emits "run_snapshot". `runEvents(runId, afterSeq, uptoSeq)` asks for one
// run's events (a finished run's `first_seq - 1` and `last_seq` from `listRuns`: all of it) and
// resolves with such a snapshot. `RunState` (runstate.js, exported here) folds events and
// snapshots into what a person reads: each message's text so far, each tool's progress, the end.
//
//   const client = connect({ url, tokens, deltas: true });
//   const run = new RunState(run_id);
//   client.on("event", (e) => e.run_id === run_id && run.apply(e) && draw(run));
//   run.applySnapshot(await client.runEvents(run_id, first_seq - 1, last_seq));
//
// Without `deltas` the socket behaves as it always did: the seven events, each text whole.
//
// Approvals (docs/protocol.md, "Approvals: ask before acting"): a run that wants a gated tool
// emits `approval_requested`; `approve(id)` / `deny(id, reason)` answer it (resolved with
// `approval_decided`), and every tab then gets the run's `approval_resolved`. RunState keeps
// them (`run.approvals`, `run.pending`). `listAgents()` names the deployment's agents; `send(...,
// {agent})` picks one.
//
// Without WebSockets (docs/protocol.md, "Without WebSockets"): where none can be opened (no
// WebSocket, a constructor that throws, `fallbackAfter` failed opens in a row before one ever
// opened) the client goes on over HTTP by itself — httpstream.js: GET /events read as SSE with
// fetch, resumed with Last-Event-ID, frames POSTed — and `transport` says "sse".

import { HttpEventSocket, eventsUrl } from "./httpstream.js";

export { RunState } from "./runstate.js";

export const EVENT_TYPES = Object.freeze([
  "agent_started", "agent_thinking", "tool_executing", "tool_completed",
  "agent_completed", "agent_failed", "agent_cancelled",
]);
/** Sent only to a socket opened with `deltas: true`. */
export const STREAM_TYPES = Object.freeze(["message_started", "message_delta", "tool_progress"]);
export const TERMINAL_TYPES = new Set(["agent_completed", "agent_failed", "agent_cancelled"]);
export const CloseCode = Object.freeze({
  NORMAL: 1000, GOING_AWAY: 1001, POLICY: 1008, TOO_BIG: 1009, INTERNAL: 1011,
  SERVER_RESTART: 4000, SLOW_CONSUMER: 4008, UNAUTHORIZED: 4401, REVOKED: 4403,
});
// Error codes that answer only some requests (by their reply type); docs/protocol.md, error codes.
const ERROR_ANSWERS = Object.freeze({
  intake_unavailable: ["run_accepted"], // the message was not stored: nothing will run
  invalid_request: ["run_accepted"], // an empty message
  thread_not_found: ["runs"], // a message to such a thread is accepted, then fails
  run_not_found: ["cancel_accepted"],
  no_agent_available: ["cancel_accepted", "threads", "runs"], // never to a message any more
  reply_too_large: ["threads", "runs"], // a page with a run too big to send
  unknown_type: ["run_snapshot", "agents"], // a gateway older than run_events or list_agents
  approval_not_found: ["approval_decided"], // not yours, or no such approval
  unknown_agent: ["run_accepted"], // a message naming an agent the deployment does not have
});
const SUBPROTOCOL = "agentwire.v1";
const ANSWERED = Symbol("answered"); // a run_snapshot that answers a runEvents request
const DEFAULTS = {
  backoffBaseMs: 500, backoffMaxMs: 15000, idleMs: 25000, deadMs: 10000, requestTimeoutMs: 15000,
  renewAt: 0.8, renewRetryMs: 5000, fallbackAfter: 3,
};

/** Capped exponential backoff with "equal jitter": half fixed, half random. */
export function backoffDelay(attempt, baseMs = DEFAULTS.backoffBaseMs,
  maxMs = DEFAULTS.backoffMaxMs, random = Math.random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** What to do after a close: "reconnect", "reconnect_now", "unauthorized", "revoked" or "stop". */
export function closeAction(code) {
  if (code === CloseCode.UNAUTHORIZED) return "unauthorized";
  if (code === CloseCode.REVOKED) return "revoked";
  if (code === CloseCode.POLICY || (code >= 4400 && code <= 4499)) return "stop";
  if (code === CloseCode.SERVER_RESTART) return "reconnect_now";
  return "reconnect";
}

/** The server's error frame (or a local failure such as a timeout) as an Error with a code. */
export class AgentwireError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "AgentwireError";
    this.code = code;
  }
}

async function authPost(authUrl, path, payload) {
  const response = await fetch(new URL(path, authUrl), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  const body = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error || { code: "http_" + response.status, message: response.statusText };
    throw new AgentwireError(error.code, error.message);
  }
  return body;
}

/** `POST /auth/register` → `{user_id, email}`; throws AgentwireError (e.g. `email_taken`). */
export const register = (authUrl, email, password) =>
  authPost(authUrl, "/auth/register", { email, password });
/** `POST /auth/login` → `{access_token, token_type, expires_in, refresh_token,
 * refresh_expires_in}`. */
export const login = (authUrl, email, password) =>
  authPost(authUrl, "/auth/login", { email, password });
/** `POST /auth/refresh` → the next token pair. Spends `refreshToken`: using it twice ends the
 * whole session, so tabs must share one refresh (tokens.js does). */
export const refresh = (authUrl, refreshToken) =>
  authPost(authUrl, "/auth/refresh", { refresh_token: refreshToken });
/** `POST /auth/logout`: ends the session (every tab's, every socket's: they close with 4403). */
export const logout = (authUrl, refreshToken) =>
  authPost(authUrl, "/auth/logout", { refresh_token: refreshToken });

/** Open a client and start connecting; see AgentwireClient for the options. */
export function connect(options) {
  const client = new AgentwireClient(options);
  client.open();
  return client;
}

export class AgentwireClient {
  /**
   * @param {object} o
   * @param {string} o.url        the gateway's WebSocket URL, e.g. ws://127.0.0.1:8002/ws
   * @param {string} [o.token]   an access token (sent as a subprotocol, never in the URL)
   * @param {object} [o.tokens]  instead of `token`: tokens to renew (see the top of this file)
   * @param {number} [o.afterSeq] resume after this seq on the first connect (default: live only)
   * @param {boolean} [o.deltas] stream text and tool progress (`/ws?deltas=1`; default off)
   * @param {string} [o.transport] "auto" (default: a WebSocket, else HTTP), "websocket", "sse"
   * @param {string} [o.eventsUrl] the gateway's /events URL (default: from `url`)
   * @param {number} [o.fallbackAfter] failed opens in a row, never open, before HTTP (3)
   */
  constructor({ url, token = null, tokens = null, afterSeq = null, deltas = false,
    WebSocket: Impl = globalThis.WebSocket, transport = "auto", eventsUrl: events = null,
    fetch: fetchImpl = null, ...rest }) {
    this.url = url;
    this.eventsUrl = events || eventsUrl(url);
    this._auto = transport === "auto";
    this._transport = transport === "sse" || typeof Impl !== "function" ? "sse" : "websocket";
    this._fetch = fetchImpl;
    this._failedOpens = 0; // WebSocket attempts in a row that never opened
    this._everOpened = false; // a WebSocket opened once: the network allows them
    this.deltas = Boolean(deltas);
    this.tokens = tokens;
    this._token = token;
    this._renewing = null; // the refresh in flight, shared by everything that asks for one
    this._authRetried = false; // one refresh per 4401, not a loop
    this._authSent = false; // an auth frame awaits its auth_ok (or its error)
    this.options = { ...DEFAULTS, ...rest };
    this._Impl = Impl;
    this._lastSeq = afterSeq;
    this._listeners = new Map();
    this._pending = [];
    this._state = "idle";
    this._ws = null;
    this._attempt = 0;
    this._timers = { retry: null, idle: null, dead: null, renew: null };
    this._stopped = false;
    this._onOnline = () => { // the network is back: skip the rest of the backoff
      if (this._state === "reconnecting" && !this._ws) this._connect();
    };
    this.duplicates = 0; // events dropped because their seq was already seen
  }

  get state() { return this._state; }
  /** "websocket", or "sse" (GET /events down, POST /events up) where WebSockets fail. */
  get transport() { return this._transport; }
  /** The newest access token: the store's (another tab may have refreshed it), or the given. */
  get token() { return this.tokens ? this.tokens.get()?.accessToken ?? this._token : this._token; }
  get lastSeq() { return this._lastSeq; }
  /** The current WebSocket, or HttpEventSocket over HTTP (or null): tests may close it (or
   * `drop()` an HttpEventSocket's stream) to simulate a network drop. */
  get socket() { return this._ws; }

  /** Listen to an event type, "event" (any agent event), "frame" (any frame), "state",
   * "unauthorized", "closed", "error", "resume_gap", "caught_up", "heartbeat"... */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this._listeners.get(type).delete(fn);
  }

  open() {
    this._stopped = false;
    globalThis.addEventListener?.("online", this._onOnline);
    this._connect();
  }

  /** Close for good (no reconnect); pending requests fail. */
  close() {
    this._stopped = true;
    globalThis.removeEventListener?.("online", this._onOnline);
    this._clearTimers();
    const ws = this._detach();
    if (ws) ws.close(CloseCode.NORMAL, "client closed");
    this._finish("closed", new AgentwireError("closed", "the client was closed"));
  }

  /** Replace the token (after logging in again) and reconnect if the client had stopped. */
  setToken(token) {
    this._token = token;
    if (this._state === "unauthorized" || this._state === "closed") this.open();
  }

  /** Send a message; resolves with its `run_accepted` (`{run_id, thread_id, state, ahead?}`:
   * `state` is "starting", or "queued" behind `ahead` runs until its agent_started). Rejects
   * with AgentwireError `intake_unavailable` when the message could not be stored: nothing
   * will run, send it again. Resent as-is after a reconnect: the server answers a repeated
   * `client_msg_id` with the original run. */
  send(content, { threadId = null, clientMsgId = null, agent = null } = {}) {
    const id = clientMsgId || newId();
    const frame = { type: "message", content, client_msg_id: id };
    if (threadId) frame.thread_id = threadId;
    if (agent) frame.agent = agent; // one of listAgents' names; none: the default agent
    return this._request(frame, "run_accepted", id);
  }

  /** Approve a run's `approval_requested`; resolves with `approval_decided`
   * (`{approval_id, decision, first}`: `first` false when another tab decided first, and
   * `decision` is then theirs). Rejects with AgentwireError `approval_not_found`. The run's
   * `approval_resolved` event comes to every tab either way. */
  approve(approvalId) {
    return this._request({ type: "approve", approval_id: approvalId }, "approval_decided",
      approvalId);
  }

  /** Deny it, with an optional reason the agent is told; answered as `approve` is. */
  deny(approvalId, reason = "") {
    const frame = { type: "deny", approval_id: approvalId };
    if (reason) frame.reason = reason;
    return this._request(frame, "approval_decided", approvalId);
  }

  /** Resolves with the deployment's agents, `[{name, description, default}]`. */
  async listAgents() {
    const reply = await this._request({ type: "list_agents" }, "agents", null);
    return reply.agents;
  }

  /** Stop a run; resolves with `cancel_accepted` (`state`: cancelling, or the run's end state). */
  cancel(runId) {
    return this._request({ type: "cancel", run_id: runId }, "cancel_accepted", runId);
  }

  /** Resolves with a page of the user's threads, most recently used first
   * (`[{thread_id, title, created_at, updated_at}]`, 50 unless `limit` says otherwise, at most
   * 200). The array's `nextCursor` asks for the next page (`{cursor: page.nextCursor}`); null
   * when there is no more. */
  async listThreads({ limit = null, cursor = null } = {}) {
    const frame = pageFrame({ type: "list_threads" }, limit, cursor);
    const reply = await this._request(frame, "threads", pageKey(null, cursor));
    return page(reply.threads, reply);
  }

  /** Resolves with a page of a thread's runs, newest first (`[{run_id, status, content,
   * result?, ...}]`), and `nextCursor` for the runs before them, as in `listThreads`. */
  async listRuns(threadId, { limit = null, cursor = null } = {}) {
    const frame = pageFrame({ type: "list_runs", thread_id: threadId }, limit, cursor);
    const reply = await this._request(frame, "runs", pageKey(threadId, cursor));
    return page(reply.runs, reply);
  }

  /** One run's events stored after `afterSeq` and up to `uptoSeq`, compacted: resolves with
   * a `run_snapshot` (`{run_id, thread_id, upto_seq, events}`). With a finished run's
   * `first_seq - 1` and `last_seq` (from `listRuns`) that is the whole run. */
  runEvents(runId, afterSeq, uptoSeq) {
    const frame = { type: "run_events", run_id: runId, after_seq: afterSeq, upto_seq: uptoSeq };
    return this._request(frame, "run_snapshot", runId);
  }

  // Connection lifecycle

  _connect() {
    this._clearTimers();
    const token = this.token;
    if (!token) return this._unauthorized(4401, "no token");
    this._setState("connecting", { attempt: this._attempt });
    this._openedNow = false;
    if (this._transport === "sse") return this._attach(this._httpSocket());
    let url = this.url;
    if (this._lastSeq !== null || this.deltas) {
      const u = new URL(url);
      if (this.deltas) u.searchParams.set("deltas", "1");
      if (this._lastSeq !== null) u.searchParams.set("after_seq", String(this._lastSeq));
      url = u.toString();
    }
    let ws;
    try {
      ws = new this._Impl(url, [SUBPROTOCOL, "bearer." + token]);
    } catch (err) {
      if (this._auto && !this._everOpened) return this._fallBack(); // no WebSocket here
      this._retry(1006, String(err));
      return;
    }
    this._attach(ws);
  }

  _attach(ws) {
    this._ws = ws;
    ws.onopen = () => ws === this._ws && this._opened();
    ws.onmessage = (msg) => ws === this._ws && this._received(msg.data);
    ws.onclose = (ev) => ws === this._ws && this._closed(ev.code, ev.reason);
    ws.onerror = () => {}; // a close event always follows, with the code
    ws.onactivity = () => ws === this._ws && this._touch(); // a keep-alive on the HTTP stream
  }

  _httpSocket() {
    return new HttpEventSocket(this.eventsUrl, { token: () => this.token,
      position: () => this._lastSeq, deltas: this.deltas, fetch: this._fetch });
  }

  /** WebSockets cannot be opened here (none in this browser, or a proxy that breaks them):
   * the same protocol over HTTP from now on, at once. */
  _fallBack() {
    this._transport = "sse";
    this._attempt = 0;
    this._emit("transport", { transport: "sse" });
    this._connect();
  }

  _opened() {
    this._openedNow = true;
    if (this._transport === "websocket") this._everOpened = true;
    this._failedOpens = 0;
    this._setState("open");
    this._touch();
    this._scheduleRenew();
    for (const request of this._pending) this._write(request.frame);
  }

  _closed(code, reason) {
    this._detach();
    this._clearTimers();
    if (this._stopped) return;
    if (this._transport === "websocket" && this._auto && !this._everOpened && !this._openedNow
        && code === 1006 && ++this._failedOpens >= this.options.fallbackAfter) {
      return this._fallBack(); // it never opened, again and again: something in between
    }
    const action = closeAction(code);
    if (action === "unauthorized" && this.tokens && !this._authRetried) {
      // Most likely the token ran out (a sleeping laptop misses token_expiring): one refresh.
      this._authRetried = true;
      this._setState("reconnecting", { code, reason, delayMs: 0, attempt: this._attempt });
      this._renew().then((ok) => {
        if (this._stopped || this._ws) return;
        if (ok) this._connect(); else this._retry(code, reason); // auth service down: back off
      });
    } else if (action === "unauthorized") {
      this._unauthorized(code, reason);
    } else if (action === "revoked") {
      this._stopped = true;
      this._finish("revoked", new AgentwireError("revoked", reason || "session revoked"));
      this._emit("revoked", { code, reason });
    } else if (action === "stop") {
      this._finish("closed", new AgentwireError("closed", reason || `closed with ${code}`));
      this._emit("closed", { code, reason });
    } else {
      this._retry(code, reason, action === "reconnect_now");
    }
  }

  _unauthorized(code, reason) {
    this._stopped = true;
    const ws = this._detach();
    if (ws) try { ws.close(CloseCode.NORMAL, "unauthorized"); } catch { /* gone */ }
    this._clearTimers();
    this._finish("unauthorized", new AgentwireError("unauthorized", reason || "unauthorized"));
    this._emit("unauthorized", { code, reason });
  }

  // Token renewal

  /** Refresh (once, however many ask) and hand the new token to the open socket. Resolves
   * true when there is a usable token; false after giving up (then "unauthorized" was emitted). */
  _renew() {
    if (!this.tokens) return Promise.resolve(false);
    if (this._renewing) return this._renewing;
    const spent = this.tokens.get()?.refreshToken;
    this._renewing = (async () => {
      try {
        const fresh = await this.tokens.refresh(spent);
        if (this._ws && this._ws.readyState === 1) {
          this._authSent = true;
          this._write({ type: "auth", token: fresh.accessToken });
        }
        this._scheduleRenew();
        return true;
      } catch (err) {
        if (err instanceof AgentwireError) { // the auth service said no: the session is over
          this._unauthorized(4401, err.message);
          return false;
        } // the auth service is unreachable: try again soon, while the token still works
        clearTimeout(this._timers.renew);
        this._timers.renew = setTimeout(() => this._renew(), this.options.renewRetryMs);
        return false;
      } finally {
        this._renewing = null;
      }
    })();
    return this._renewing;
  }

  /** Renew at `renewAt` (80%) of the token's lifetime, before the server has to warn us. */
  _scheduleRenew() {
    clearTimeout(this._timers.renew);
    const current = this.tokens?.get();
    if (!current?.expiresAt || !current.lifetimeMs || this._stopped) return;
    const at = current.expiresAt - (1 - this.options.renewAt) * current.lifetimeMs;
    // setTimeout overflows past 2^31 ms; a re-check then is harmless
    const delay = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
    this._timers.renew = setTimeout(() => this._renew(), delay);
  }

  _retry(code, reason, now = false) {
    const delayMs = now && this._attempt === 0 ? Math.random() * 250 : backoffDelay(
      this._attempt, this.options.backoffBaseMs, this.options.backoffMaxMs);
    this._attempt += 1;
    this._setState("reconnecting", { code, reason, delayMs, attempt: this._attempt });
    this._timers.retry = setTimeout(() => this._connect(), delayMs);
  }

  /** The socket went quiet past idle + dead: drop it without waiting for a close handshake. */
  _dropDead() {
    const ws = this._detach();
    if (ws) try { ws.close(CloseCode.SERVER_RESTART, "heartbeat timeout"); } catch { /* gone */ }
    this._retry(1006, "heartbeat timeout", true);
  }

  _detach() {
    const ws = this._ws;
    this._ws = null;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = ws.onactivity = null;
    return ws;
  }

  _touch() {
    clearTimeout(this._timers.idle);
    clearTimeout(this._timers.dead);
    this._timers.idle = setTimeout(() => {
      this._write({ type: "ping" });
      this._timers.dead = setTimeout(() => this._dropDead(), this.options.deadMs);
    }, this.options.idleMs);
  }

  _clearTimers() {
    for (const key of Object.keys(this._timers)) clearTimeout(this._timers[key]);
  }

  _setState(state, detail = {}) {
    this._state = state;
    this._emit("state", { state, transport: this._transport, ...detail });
  }

  _finish(state, error) {
    for (const request of this._pending.splice(0)) request.fail(error);
    this._setState(state);
  }

  // Frames in

  _received(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    this._attempt = 0; // the server is talking to us: the next outage starts a fresh backoff
    this._touch();
    if (frame.type !== "error") this._authRetried = false; // the token was taken
    if (typeof frame.seq === "number" && frame.run_id !== undefined) {
      if (this._lastSeq !== null && frame.seq <= this._lastSeq) { this.duplicates += 1; return; }
      this._lastSeq = frame.seq;
      this._emit("frame", frame);
      this._emit("event", frame);
      this._emit(frame.type, frame);
      return;
    }
    const answered = this._control(frame) === ANSWERED;
    this._emit("frame", frame);
    if (answered) return; // a runEvents answer goes to its caller only, not to "run_snapshot"
    this._emit(frame.type, frame.type === "error" ? frame.data : frame);
  }

  _control(frame) {
    switch (frame.type) {
      case "run_accepted":
        // A place to resume from when no event has come yet: a queued run may wait long.
        if (this._lastSeq === null && Number.isInteger(frame.last_seq)) this._lastSeq = frame.last_seq;
        return this._resolve("run_accepted", frame.client_msg_id, frame);
      case "cancel_accepted": return this._resolve("cancel_accepted", frame.run_id, frame);
      case "approval_decided":
        return this._resolve("approval_decided", frame.approval_id, frame);
      case "agents": return this._resolve("agents", null, frame);
      // A page names the cursor it answers: two pages asked for at once cannot be swapped.
      case "threads": return this._resolve("threads", pageKey(null, frame.cursor), frame);
      case "runs": return this._resolve("runs", pageKey(frame.thread_id, frame.cursor), frame);
      case "run_snapshot":
        if (this._resolve("run_snapshot", frame.run_id, frame)) return ANSWERED;
        // On joining: a run under way, its events up to upto_seq; the live ones follow it.
        if (Number.isInteger(frame.upto_seq)) {
          this._lastSeq = Math.max(this._lastSeq ?? 0, frame.upto_seq);
        }
        return;
      case "token_expiring": return void this._renew();
      case "auth_ok": this._authSent = false; return;
      case "error": {
        if (this._authSent && ["unauthorized", "session_revoked"].includes(frame.data.code)) {
          this._authSent = false; // our auth frame's answer, not a request's; the close follows
          return;
        }
        const request = this._answeredBy(frame.data.code);
        if (request) request.fail(new AgentwireError(frame.data.code, frame.data.message));
        return;
      }
      case "caught_up":
        this._lastSeq = Math.max(this._lastSeq ?? 0, frame.last_seq);
        return;
      case "heartbeat":
        // A baseline to resume from when no event has come yet; the server repairs live gaps.
        if (this._lastSeq === null) this._lastSeq = frame.last_seq;
        return;
    }
  }

  // Requests

  _request(frame, replyType, key) {
    return new Promise((resolve, reject) => {
      const request = { frame, replyType, key };
      const timer = setTimeout(() => {
        this._pending = this._pending.filter((r) => r !== request);
        reject(new AgentwireError("timeout", `no ${replyType} within ${this.options.requestTimeoutMs} ms`));
      }, this.options.requestTimeoutMs);
      request.done = (reply) => { clearTimeout(timer); resolve(reply); };
      request.fail = (error) => { clearTimeout(timer); reject(error); };
      if (this._stopped || ["unauthorized", "revoked", "closed"].includes(this._state)) {
        return request.fail(new AgentwireError(this._state, "the client is not connected"));
      }
      this._pending.push(request);
      this._write(frame);
    });
  }

  /** The pending request an error frame answers, taken off the list. Errors carry no id, and
   * replies can overtake each other (a message waits for the queue, a list for an agent), so
   * a code only one kind of request gets goes to the oldest of that kind; others to the oldest. */
  _answeredBy(code) {
    const kinds = ERROR_ANSWERS[code];
    let index = kinds ? this._pending.findIndex((r) => kinds.includes(r.replyType)) : -1;
    if (index < 0) index = this._pending.length ? 0 : -1;
    return index < 0 ? null : this._pending.splice(index, 1)[0];
  }

  _resolve(replyType, key, reply) {
    const index = this._pending.findIndex(
      (r) => r.replyType === replyType && (key === null || r.key === null || r.key === key));
    if (index < 0) return false;
    this._pending.splice(index, 1)[0].done(reply);
    return true;
  }

  _write(frame) {
    if (this._ws && this._ws.readyState === 1) this._ws.send(JSON.stringify(frame));
  }

  _emit(type, payload) {
    for (const fn of this._listeners.get(type) || []) {
      try { fn(payload); } catch (err) { console.error("agentwire listener failed", err); }
    }
  }
}

function pageFrame(frame, limit, cursor) {
  if (limit !== null && limit !== undefined) frame.limit = limit;
  if (cursor) frame.cursor = cursor;
  return frame;
}

/** The items of a `threads` or `runs` frame, with the cursor of the next page (null: none). */
function page(items, reply) {
  return Object.assign(items, { nextCursor: reply.next_cursor ?? null });
}

function pageKey(threadId, cursor) {
  return `${threadId ?? ""}/${cursor ?? ""}`;
}

export function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
}
