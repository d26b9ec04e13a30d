// The live timeline of a run, and a thread's list of runs, built from agent events.
// Only DOM text APIs are used for server data (textContent, never innerHTML; the answer's
// Markdown is built node by node in markdown.js), so nothing an agent or tool says can inject
// markup. Every rendered event carries data-seq (tool results carry data-result-seq on their
// tool card), so "nothing doubled" can be checked from the DOM. A streamed message shows the
// seq and kind of its start until its completing event replaces them with its own.

import {
  describeFailure, describeWait, formatClock, formatDuration, formatParams, summarize,
} from "./describe.js";
import { ApprovalCard } from "./approval.js";
import { renderMarkdown } from "./markdown.js";
import { RunState } from "./runstate.js";

export { describeFailure, describeWait, formatAgo, formatDuration, formatParams, summarize }
  from "./describe.js";

const STATUS_LABEL = {
  sending: "Sending…", queued: "Queued", starting: "Starting", running: "Working",
  stopping: "Stopping…", completed: "Done", failed: "Failed", cancelled: "Cancelled",
  unsent: "Not sent",
};
const FINAL = new Set(["completed", "failed", "cancelled", "unsent"]);
const WAITING = new Set(["queued", "starting"]); // accepted, and no agent_started yet
const STOPPABLE = new Set(["queued", "starting", "running", "stopping"]);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** The blinking caret of text being written, after its last word (inside a list's last item
 * or a code block, not below them). Empty: it adds nothing to the text. */
function caretAtEnd(body) {
  let at = body.lastElementChild;
  while (at && ["UL", "OL", "PRE"].includes(at.tagName)) at = at.lastElementChild;
  (at || body).append(el("span", "caret"));
}

export class RunView {
  constructor({ runId = null, threadId = null, content = "", createdAt = Date.now() / 1000,
    status = "running", onStop = () => {}, onChange = () => {}, onApprove = async () => {},
    onDeny = async () => {}, onAsked = () => {}, onLeave = () => {} }) {
    this.runId = runId;
    this.threadId = threadId;
    this.createdAt = createdAt;
    this.seen = new Set();
    this.state = new RunState(runId); // what the events say, whichever way they came
    this.params = new Map(); // tool_call_id -> parameters, for the result's JSON view
    this.startedAt = null;
    this.onStop = onStop;
    this.onChange = onChange; // after anything that changes the run's height: the page follows
    // Approvals: onApprove(id) / onDeny(id, reason) decide (promises); onAsked(view, card) when
    // a card still waiting for a decision appears (the page decides where the focus goes).
    // onLeave: Escape on a card (the focus goes back to the message box).
    Object.assign(this, { onApprove, onDeny, onAsked, onLeave });
    this.approvalCards = new Map(); // approval_id -> ApprovalCard
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
    this.answer = el("div", "answer-slot");
    this.outcome = el("div", "outcome");
    card.append(head, this.steps, this.waitNote, this.answer, this.outcome);
    this.el.append(this.message, card);
    this._drawing = new Map(); // message_id -> a redraw waiting for the next frame
    this.setContent(content);
    this.setStatus(status);
    if (runId) this.bind(runId, threadId);
  }

  get final() { return FINAL.has(this.status); }

  bind(runId, threadId) {
    this.runId = runId;
    this.threadId = threadId;
    this.state.runId = runId;
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
    const asking = status === "running" && this.state.pending.length > 0;
    this.el.classList.toggle("asking", asking);
    this.badge.textContent = asking ? "Needs your approval" : STATUS_LABEL[status] || status;
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
    this.state.apply(frame);
    const d = frame.data || {};
    switch (frame.type) {
      case "agent_started": return this._started(frame, d);
      case "agent_thinking":
        if (d.message_id) return this._thought(frame, d.message_id);
        return Boolean(this._step(frame, "thinking", d.thought));
      case "message_started":
      case "message_delta": return this._streamed(frame, d.message_id);
      case "tool_executing": return this._toolStarted(frame, d);
      case "tool_progress": return this._toolProgress(frame, d);
      case "tool_completed": return this._toolDone(frame, d);
      case "agent_completed": return this._completed(frame, d);
      case "agent_failed": return this._failed(frame, d);
      case "agent_cancelled": return this._end(frame, "cancelled", "Cancelled", d.reason);
      case "approval_requested":
      case "approval_resolved": return this._approval(frame, d.approval_id);
    }
    return true;
  }

  /** A run_snapshot's events (on joining, or a finished run's history), oldest first. */
  applySnapshot(snapshot) {
    const events = [...(snapshot.events || [])].sort((a, b) => a.seq - b.seq);
    return events.filter((event) => this.apply(event)).length;
  }

  /** What list_runs says of a run whose events this page did not see. */
  showHistory(info) {
    if (!this.messageText.textContent) this.setContent(info.content);
    if (this.seen.size || this.outcome.childElementCount || this.answer.childElementCount) return;
    this.setStatus(info.status);
    if (info.status === "completed") this._answerBox("history", null).render(info.result, true);
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
    this.onChange(this);
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

  // Streamed messages: a thought is a step, the answer is the answer box.

  _streamed(frame, messageId) {
    const message = this.state.messages.get(messageId);
    if (!message) return true;
    if (message.kind === "answer") this._answerBox(messageId, frame).draw(message);
    else this._thoughtStep(messageId, frame).draw(message);
    return true;
  }

  _thought(frame, messageId) {
    const message = this.state.messages.get(messageId);
    const step = this._thoughtStep(messageId, frame);
    step.item.dataset.seq = frame.seq; // the whole thought now stands for its pieces
    step.item.dataset.kind = frame.type;
    step.draw(message);
    return true;
  }

  /** The step of a streamed thought: dimmed text that grows, with a button to fold it. */
  _thoughtStep(messageId, frame) {
    let item = this.steps.querySelector(`[data-message-id="${CSS.escape(messageId)}"]`);
    if (!item) {
      item = el("li", "step thinking streamed");
      item.dataset.messageId = messageId;
      item.dataset.seq = frame.seq;
      item.dataset.kind = frame.type;
      const fold = el("button", "fold");
      fold.type = "button";
      fold.setAttribute("aria-expanded", "true");
      fold.setAttribute("aria-label", "Hide this thought");
      fold.addEventListener("click", () => {
        const folded = item.classList.toggle("folded");
        fold.setAttribute("aria-expanded", String(!folded));
        fold.setAttribute("aria-label", folded ? "Show this thought" : "Hide this thought");
      });
      item.append(el("span", "step-icon"), fold, el("span", "step-text"));
      this.steps.append(item);
    }
    const text = item.querySelector(".step-text");
    return { item, draw: (message) => {
      text.textContent = message.text;
      item.classList.toggle("writing", !message.complete);
      item.setAttribute("aria-busy", String(!message.complete));
      this.onChange(this);
    } };
  }

  /** The answer box, made once per run: streamed text, then the whole answer, as Markdown. */
  _answerBox(messageId, frame) {
    let box = this.answer.firstElementChild;
    if (!box) {
      box = el("div", "outcome-box completed answer");
      box.append(el("h3", "outcome-title", "Answer"), el("div", "outcome-text markdown"));
      this.answer.append(box);
    }
    if (frame) {
      box.dataset.seq = frame.seq;
      box.dataset.kind = frame.type;
    }
    box.dataset.messageId = messageId;
    const body = box.querySelector(".outcome-text");
    const render = (text, complete) => {
      box.classList.toggle("writing", !complete);
      box.setAttribute("aria-busy", String(!complete)); // a screen reader reads it once, whole
      renderMarkdown(body, text);
      if (!complete) caretAtEnd(body);
      this.onChange(this);
    };
    return { box, render, draw: (message) => {
      if (message.complete) {
        cancelAnimationFrame(this._drawing.get(messageId));
        this._drawing.delete(messageId);
        return render(message.text, true);
      }
      // Deltas come every 40 ms or faster: parse the Markdown once per frame, not per delta.
      if (!this._drawing.has(messageId)) {
        this._drawing.set(messageId, requestAnimationFrame(() => {
          this._drawing.delete(messageId);
          render(message.text, message.complete);
        }));
      }
    } };
  }

  // Approvals: a card that asks, then records who decided and when.

  _approval(frame, approvalId) {
    const approval = this.state.approvals.get(approvalId);
    if (!approval) return true;
    let card = this.approvalCards.get(approvalId);
    const isNew = !card;
    if (isNew) {
      card = new ApprovalCard(approval, {
        approve: () => this.onApprove(approvalId), deny: (reason) => this.onDeny(approvalId, reason),
        leave: () => this.onLeave(),
      });
      this.approvalCards.set(approvalId, card);
      this.steps.append(card.el);
    }
    if (frame.type === "approval_requested") {
      card.el.dataset.seq = frame.seq;
      card.el.dataset.kind = frame.type;
    } else {
      card.el.dataset.resolvedSeq = frame.seq;
    }
    card.draw(approval);
    this.setStatus(this.status); // the badge says when the run waits for a person
    this.onChange(this);
    if (isNew && approval.state === "pending") this.onAsked(this, card);
    return true;
  }

  // Tools

  _toolCard(frame, d) {
    let card = this.steps.querySelector(`[data-tool-call-id="${CSS.escape(d.tool_call_id)}"]`);
    if (card) return card;
    card = el("li", "step tool running");
    card.dataset.toolCallId = d.tool_call_id;
    const head = el("div", "tool-head");
    head.append(el("span", "tool-state"), el("code", "tool-name", d.tool_name),
      el("span", "tool-params", formatParams(d.parameters)), el("span", "tool-duration"));
    const progress = el("div", "tool-progress");
    progress.hidden = true;
    const bar = el("div", "bar");
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-label", `${d.tool_name} progress`);
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.append(el("span", "fill"));
    progress.append(bar, el("span", "progress-text"));
    const result = el("details", "tool-result");
    result.append(el("summary", "tool-summary", "running…"), el("pre", "tool-json"));
    result.querySelector("pre").textContent = JSON.stringify({ parameters: d.parameters }, null, 2);
    card.append(head, progress, result);
    this.params.set(d.tool_call_id, d.parameters);
    this.steps.append(card);
    this.onChange(this);
    return card;
  }

  _toolStarted(frame, d) {
    const card = this._toolCard(frame, d);
    card.dataset.seq = frame.seq;
    card.dataset.kind = frame.type;
    return true;
  }

  _toolProgress(frame, d) {
    const tool = this.state.tools.get(d.tool_call_id);
    const card = this._toolCard(frame, d);
    const progress = card.querySelector(".tool-progress");
    if (!tool || tool.state !== "running" || !progress) return true;
    const bar = progress.querySelector(".bar");
    progress.hidden = false;
    const known = typeof tool.progress === "number";
    bar.classList.toggle("unknown", !known);
    if (known) {
      const percent = Math.round(tool.progress * 100);
      bar.querySelector(".fill").style.width = `${percent}%`;
      bar.setAttribute("aria-valuenow", String(percent));
    }
    progress.querySelector(".progress-text").textContent = [tool.message,
      known ? `${Math.round(tool.progress * 100)}%` : ""].filter(Boolean).join(" · ");
    this.onChange(this);
    return true;
  }

  _toolDone(frame, d) {
    const card = this._toolCard(frame, d);
    card.dataset.resultSeq = frame.seq;
    card.classList.remove("running");
    card.classList.add(d.error ? "failed" : "done");
    card.querySelector(".tool-progress")?.remove(); // done: the bar has said what it had to
    card.querySelector(".tool-duration").textContent = formatDuration(d.duration_ms);
    const parameters = this.params.get(d.tool_call_id);
    card.querySelector(".tool-summary").textContent = d.error
      ? `${d.error.code}: ${d.error.message}`
      : d.truncated ? "done (the result is too large to show here)" : summarize(d.result, parameters);
    card.querySelector(".tool-json").textContent = JSON.stringify(
      { parameters, result: d.result, error: d.error ?? undefined }, null, 2);
    this.onChange(this);
    return true;
  }

  // The end

  _completed(frame, d) {
    this._end(frame, "completed");
    const message = this.state.answer;
    this._answerBox(message.id, frame).draw(message);
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
    for (const bar of this.steps.querySelectorAll(".tool-progress")) bar.remove();
    for (const card of this.approvalCards.values()) card.ended();
    this._endMessages(frame);
    return true;
  }

  /** Messages the end cut short stay as far as they got, marked as such. */
  _endMessages(frame) {
    for (const message of this.state.messages.values()) {
      if (!message.cut) continue;
      if (message.kind === "answer") {
        const { box } = this._answerBox(message.id, null);
        box.classList.add("cut");
        box.querySelector(".outcome-title").textContent = "Answer (cut short)";
        this._answerBox(message.id, null).draw(message);
      } else {
        this._thoughtStep(message.id, frame).draw(message);
      }
    }
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
    this.onChange(this);
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
