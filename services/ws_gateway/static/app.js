// The chat page: pick or start a thread, send messages, watch each run live.
// The WebSocket is this page's own origin at /ws (or ?ws=<url>). Each tab has its own socket and
// gets every event of the user, so tabs stay in step without talking to each other. The socket
// asks for streamed text (deltas): thoughts and answers appear as they are written, long tools
// show their progress, and a tab opened mid-run gets each run under way as a snapshot.
// A reload reopens the last thread (kept in localStorage) with every run whole: finished runs
// are read back with run_events, a few at a time (history.js).

import { connect } from "./agentwire.js";
import { chosenAgent, initAgents, loadAgents } from "./agents.js";
import { HistoryReader, lastThread, rememberThread } from "./history.js";
import { closeDrawer, initDrawer, notice, showConnectionState } from "./layout.js";
import {
  SESSION_KEY, endSession, forgetSession, initSignIn, loadSession, showSignIn, tokenStore,
} from "./signin.js";
import { RunView, ThreadView, formatAgo } from "./timeline.js";

const $ = (id) => document.getElementById(id);

const THREADS_SHOWN = 200; // the newest threads listed on the left (one page, the most allowed)
const FOLLOW_SLACK_PX = 48; // this close to the end counts as "at the end": the view follows

const app = {
  client: null,
  threads: new Map(), // thread_id -> {info, view, unread, earlier}
  runs: new Map(), // run_id -> RunView
  draft: new ThreadView(null), // the "new thread" page, until its first run is accepted
  current: null, // thread_id shown, or null for the draft
  sending: 0,
  email: "",
  following: true, // the timeline sticks to its end until the person scrolls up
  autoTop: 0, // where followEnd last put the timeline's scrollTop
  history: null, // reads finished runs back whole (history.js)
};
app.history = new HistoryReader(() => app.client, () => followEnd());
window.agentwireApp = app; // for the browser tests and for poking around in devtools

// Error frames the page shows where they happen, not in the notice bar: a message not stored
// (on its card), and a thread that does not exist (yet: a new thread is recorded only once an
// agent takes its first message in, so its history may not be there right after run_accepted).
const SHOWN_IN_PLACE = new Set(["intake_unavailable", "thread_not_found", "unknown_agent",
  "approval_not_found"]);

function wsUrl() {
  const given = new URLSearchParams(location.search).get("ws");
  return given || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

/** Back to the form, this tab only (the session already ended, or ended elsewhere). */
function signedOut(message = "") {
  forgetSession();
  if (app.client) app.client.close();
  app.client = null;
  showSignIn(message);
}

/** "Log out": close our socket first (so it does not see its own 4403), then end the session. */
async function logOut() {
  if (app.client) app.client.close();
  app.client = null;
  showSignIn();
  await endSession();
}

// The chat

function startChat(session) {
  $("auth-view").hidden = true;
  $("chat-view").hidden = false;
  app.email = session.email || "";
  $("user-email").textContent = app.email;
  $("drawer-email").textContent = app.email;
  if (app.client) app.client.close();
  const client = connect({ url: wsUrl(), tokens: tokenStore(), deltas: true });
  app.client = client;
  client.on("state", showConnection);
  client.on("event", onEvent);
  client.on("run_snapshot", onSnapshot);
  client.on("unauthorized", () => signedOut("Your session has ended. Please log in again."));
  // 4403: logged out in another tab or app, password changed, or revoked by an admin.
  client.on("revoked", () => signedOut("You were signed out. Please log in again."));
  client.on("resume_gap", (f) => notice(`Events after #${f.after_seq} are no longer kept; `
    + `the timeline may miss steps before #${f.oldest_seq}.`));
  client.on("error", (e) => {
    if (!SHOWN_IN_PLACE.has(e.code)) notice(`${e.code}: ${e.message}`);
  });
  const hash = new URLSearchParams(location.hash.slice(1)).get("thread");
  select(hash || lastThread(app.email) || null);
  $("message").focus();
}

function showConnection(detail) {
  showConnectionState(detail);
  if (detail.state === "open") {
    loadAgents(app.client);
    refreshThreads();
    if (app.current) loadHistory(app.current);
  }
}

function thread(threadId) {
  let entry = app.threads.get(threadId);
  if (!entry) {
    // earlier: the cursor of the runs before those shown (null: none; undefined: not loaded yet)
    entry = { info: { thread_id: threadId, title: "New thread", updated_at: Date.now() / 1000 },
      view: new ThreadView(threadId), unread: false, earlier: undefined };
    app.threads.set(threadId, entry);
    renderThreadList();
  }
  return entry;
}

async function refreshThreads() {
  try {
    const threads = await app.client.listThreads({ limit: THREADS_SHOWN });
    for (const info of threads) thread(info.thread_id).info = info;
    renderThreadList();
  } catch { /* an older server without list_threads: the list fills from live events */ }
}

/** The thread's newest page of runs (again after a reconnect or a run from elsewhere). */
async function loadHistory(threadId) {
  let runs;
  try {
    runs = await app.client.listRuns(threadId);
  } catch (err) {
    // A remembered thread that is gone (or another user's, on a shared browser): start afresh.
    if (err.code === "thread_not_found" && threadId === lastThread(app.email)) {
      rememberThread(app.email, null);
    }
    return;
  }
  const entry = thread(threadId);
  const oldest = runs[runs.length - 1];
  // A page that does not reach the runs shown (many ran while we were away) leaves a hole
  // that "Load earlier runs" fills from here; runs already shown are skipped when they come.
  const hole = runs.nextCursor && oldest && !app.runs.has(oldest.run_id);
  showRuns(entry, threadId, runs);
  if (entry.earlier === undefined || hole) entry.earlier = runs.nextCursor;
  if (threadId === app.current) showThread(false);
}

/** "Load earlier runs": the page before the oldest shown, keeping the view where it was. */
async function loadEarlier() {
  const threadId = app.current;
  const entry = threadId && app.threads.get(threadId);
  if (!entry || !entry.earlier) return;
  const button = $("load-earlier");
  button.disabled = true;
  let runs;
  try {
    runs = await app.client.listRuns(threadId, { cursor: entry.earlier });
  } catch (err) {
    notice(`Could not load earlier runs: ${err.message}`);
    return;
  } finally {
    button.disabled = false;
  }
  const box = $("timeline");
  const fromBottom = box.scrollHeight - box.scrollTop;
  showRuns(entry, threadId, runs);
  entry.earlier = runs.nextCursor;
  if (threadId === app.current) {
    showThread(false);
    box.scrollTop = box.scrollHeight - fromBottom;
  }
}

/** Runs from a `runs` page (newest first): the answer at once, then each finished run whole. */
function showRuns(entry, threadId, runs) {
  for (const info of runs) {
    let view = app.runs.get(info.run_id);
    if (!view) {
      view = newRunView({ runId: info.run_id, threadId, createdAt: info.created_at });
      entry.view.add(view);
    }
    view.showHistory(info);
    app.history.add(view, info); // newest first: the runs at the bottom fill in first
  }
}

function renderThreadList() {
  const list = $("thread-list");
  const focused = list.contains(document.activeElement) && document.activeElement.dataset.threadId;
  const entries = [...app.threads.values()]
    .sort((a, b) => (b.info.updated_at || 0) - (a.info.updated_at || 0));
  list.replaceChildren(...entries.map(({ info, unread }) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "thread-button" + (unread ? " unread" : "");
    button.dataset.threadId = info.thread_id;
    const title = document.createElement("span");
    title.className = "thread-name";
    title.textContent = info.title || "Untitled";
    const when = document.createElement("time");
    when.className = "thread-when";
    when.dateTime = new Date((info.updated_at || 0) * 1000).toISOString();
    when.textContent = formatAgo(info.updated_at);
    button.append(title, when);
    if (info.thread_id === app.current) button.setAttribute("aria-current", "page");
    button.addEventListener("click", () => { select(info.thread_id); closeDrawer(); });
    item.append(button);
    return item;
  }));
  if (focused) list.querySelector(`[data-thread-id="${CSS.escape(focused)}"]`)?.focus();
}

function select(threadId) {
  app.current = threadId;
  app.following = true;
  if (threadId) {
    const entry = thread(threadId);
    entry.unread = false;
    rememberThread(app.email, threadId);
    history.replaceState(null, "", `#thread=${encodeURIComponent(threadId)}`);
    if (app.client && app.client.state === "open") loadHistory(threadId);
  } else {
    history.replaceState(null, "", location.pathname + location.search);
  }
  renderThreadList();
  showThread();
}

function currentView() {
  return app.current ? thread(app.current).view : app.draft;
}

function showThread(scroll = true) {
  const view = currentView();
  const title = app.current ? thread(app.current).info.title : "New thread";
  $("thread-title").textContent = title || "Untitled";
  $("empty").hidden = !view.empty;
  $("load-earlier").hidden = !(app.current && thread(app.current).earlier);
  if (view.el.parentNode !== $("timeline")) {
    $("timeline").replaceChildren($("load-earlier"), $("empty"), view.el);
  }
  if (scroll) scrollToEnd();
  else followEnd();
}

function scrollToEnd() {
  app.following = true;
  app.autoTop = 0;
  followEnd();
}

/** Keep the end (the answer being written) in view, unless the person scrolled up to read.
 * Our own scrolls only ever go down, so a scrollTop above where we last put it is theirs (even
 * before its scroll event comes: text streams in faster than that). */
function followEnd() {
  const box = $("timeline");
  if (box.scrollTop < app.autoTop - FOLLOW_SLACK_PX) app.following = false;
  if (!app.following) return;
  box.scrollTop = box.scrollHeight;
  app.autoTop = box.scrollTop;
}

function onTimelineScroll() {
  const box = $("timeline");
  const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight <= FOLLOW_SLACK_PX;
  if (atEnd) app.following = true; // back at the end: follow again
  else if (box.scrollTop < app.autoTop - FOLLOW_SLACK_PX) app.following = false;
  app.autoTop = Math.min(app.autoTop, box.scrollTop);
}

function newRunView(options) {
  const view = new RunView({ ...options, onStop: stopRun, onChange: onRunChange,
    onApprove: (id) => app.client.approve(id), onDeny: (id, reason) => app.client.deny(id, reason),
    onAsked: onApprovalAsked, onLeave: () => $("message").focus() });
  if (options.runId) app.runs.set(options.runId, view);
  return view;
}

function onRunChange(view) {
  if (view.threadId === app.current || (!view.threadId && !app.current)) followEnd();
}

/** A card waiting for a decision appeared: it takes the focus, so a keyboard is one Tab from
 * Approve, unless the person is typing (a draft in the box, or focus in another field) or
 * looking at another thread. */
function onApprovalAsked(view, card) {
  if (view.threadId !== app.current) return;
  const active = document.activeElement;
  const typing = active && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName)
    && !(active === $("message") && !$("message").value.trim());
  if (!typing) card.el.focus({ preventScroll: true });
  followEnd();
}

/** The view of an event's run, made when the run started elsewhere (another tab, the
 * terminal chat, before this page opened). */
function runView(runId, threadId, timestamp) {
  let view = app.runs.get(runId);
  if (view) return view;
  view = newRunView({ runId, threadId, createdAt: timestamp ?? Date.now() / 1000 });
  thread(threadId).view.add(view);
  if (app.current === null && app.draft.empty && !app.sending) select(threadId);
  refreshThreads();
  loadHistory(threadId); // fills in the message that started it
  return view;
}

function onEvent(frame) {
  const view = runView(frame.run_id, frame.thread_id, frame.data.timestamp);
  const entry = thread(frame.thread_id);
  const stopFocused = document.activeElement === view.stop;
  view.apply(frame);
  if (view.final && (stopFocused || (view.stopPressed && document.activeElement === document.body))) {
    $("message").focus({ preventScroll: true }); // the Stop button went away with the run
  }
  entry.info.updated_at = frame.data.timestamp;
  if (frame.thread_id === app.current) {
    $("empty").hidden = true;
    followEnd();
  } else if (!entry.unread) {
    entry.unread = true;
    renderThreadList();
  }
}

/** A run under way when this socket joined: its events so far, then live ones follow. */
function onSnapshot(snapshot) {
  const first = snapshot.events?.[0];
  const view = runView(snapshot.run_id, snapshot.thread_id, first?.data?.timestamp);
  view.applySnapshot(snapshot);
  if (snapshot.thread_id === app.current) {
    $("empty").hidden = true;
    followEnd();
  }
}

async function sendMessage(content) {
  const threadId = app.current;
  const target = currentView();
  for (const old of target.runs) { // sending it again: the earlier "Not sent" card goes
    if (old.status === "unsent" && old.messageText.textContent === content) drop(target, old);
  }
  const view = newRunView({ content, status: "sending" });
  target.add(view);
  showThread();
  app.sending += 1;
  try {
    const accepted = await app.client.send(content, { threadId, agent: chosenAgent() });
    const known = app.runs.get(accepted.run_id);
    if (known) { // a resume replayed its events before the resent message was answered
      drop(target, view);
      known.setContent(content);
    } else {
      const afterPrevious = [...target.runs].some((v) => v !== view && v.runId && !v.final);
      view.bind(accepted.run_id, accepted.thread_id);
      app.runs.set(accepted.run_id, view);
      view.waiting({ state: accepted.state, ahead: accepted.ahead, afterPrevious });
    }
    if (!threadId) adoptDraft(accepted.thread_id, content);
  } catch (err) {
    // Nothing was stored (intake_unavailable), or it never got there: the text goes back in
    // the box, unless something else was typed meanwhile or another thread is open now, so
    // sending it again is one key.
    const box = $("message");
    const restored = !box.value.trim() && app.current === threadId;
    if (restored) box.value = content;
    view.unsent(err.message, restored ? "Your message is back in the box: send it again." : "");
  } finally {
    app.sending -= 1;
  }
}

function drop(threadView, view) {
  threadView.runs.delete(view);
  view.el.remove();
}

function adoptDraft(threadId, content) {
  const entry = thread(threadId);
  for (const view of app.draft.runs) entry.view.add(view);
  if (entry.info.title === "New thread") entry.info.title = content.slice(0, 60);
  app.draft = new ThreadView(null);
  if (app.current === null) select(threadId);
  refreshThreads();
}

async function stopRun(view) {
  const before = view.status;
  view.stopPressed = true;
  view.setStatus("stopping");
  try {
    const reply = await app.client.cancel(view.runId);
    if (reply.state !== "cancelling") view.setStatus(reply.state);
  } catch (err) {
    if (view.status === "stopping") view.setStatus(view.startedAt === null ? before : "running");
    notice(`Could not stop the run: ${err.message}`);
  }
}

function onComposerSubmit(event) {
  event.preventDefault();
  const content = $("message").value.trim();
  if (!content || !app.client) return;
  $("message").value = "";
  sendMessage(content);
  $("message").focus();
}

function onComposerKey(event) {
  // On a touch screen Enter is a new line: the Send button sends (phones have no Shift+Enter).
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !coarsePointer()) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
}

const coarsePointer = () => window.matchMedia?.("(pointer: coarse)").matches;

function newThread() {
  select(null);
  closeDrawer();
  $("message").focus();
}

function init() {
  initSignIn(startChat);
  $("logout-button").addEventListener("click", logOut);
  $("new-thread").addEventListener("click", newThread);
  $("new-thread-top").addEventListener("click", newThread);
  initDrawer();
  initAgents();
  $("load-earlier").addEventListener("click", loadEarlier);
  $("timeline").addEventListener("scroll", onTimelineScroll, { passive: true });
  $("composer").addEventListener("submit", onComposerSubmit);
  $("message").addEventListener("keydown", onComposerKey);
  for (const button of document.querySelectorAll(".suggestion")) {
    button.addEventListener("click", () => {
      $("message").value = button.textContent;
      $("composer").requestSubmit();
    });
  }
  setInterval(renderThreadList, 30000); // "5 min ago" stays true
  if (coarsePointer()) $("message").placeholder = "Ask the agent…";
  window.addEventListener("storage", (event) => { // another tab logged in or out
    if (event.key !== SESSION_KEY) return;
    const session = loadSession();
    if (session && !app.client) startChat(session);
    if (!session && app.client) signedOut("You were signed out in another tab.");
  });
  const session = loadSession();
  if (session) startChat(session); else showSignIn();
}

init();
