// history.js: what a page reopens — the last thread (per user, in localStorage) and each
// finished run read back whole with run_events (thoughts, tools, answer), newest first.

const LAST_THREAD_KEY = "agentwire.lastThread"; // {email: thread_id}

/** The thread `email` had open last, or null. */
export function lastThread(email) {
  try { return JSON.parse(localStorage.getItem(LAST_THREAD_KEY))?.[email] || null; } catch { return null; }
}

/** Remember `threadId` as `email`'s open thread (null: none). */
export function rememberThread(email, threadId) {
  let all = {};
  try { all = JSON.parse(localStorage.getItem(LAST_THREAD_KEY)) || {}; } catch { /* start over */ }
  if (threadId) all[email] = threadId; else delete all[email];
  localStorage.setItem(LAST_THREAD_KEY, JSON.stringify(all));
}

/** Reads finished runs back a few at a time and spaced out, so that a long thread never comes
 * near the socket's message rate (20 frames a second, docs/protocol.md). */
export class HistoryReader {
  /**
   * @param {() => object} client  the current AgentwireClient (it changes on a new login)
   * @param {(view: object) => void} onRead  after a run's events were applied to its view
   */
  constructor(client, onRead, { atOnce = 3, spacingMs = 120 } = {}) {
    Object.assign(this, { client, onRead, atOnce, spacingMs, queue: [], running: 0 });
  }

  /** Read `info`'s run (a `runs` item) into `view` (a RunView) unless it has events already. */
  add(view, info) {
    const finished = ["completed", "failed", "cancelled"].includes(info.status);
    if (!finished || !Number.isInteger(info.first_seq) || !Number.isInteger(info.last_seq)) return;
    if (view.seen.size || view.historyAsked) return;
    view.historyAsked = true;
    this.queue.push({ view, info });
    this._next();
  }

  _next() {
    while (this.running < this.atOnce && this.queue.length) {
      const { view, info } = this.queue.shift();
      this.running += 1;
      this.client().runEvents(info.run_id, info.first_seq - 1, info.last_seq)
        .then((snapshot) => { if (view.applySnapshot(snapshot)) this.onRead(view); })
        .catch(() => { view.historyAsked = false; }) // its answer stays; a reconnect tries again
        .finally(() => setTimeout(() => { this.running -= 1; this._next(); }, this.spacingMs));
    }
  }
}
