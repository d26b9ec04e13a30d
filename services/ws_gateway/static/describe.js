// describe.js: what the timeline says in words — failures, waits, durations, times, a tool's
// parameters and result on one line. Plain functions of plain values: no DOM.

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

export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1) return "<1 ms";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", then the date. */
export function formatAgo(seconds, nowMs = Date.now()) {
  if (!Number.isFinite(seconds)) return "";
  const ago = Math.max(0, nowMs / 1000 - seconds);
  if (ago < 60) return "just now";
  if (ago < 3600) return `${Math.floor(ago / 60)} min ago`;
  if (ago < 86400) return `${Math.floor(ago / 3600)} h ago`;
  const days = Math.floor(ago / 86400);
  if (days === 1) return "yesterday";
  if (days < 7) return `${days} days ago`;
  return new Date(seconds * 1000).toLocaleDateString([], { day: "numeric", month: "short",
    year: days > 300 ? "numeric" : undefined });
}

export function formatClock(seconds) {
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
