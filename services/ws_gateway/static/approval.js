// approval.js: the card of an approval in a run's timeline (docs/protocol.md, "Approvals: ask
// before acting"). It shows what the agent wants to do (the tool and its parameters, or its
// question), why, and the time left; Approve and Deny (with an optional reason, asked inline)
// decide it. Every tab draws the same card from the same events, so when any tab decides, the
// run's `approval_resolved` turns each card into a record of who decided and when.
//
// Keyboard: the card itself takes the focus when it appears (app.js decides when), Tab reaches
// Approve and Deny; in the reason box Enter denies and Escape goes back; Escape on the card
// hands the focus back to the message box (the "leave" callback).

import { formatClock, formatParams } from "./describe.js";

const DECISIONS = {
  approved: "Approved", denied: "Denied", expired: "Expired", cancelled: "Cancelled",
};
const DECIDERS = {
  user: "by you", timeout: "nobody decided in time", stop: "the run was stopped",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

let cards = 0; // ids for aria-labelledby

/** "9:58" (minutes and seconds) or "1:02:03"; never negative. */
export function formatLeft(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const two = (n) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** How a decided approval reads: "Approved by you · 14:03:07", "Denied by you: not now". */
export function describeDecision(approval) {
  const what = DECISIONS[approval.decision] || approval.decision || "Decided";
  const who = DECIDERS[approval.decidedBy];
  const head = approval.decidedBy === "user" ? `${what} ${who}` : who ? `${what} (${who})` : what;
  const when = approval.decidedAt ? ` · ${formatClock(approval.decidedAt)}` : "";
  return head + when;
}

export class ApprovalCard {
  /**
   * @param {object} approval  a RunState approval
   * @param {{approve: () => Promise, deny: (reason: string) => Promise, leave?: () => void}} act
   */
  constructor(approval, act) {
    this.act = act;
    this.id = approval.id;
    this.timer = null;
    const titleId = `approval-title-${++cards}`;
    this.el = el("li", "step approval pending");
    this.el.dataset.approvalId = approval.id;
    this.el.tabIndex = -1;
    this.el.setAttribute("role", "group");
    this.el.setAttribute("aria-labelledby", titleId);
    const head = el("div", "approval-head");
    this.title = el("strong", "approval-title", "Approval needed");
    this.title.id = titleId;
    this.left = el("span", "approval-left");
    head.append(el("span", "step-icon"), this.title, this.left);
    this.what = el("p", "approval-what");
    this.reason = el("p", "approval-reason");
    this.actions = el("div", "approval-actions");
    this.approveButton = this._button("Approve", "primary approve", () => this._approve());
    this.denyButton = this._button("Deny", "deny", () => this._askReason());
    this.actions.append(this.approveButton, this.denyButton);
    this.denyForm = this._denyForm();
    this.problem = el("p", "approval-problem");
    this.problem.setAttribute("role", "alert");
    this.problem.hidden = true;
    this.decision = el("p", "approval-decision");
    this.decision.hidden = true;
    this.el.append(head, this.what, this.reason, this.actions, this.denyForm, this.problem,
      this.decision);
    this.el.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && event.target === this.el) this.act.leave?.();
    });
  }

  get pending() { return this.el.classList.contains("pending"); }

  /** Show the approval as RunState has it now. */
  draw(approval) {
    this.what.replaceChildren();
    if (approval.question) {
      this.title.textContent = "The agent asks";
      this.what.append(el("span", "approval-question", approval.question));
    } else {
      this.title.textContent = "Approval needed";
      this.what.append(el("span", "approval-lead", "Run "),
        el("code", "tool-name", approval.toolName),
        el("span", "tool-params", formatParams(approval.parameters)));
    }
    this.reason.textContent = approval.reason;
    this.reason.hidden = !approval.reason;
    this.expiresAt = approval.expiresAt;
    if (approval.state === "pending") return this._tick();
    this._decided(approval);
  }

  /** The run ended: whatever was not decided cannot be any more. */
  ended() {
    if (!this.pending) return;
    this._stopTimer();
    this.el.classList.remove("pending");
    this.actions.hidden = this.denyForm.hidden = true;
    this.left.textContent = "";
  }

  _decided(approval) {
    this._stopTimer();
    const focused = this.el.contains(document.activeElement);
    this.el.classList.remove("pending");
    this.el.classList.add("decided", approval.decision || "decided");
    this.el.dataset.decision = approval.decision || "";
    this.actions.hidden = this.denyForm.hidden = this.problem.hidden = true;
    this.left.textContent = "";
    this.decision.hidden = false;
    this.decision.replaceChildren(el("span", "approval-verdict", describeDecision(approval)));
    if (approval.denyReason) {
      this.decision.append(el("span", "approval-deny-reason", `: ${approval.denyReason}`));
    }
    if (focused) this.el.focus({ preventScroll: true }); // the button went: keep the place
  }

  _tick() {
    if (!this.expiresAt) return void (this.left.textContent = "");
    const left = this.expiresAt - Date.now() / 1000;
    this.left.textContent = left > 0 ? `${formatLeft(left)} left to decide` : "time is up";
    this.left.setAttribute("aria-label", left > 0
      ? `${Math.ceil(left / 60)} minutes left to decide` : "time is up");
    if (!this.timer && left > 0) this.timer = setInterval(() => this._tick(), 1000);
    if (left <= 0) this._stopTimer();
  }

  _stopTimer() {
    clearInterval(this.timer);
    this.timer = null;
  }

  _button(text, className, onClick) {
    const button = el("button", className, text);
    button.type = "button";
    button.addEventListener("click", onClick);
    return button;
  }

  _denyForm() {
    const form = el("form", "deny-form");
    form.hidden = true;
    const label = el("label", "", "Why not? (optional, the agent is told)");
    this.reasonBox = el("input", "deny-reason");
    this.reasonBox.type = "text";
    this.reasonBox.maxLength = 1000;
    this.reasonBox.autocomplete = "off";
    label.append(this.reasonBox);
    const send = el("button", "deny confirm", "Deny");
    send.type = "submit";
    const back = this._button("Back", "quiet", () => this._closeReason());
    form.append(label, send, back);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._deny(this.reasonBox.value.trim());
    });
    form.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      event.stopPropagation();
      this._closeReason();
    });
    return form;
  }

  _askReason() {
    this.actions.hidden = true;
    this.denyForm.hidden = false;
    this.reasonBox.focus();
  }

  _closeReason() {
    this.denyForm.hidden = true;
    this.actions.hidden = !this.pending;
    if (this.pending) this.denyButton.focus();
  }

  _approve() {
    return this._decide(() => this.act.approve());
  }

  _deny(reason) {
    return this._decide(() => this.act.deny(reason));
  }

  async _decide(call) {
    const buttons = [...this.el.querySelectorAll("button")];
    for (const button of buttons) button.disabled = true;
    this.problem.hidden = true;
    try {
      await call(); // the run's approval_resolved draws the decision, in every tab
    } catch (err) {
      this.problem.textContent = err.code === "approval_not_found"
        ? "This approval is no longer waiting (it is not yours, or it has gone)."
        : `Could not send your decision: ${err.message}`;
      this.problem.hidden = false;
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }
}
