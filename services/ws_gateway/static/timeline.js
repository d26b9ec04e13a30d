// The live timeline of a run, and a thread's list of runs, built from agent events.
// Only DOM text APIs are used for server data (textContent, never innerHTML), so nothing an agent
// or tool says can inject markup. Every rendered event carries data-seq (tool results carry
// data-result-seq on their tool card), so "nothing doubled" can be checked from the DOM.

const STATUS_LABEL = {
  sending: "Sending…", queued: "Queued", starting: "Starting", running: "Working",
  stopping: "Stopping…", completed: "Done", failed: "Failed", cancelled: "Cancelled",
  unsent: "Not sent",
};
const FINAL = new Set(["completed", "failed", "cancelled", "unsent"]);
const WAITING = new Set(["queued", "starting"]); // accepted, and no agent_started yet
const STOPPABLE = new Set(["queued", "starting", "running", "stopping"]);

// agent_failed codes in plain words (docs/protocol.md, error codes); any other code is "Failed"
// with the server's message. A hint says what to do when the user can do something.
const FAILURES = {
  thread_not_found: ["This thread was not found",
    "It does not exist or is not yours. Start a new thread and send it there."],
  thread_busy: ["This thread is busy", "Send it again once the run in progress has ended."],
  intake_failed: ["Your message could not be taken in", "Nothing ran. Send it again."],
  agent_lost: ["The agent stopped unexpectedly"],
  agent_stopped: ["The agent was shut down before it finished"],
  agent_error: ["The agent ran into an error"],
  run_timeout: ["The run took too long"],
  tool_failed: ["A tool failed"],
  tool_timeout: ["A tool took too long"],
  tool_unavailable: ["A tool was not available"],
  tool_lost: ["A tool stopped responding"],
  unknown_tool: ["The agent asked for a tool that does not exist"],
  invalid_parameters: ["The agent called a tool the wrong way"],
  result_too_large: ["A tool's result was too large"],
  event_too_large: ["An update was too large to deliver"],
  publish_failed: ["The run's progress could not be saved"],
};

/** An agent_failed (or a failed run from history) in plain words: {title, text, hint, code}. */
export function describeFailure(code, message) {
  const [title, hint] = FAILURES[code] || ["Failed"];
  return { title, text: message || "", hint: hint || "", code: code || "" };
}

/** What a run accepted but not yet started is waiting for, from its run_accepted. */
export function describeWait({ state, ahead, afterPrevious = false }) {
  if (afterPrevious) return "Waiting for the previous run in this thread to end";
  if (state === "starting") return "Starting — an agent is picking it up";
  if (!Number.isInteger(ahead)) return "Waiting for a free agent";
  return `Waiting for a free agent — ${ahead ? `${ahead} ahead` : "next in line"}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1) return "<1 ms";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function formatClock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

const items = (n) => `${n} ${n === 1 ? "item" : "items"}`;

function scalar(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === "object") return Array.isArray(value) ? items(value.length) : "{…}";
  const text = String(value);
  return text.length > 40 ? text.slice(0, 39) + "…" : text;
}

/** `service=api · period=7d`: parameters on one line. */
export function formatParams(params) {
  return Object.entries(params || {}).map(([k, v]) => `${k}=${scalar(v)}`).join(" · ");
}

/** A one-line gist of a tool result: fields that do not just echo the parameters, plain values
 * first, then lists as counts. The whole result is one click away. */
export function summarize(result, params = {}) {
  if (result === null || typeof result !== "object") return scalar(result);
  if (Array.isArray(result)) return items(result.length);
  const fields = Object.entries(result).filter(([k, v]) => k !== "unit" && params[k] !== v);
  const plain = fields.filter(([, v]) => v === null || typeof v !== "object");
  const lists = fields.filter(([, v]) => Array.isArray(v));
  const parts = [...plain, ...lists].slice(0, 4).map(([k, v]) => `${k}: ${scalar(v)}`);
  return parts.join(" · ") || "{…}";
}

export class RunView {
  constructor({ runId = null, threadId = null, content = "", createdAt = Date.now() / 1000,
    status = "running", onStop = () => {} }) {
    this.runId = runId;
    this.threadId = threadId;
    this.createdAt = createdAt;
    this.seen = new Set();
    this.params = new Map(); // tool_call_id -> parameters, for the result's JSON view
    this.startedAt = null;
    this.onStop = onStop;
    this.el = el("article", "run");
    this.message = el("div", "user-msg");
    this.messageText = el("p");
    this.message.append(this.messageText);
    const card = el("div", "agent-card");
    const head = el("header", "run-head");
    this.badge = el("span", "badge");
    this.agent = el("span", "agent-id");
    this.elapsed = el("span", "elapsed");
    this.stop = el("button", "stop", "Stop");
    this.stop.type = "button";
    this.stop.addEventListener("click", () => this.onStop(this));
    head.append(this.badge, this.agent, this.elapsed, this.stop);
    this.steps = el("ol", "steps");
    this.waitNote = el("p", "wait-note", "Waiting to start");
    this.outcome = el("div", "outcome");
    card.append(head, this.steps, this.waitNote, this.outcome);
    this.el.append(this.message, card);
    this.setContent(content);
    this.setStatus(status);
    if (runId) this.bind(runId, threadId);
  }

  get final() { return FINAL.has(this.status); }

  bind(runId, threadId) {
    this.runId = runId;
    this.threadId = threadId;
    this.el.dataset.runId = runId;
    this.stop.setAttribute("aria-label", `Stop run ${runId.slice(0, 8)}`);
  }

  setContent(content) {
    this.messageText.textContent = content || "";
    this.message.hidden = !content;
  }

  setStatus(status) {
    if (this.final && status !== this.status) return; // a finished run stays finished
    this.status = status;
    this.el.dataset.status = status;
    this.badge.textContent = STATUS_LABEL[status] || status;
    this.waitNote.hidden = !WAITING.has(status);
    this.stop.hidden = !STOPPABLE.has(status) || !this.runId;
    this.stop.disabled = status === "stopping";
  }

  /** The run was accepted (`run_accepted`): until its agent_started it waits, and says for
   * what, not a spinner. `afterPrevious`: an earlier run of its thread is still going. */
  waiting({ state, ahead, afterPrevious = false }) {
    if (this.startedAt !== null || this.status !== "sending") return; // already under way
    this.waitNote.textContent = describeWait({ state, ahead, afterPrevious });
    this.setStatus(state === "starting" && !afterPrevious ? "starting" : "queued");
  }

  /** Render one event; false if its seq was already rendered. */
  apply(frame) {
    if (this.seen.has(frame.seq)) return false;
    this.seen.add(frame.seq);
    const d = frame.data || {};
    switch (frame.type) {
      case "agent_started": return this._started(frame, d);
      case "agent_thinking": return Boolean(this._step(frame, "thinking", d.thought));
      case "tool_executing": return this._toolStarted(frame, d);
      case "tool_completed": return this._toolDone(frame, d);
      case "agent_completed": return this._end(frame, "completed", "Answer", d.result);
      case "agent_failed": return this._failed(frame, d);
      case "agent_cancelled": return this._end(frame, "cancelled", "Cancelled", d.reason);
    }
    return true;
  }

  /** What list_runs says of a run whose events this page did not see. */
  showHistory(info) {
    if (!this.messageText.textContent) this.setContent(info.content);
    if (this.seen.size || this.outcome.childElementCount) return;
    this.setStatus(info.status);
    if (info.status === "completed") this._outcome(null, "completed", "Answer", info.result);
    if (info.status === "failed") {
      this._failure(null, describeFailure(info.error_code, info.error_message));
    }
    if (info.status === "cancelled") {
      this._outcome(null, "cancelled", "Cancelled", info.error_message || "Stopped before it finished.");
    }
    if (info.finished_at) this.elapsed.textContent = formatDuration((info.finished_at - info.created_at) * 1000);
  }

  _step(frame, kind, text) {
    const item = el("li", `step ${kind}`);
    item.dataset.seq = frame.seq;
    item.dataset.kind = frame.type;
    item.append(el("span", "step-icon"), el("span", "step-text", text));
    this.steps.append(item);
    return item;
  }

  _started(frame, d) {
    this.startedAt = d.timestamp;
    this.agent.textContent = d.agent_id || "";
    if (this.status !== "stopping") this.setStatus("running"); // (and a finished run stays so)
    const item = this._step(frame, "started", d.message);
    item.append(el("time", "clock", formatClock(d.timestamp)));
    this.steps.prepend(item); // the start leads even if a resume delivered it late
    return true;
  }

  _toolCard(frame, d) {
    let card = this.steps.querySelector(`[data-tool-call-id="${CSS.escape(d.tool_call_id)}"]`);
    if (card) return card;
    card = el("li", "step tool running");
    card.dataset.toolCallId = d.tool_call_id;
    const head = el("div", "tool-head");
    head.append(el("span", "tool-state"), el("code", "tool-name", d.tool_name),
      el("span", "tool-params", formatParams(d.parameters)), el("span", "tool-duration"));
    const result = el("details", "tool-result");
    result.append(el("summary", "tool-summary", "running…"), el("pre", "tool-json"));
    result.querySelector("pre").textContent = JSON.stringify({ parameters: d.parameters }, null, 2);
    card.append(head, result);
    this.params.set(d.tool_call_id, d.parameters);
    this.steps.append(card);
    return card;
  }

  _toolStarted(frame, d) {
    const card = this._toolCard(frame, d);
    card.dataset.seq = frame.seq;
    card.dataset.kind = frame.type;
    return true;
  }

  _toolDone(frame, d) {
    const card = this._toolCard(frame, d);
    card.dataset.resultSeq = frame.seq;
    card.classList.remove("running");
    card.classList.add(d.error ? "failed" : "done");
    card.querySelector(".tool-duration").textContent = formatDuration(d.duration_ms);
    const parameters = this.params.get(d.tool_call_id);
    card.querySelector(".tool-summary").textContent = d.error
      ? `${d.error.code}: ${d.error.message}` : summarize(d.result, parameters);
    card.querySelector(".tool-json").textContent = JSON.stringify(
      { parameters, result: d.result, error: d.error ?? undefined }, null, 2);
    return true;
  }

  _failed(frame, d) {
    this._end(frame, "failed");
    this._failure(frame, describeFailure(d.code, d.message));
    return true;
  }

  _end(frame, status, title, text) {
    this.setStatus(status);
    if (title) this._outcome(frame, status, title, text);
    if (this.startedAt) this.elapsed.textContent = formatDuration((frame.data.timestamp - this.startedAt) * 1000);
    for (const card of this.steps.querySelectorAll(".tool.running")) card.classList.add("abandoned");
    return true;
  }

  _outcome(frame, status, title, text) {
    const box = el("div", `outcome-box ${status}`);
    if (frame) {
      box.dataset.seq = frame.seq;
      box.dataset.kind = frame.type;
    }
    box.append(el("h3", "outcome-title", title));
    if (text) box.append(el("p", "outcome-text", text));
    this.outcome.replaceChildren(box);
    return box;
  }

  _failure(frame, { title, text, hint, code }) {
    const box = this._outcome(frame, "failed", title, text);
    if (hint) box.append(el("p", "outcome-hint", hint));
    if (code) box.append(el("code", "outcome-code", code));
  }

  /** The message was not stored (or never reached the server): nothing will run. */
  unsent(reason, hint = "") {
    this.setStatus("unsent");
    this._failure(null, { title: "Not sent", text: reason, hint, code: "" });
  }
}

/** One thread's runs, in the order they were created. */
export class ThreadView {
  constructor(threadId = null) {
    this.threadId = threadId;
    this.el = el("div", "thread-runs");
    this.runs = new Set();
  }

  add(view) {
    this.runs.add(view);
    view.el.dataset.createdAt = view.createdAt;
    const later = [...this.el.children].find((n) => Number(n.dataset.createdAt) > view.createdAt);
    this.el.insertBefore(view.el, later || null);
  }

  get empty() { return this.runs.size === 0; }
}
