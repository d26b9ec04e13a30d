// runstate.js: one run as a person follows it, folded from its events (docs/protocol.md,
// "Streamed text and tool progress"). No DOM: the chat page renders it, tests read it.
//
//   import { RunState } from "./agentwire.js";
//   const run = new RunState("5f0c…");
//   client.on("event", (e) => e.run_id === run.runId && run.apply(e));
//   client.on("run_snapshot", (s) => s.run_id === run.runId && run.applySnapshot(s));
//   run.messages  // Map message_id -> {id, kind, text, complete, cut}, in the order they began
//   run.tools     // Map tool_call_id -> {id, name, parameters, progress, message, state, ...}
//   run.approvals // Map approval_id -> {id, toolName, parameters, question, reason, expiresAt,
//                 //   state: "pending" | "decided", decision, denyReason, decidedBy, decidedAt}
//   run.pending   // the approvals still waiting for a person
//   run.outcome   // null, or {status: "completed" | "failed" | "cancelled", text, code}
//
// What it folds, whichever way the events came (live, a compact replay, a snapshot):
// - `message_started` opens a message (`kind` thinking or answer); each `message_delta` appends
//   its text; the completing event with that `message_id` (`agent_thinking` for a thought,
//   `agent_completed` for the answer) replaces the text with the whole text and marks it
//   complete. A compact replay may bring only the completing event, or one delta holding all
//   the text missed: both fold to the same text.
// - A thought or an answer that was not streamed (no `message_id`) is a complete message too.
// - The run's terminal event ends every message still open (`cut`: it stopped where it got to)
//   and every tool still running (`state` "abandoned").
// - `approval_requested` opens an approval (pending); its `approval_resolved` decides it
//   (`decision` approved / denied / expired / cancelled, by `decidedBy` user / timeout / stop),
//   whichever order a replay brings them in. An approval pending in a snapshot stays pending.
// Each event counts once: a seq already applied is ignored.

/**
 * @typedef {{id: string, kind: ("thinking"|"answer"|null), text: string, complete: boolean,
 *   cut: boolean, seq: number}} Message   seq: the event that last changed it
 * @typedef {{id: string, name: string, parameters: object, state: ("running"|"done"|"failed"|
 *   "abandoned"), progress: (number|null), message: (string|null), result: *,
 *   error: ({code: string, message: string}|null), durationMs: (number|null)}} Tool
 * @typedef {{status: ("completed"|"failed"|"cancelled"), text: string, code: string,
 *   seq: number}} Outcome   text: the answer, the failure's message or the cancel's reason
 * @typedef {{id: string, toolCallId: string, toolName: string, parameters: object,
 *   question: (string|null), reason: string, expiresAt: (number|null), requestedAt: (number|null),
 *   state: ("pending"|"decided"), decision: (string|null), denyReason: (string|null),
 *   decidedBy: (string|null), decidedAt: (number|null), seq: number}} Approval
 *   expiresAt, requestedAt, decidedAt: Unix seconds; decision: approved, denied, expired or
 *   cancelled; decidedBy: user, timeout or stop
 */

const TERMINAL = { agent_completed: "completed", agent_failed: "failed",
  agent_cancelled: "cancelled" };

export class RunState {
  /** @param {string|null} runId */
  constructor(runId = null) {
    this.runId = runId;
    /** @type {{agentId: string, message: string, timestamp: number}|null} */
    this.started = null;
    /** @type {Map<string, Message>} */
    this.messages = new Map();
    /** @type {Map<string, Tool>} */
    this.tools = new Map();
    /** @type {Map<string, Approval>} */
    this.approvals = new Map();
    /** @type {Outcome|null} */
    this.outcome = null;
    this._seen = new Set();
  }

  /** A RunState built from a list of events (a `run_snapshot`'s, say). */
  static from(events, runId = null) {
    const state = new RunState(runId);
    for (const event of events) state.apply(event);
    return state;
  }

  /** "running" until the terminal event, then the outcome's status. */
  get status() { return this.outcome ? this.outcome.status : "running"; }

  /** The answer (streamed so far, or whole), or null. */
  get answer() {
    for (const message of this.messages.values()) if (message.kind === "answer") return message;
    return null;
  }

  /** The approvals still waiting for a person's decision. */
  get pending() {
    return [...this.approvals.values()].filter((approval) => approval.state === "pending");
  }

  /** Fold one event in. Returns false when its seq was already applied (nothing changed). */
  apply(event) {
    if (typeof event.seq === "number") {
      if (this._seen.has(event.seq)) return false;
      this._seen.add(event.seq);
    }
    const d = event.data || {};
    switch (event.type) {
      case "agent_started":
        this.started = { agentId: d.agent_id ?? "", message: d.message ?? "",
          timestamp: d.timestamp };
        break;
      case "message_started": this._message(d.message_id, event.seq).kind = d.kind ?? null; break;
      case "message_delta": this._delta(event.seq, d); break;
      case "agent_thinking": this._complete(d.message_id ?? `thought-${event.seq}`, "thinking", d.thought, event.seq); break;
      case "tool_executing": this._tool(d); break;
      case "tool_progress": this._progress(d); break;
      case "tool_completed": this._toolDone(d); break;
      case "approval_requested": this._requested(d, event.seq); break;
      case "approval_resolved": this._resolved(d, event.seq); break;
      default:
        if (TERMINAL[event.type]) this._end(event, d);
    }
    return true;
  }

  /** Fold in a `run_snapshot`'s events (oldest first). Returns how many were new. */
  applySnapshot(snapshot) {
    const events = [...(snapshot.events || [])].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    return events.filter((event) => this.apply(event)).length;
  }

  _message(id, seq) {
    let message = this.messages.get(id);
    if (!message) {
      message = { id, kind: null, text: "", complete: false, cut: false, seq };
      this.messages.set(id, message);
    }
    return message;
  }

  _delta(seq, d) {
    const message = this._message(d.message_id, seq);
    if (message.complete) return; // the whole text is already there
    message.text += d.delta ?? "";
    message.seq = seq;
  }

  _complete(id, kind, text, seq) {
    const message = this._message(id, seq);
    Object.assign(message, { kind, text: text ?? "", complete: true, cut: false, seq });
    return message;
  }

  _tool(d) {
    let tool = this.tools.get(d.tool_call_id);
    if (!tool) {
      tool = { id: d.tool_call_id, name: d.tool_name ?? "", parameters: d.parameters ?? {},
        state: "running", progress: null, message: null, result: null, error: null,
        durationMs: null };
      this.tools.set(d.tool_call_id, tool);
    }
    if (d.parameters) tool.parameters = d.parameters;
    return tool;
  }

  _progress(d) {
    const tool = this._tool(d);
    if (tool.state !== "running") return; // a late progress never reopens a finished tool
    if (typeof d.progress === "number") tool.progress = Math.min(1, Math.max(0, d.progress));
    if (d.message !== undefined && d.message !== null) tool.message = d.message;
  }

  _toolDone(d) {
    const tool = this._tool(d);
    Object.assign(tool, { state: d.error ? "failed" : "done", result: d.result ?? null,
      error: d.error ?? null, durationMs: d.duration_ms ?? null });
  }

  _approval(id, seq) {
    let approval = this.approvals.get(id);
    if (!approval) {
      approval = { id, toolCallId: "", toolName: "", parameters: {}, question: null, reason: "",
        expiresAt: null, requestedAt: null, state: "pending", decision: null, denyReason: null,
        decidedBy: null, decidedAt: null, seq };
      this.approvals.set(id, approval);
    }
    return approval;
  }

  _requested(d, seq) {
    Object.assign(this._approval(d.approval_id, seq), {
      toolCallId: d.tool_call_id ?? "", toolName: d.tool_name ?? "",
      parameters: d.parameters ?? {}, question: d.question ?? null, reason: d.reason ?? "",
      expiresAt: d.expires_at ?? null, requestedAt: d.timestamp ?? null, seq });
  }

  _resolved(d, seq) {
    Object.assign(this._approval(d.approval_id, seq), {
      state: "decided", decision: d.decision ?? null, denyReason: d.reason ?? null,
      decidedBy: d.decided_by ?? null, decidedAt: d.timestamp ?? null });
  }

  _end(event, d) {
    const status = TERMINAL[event.type];
    if (status === "completed") {
      this._complete(d.message_id ?? "answer", "answer", d.result, event.seq);
    }
    for (const message of this.messages.values()) {
      if (!message.complete) Object.assign(message, { complete: true, cut: true });
    }
    for (const tool of this.tools.values()) if (tool.state === "running") tool.state = "abandoned";
    const text = status === "completed" ? d.result : status === "failed" ? d.message : d.reason;
    this.outcome = { status, text: text ?? "", code: d.code ?? "", seq: event.seq };
  }
}
