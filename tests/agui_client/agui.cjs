// The official AG-UI client (@ag-ui/client's HttpAgent) against agentwire's POST /agui.
//
// Run by tests/integration/test_agui_endpoint.py: `node agui.cjs '<json config>'`, with NODE_PATH
// at the node_modules the test installed. Prints one JSON object on stdout. Scenarios:
//
//   run      one run through HttpAgent.runAgent (the client's own enforcement + verification)
//   approve  a run that ends with an interrupt, then the resume answering it (buildResumeArray)
//   stop     a run stopped with POST /agui/cancel once its first tool call shows
//   thread   two runs in one thread (the second a follow-up), then the second sent again
//   cut      the raw SSE read, cut after `cutAfter` events, re-requested with Last-Event-ID;
//            the joined events verified by the client's enforceEvents + verifyEvents, and the
//            whole run read again after its RUN_STARTED to compare with
"use strict";

const { HttpAgent, buildResumeArray, enforceEvents, verifyEvents } = require("@ag-ui/client");
const { from, lastValueFrom, toArray } = require("rxjs");

const warnings = [];
for (const level of ["warn", "error"]) {
  console[level] = (...args) => warnings.push(args.map(String).join(" "));
}

const config = JSON.parse(process.argv[2]);
const headers = { Authorization: `Bearer ${config.token}` };

function newAgent() {
  const agent = new HttpAgent({ url: `${config.url}/agui`, headers, threadId: config.threadId });
  agent.addMessage({ id: `${config.runId}-user`, role: "user", content: config.message });
  return agent;
}

async function runOnce(agent, params, onEvent) {
  const events = [];
  let error = null;
  let finished = null;
  try {
    await agent.runAgent(params, {
      onEvent: ({ event }) => {
        events.push(event);
        if (onEvent) onEvent(event);
      },
      onRunFailed: ({ error: failure }) => {
        error = String((failure && failure.message) || failure);
      },
      onRunFinishedEvent: (p) => {
        finished = { outcome: p.outcome, interrupts: p.interrupts || null };
      },
    });
  } catch (failure) {
    error = error || String((failure && failure.message) || failure);
  }
  return { events, error, finished };
}

async function run() {
  const agent = newAgent();
  const result = await runOnce(agent, { runId: config.runId });
  return { ...result, messages: agent.messages };
}

async function approve() {
  const agent = newAgent();
  const first = await runOnce(agent, { runId: config.runId });
  const interrupts = agent.pendingInterrupts;
  const answers = {};
  for (const interrupt of interrupts) {
    answers[interrupt.id] = { status: "resolved", payload: { approved: config.approve } };
  }
  const resume = buildResumeArray(interrupts, answers);
  const second = await runOnce(agent, { runId: config.resumeRunId, resume });
  return { first, second, interrupts, resume, pending: agent.pendingInterrupts };
}

async function stop() {
  const agent = newAgent();
  let cancel = null;
  const result = await runOnce(agent, { runId: config.runId }, (event) => {
    if (event.type === "TOOL_CALL_START" && cancel === null) {
      cancel = fetch(`${config.url}/agui/cancel`, {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify({ runId: config.runId, threadId: config.threadId }),
      }).then(async (res) => ({ status: res.status, body: await res.json() }));
    }
  });
  return { ...result, cancel: cancel && (await cancel) };
}

async function thread() {
  const agent = newAgent();
  const first = await runOnce(agent, { runId: config.runId });
  agent.addMessage({ id: `${config.secondRunId}-user`, role: "user", content: config.followUp });
  const sent = agent.messages.filter((m) => m.role !== "activity");
  const second = await runOnce(agent, { runId: config.secondRunId });
  const body = { threadId: config.threadId, runId: config.secondRunId, messages: sent };
  const resent = await readSse(body, null, null);
  return { first, second, resent };
}

async function readSse(body, lastEventId, maxEvents) {
  const abort = new AbortController();
  const requestHeaders = { ...headers, "Content-Type": "application/json", Accept: "text/event-stream" };
  if (lastEventId !== null) requestHeaders["Last-Event-ID"] = lastEventId;
  const res = await fetch(`${config.url}/agui`, {
    method: "POST",
    headers: requestHeaders,
    body: JSON.stringify(body),
    signal: abort.signal,
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const frames = [];
  let buffer = "";
  let comments = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { frames, comments, complete: true };
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split("\n\n");
    buffer = blocks.pop();
    for (const block of blocks) {
      const frame = { id: null, data: null };
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) frame.id = line.slice(4);
        else if (line.startsWith("data: ")) frame.data = JSON.parse(line.slice(6));
        else if (line.startsWith(":")) comments += 1;
      }
      if (frame.data !== null) frames.push(frame);
      if (maxEvents !== null && frames.length >= maxEvents) {
        abort.abort();
        return { frames, comments, complete: false };
      }
    }
  }
}

async function cut() {
  const body = {
    threadId: config.threadId,
    runId: config.runId,
    messages: [{ id: `${config.runId}-user`, role: "user", content: config.message }],
    tools: [],
    context: [],
    state: {},
    forwardedProps: {},
  };
  const before = await readSse(body, null, config.cutAfter);
  const lastId = before.frames[before.frames.length - 1].id;
  const after = await readSse(body, lastId, null);
  const joined = [...before.frames, ...after.frames];
  let verifyError = null;
  try {
    await lastValueFrom(
      from(joined.map((f) => f.data)).pipe(enforceEvents(), verifyEvents(), toArray()),
    );
  } catch (failure) {
    verifyError = String((failure && failure.message) || failure);
  }
  const again = await readSse(body, before.frames[0].id, null);
  return { before, after, lastId, verifyError, again };
}

const scenarios = { run, approve, stop, cut, thread };

scenarios[config.scenario]()
  .then((result) => {
    process.stdout.write(JSON.stringify({ ...result, warnings }));
  })
  .catch((failure) => {
    process.stdout.write(JSON.stringify({ crashed: String((failure && failure.stack) || failure), warnings }));
  });
