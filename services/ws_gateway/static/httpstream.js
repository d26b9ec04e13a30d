// httpstream.js: agentwire's protocol over plain HTTP, for networks that break WebSockets
// (docs/protocol.md, "Without WebSockets: SSE down, POST up"). HttpEventSocket is shaped like a
// WebSocket (readyState, send, close, onopen / onmessage / onclose), so AgentwireClient drives
// either one the same way:
//
//   GET  /events   read with fetch and a ReadableStream, parsed here as SSE. Not EventSource: it
//                  cannot send an Authorization header, and a token never goes in a URL.
//                  Resumes with `Last-Event-ID: <the client's last seq>`; `event: close`
//                  carries the code and reason a socket would have closed with.
//   POST /events   each frame the client sends; the reply (the frame that answers it) is
//                  delivered as if it had come down the stream.
//
// Two frames are the transport's own business: `ping` is not posted (the stream's keep-alive
// comments say it is alive: `onactivity`), and `auth` (a renewed token) reopens the stream with
// the new token where it left off, answered `auth_ok` here.

const CLOSE_ABNORMAL = 1006;
const CLOSE_NO_STATUS = 1005;

/** `ws(s)://host/ws` → `http(s)://host/events`. */
export function eventsUrl(wsUrl) {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : url.protocol === "ws:" ? "http:" : url.protocol;
  url.pathname = url.pathname.replace(/\/ws\/?$/, "/events");
  url.search = "";
  return url.toString();
}

/** An incremental parser of a text/event-stream: feed it text as it arrives. */
export class SseParser {
  /** @param {(event: {type: string, data: string, id: (string|null)}) => void} onEvent */
  constructor(onEvent) {
    Object.assign(this, { onEvent, buffer: "", data: [], type: "", id: null });
  }

  push(text) {
    this.buffer += text;
    let end;
    while ((end = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone \r at the very end may be half of a \r\n still on its way.
      if (this.buffer[end] === "\r" && end === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + (this.buffer.startsWith("\r\n", end) ? 2 : 1));
      this._line(line);
    }
  }

  _line(line) {
    if (line === "") return this._dispatch();
    if (line.startsWith(":")) return; // a comment: a keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
  }

  _dispatch() {
    if (this.data.length) {
      this.onEvent({ type: this.type || "message", data: this.data.join("\n"), id: this.id });
    }
    this.data = [];
    this.type = "";
  }
}

export class HttpEventSocket {
  /**
   * @param {string} url          the gateway's /events URL
   * @param {object} o
   * @param {() => string} o.token        the newest access token (read for every request)
   * @param {() => (number|null)} o.position  the last seq the client has: the Last-Event-ID
   * @param {boolean} [o.deltas]
   * @param {typeof fetch} [o.fetch]
   */
  constructor(url, { token, position, deltas = false, fetch: fetchImpl = null }) {
    Object.assign(this, { url, token, position, deltas, readyState: 0 });
    this._fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.onopen = this.onmessage = this.onclose = this.onerror = this.onactivity = null;
    this._abort = null;
    setTimeout(() => this._stream(), 0); // as a WebSocket: the handlers are set first
  }

  /** Send one frame (a JSON string); its answer comes through onmessage. */
  send(text) {
    if (this.readyState !== 1) throw new Error("HttpEventSocket is not open");
    const frame = JSON.parse(text);
    if (frame.type === "ping") return;
    if (frame.type === "auth") return void this._reauth();
    this._post(text);
  }

  /** Stop reading; onclose follows (as a WebSocket's would) unless the handler was removed. */
  close(code = CLOSE_NO_STATUS, reason = "") {
    this._end(code, reason);
  }

  /** The stream breaks as a network would break it (for tests: a drop to resume from). */
  drop() {
    this._end(CLOSE_ABNORMAL, "stream aborted");
  }

  _headers(extra = {}) {
    return { authorization: `Bearer ${this.token()}`, ...extra };
  }

  async _stream() {
    if (this.readyState === 3) return;
    const abort = new AbortController();
    this._abort = abort;
    const headers = this._headers({ accept: "text/event-stream" });
    const after = this.position();
    if (after !== null && after !== undefined) headers["last-event-id"] = String(after);
    const url = this.deltas ? `${this.url}?deltas=1` : this.url;
    let response;
    try {
      response = await this._fetch(url, { headers, signal: abort.signal, cache: "no-store" });
    } catch {
      if (abort === this._abort) this._end(CLOSE_ABNORMAL, "the stream could not be opened");
      return;
    }
    if (abort !== this._abort) return;
    if (!response.ok || !response.body) return this._refused(response);
    if (this.readyState === 0) {
      this.readyState = 1;
      this.onopen?.({});
    }
    await this._read(response.body, abort);
  }

  async _read(body, abort) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser((event) => {
      if (event.type === "close") {
        const { code, reason } = parseJson(event.data) || {};
        return this._end(code || CLOSE_ABNORMAL, reason || "");
      }
      this.onmessage?.({ data: event.data });
    });
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || abort !== this._abort) break;
        this.onactivity?.();
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch { /* aborted, or the network went */ }
    if (abort === this._abort) this._end(CLOSE_ABNORMAL, "the stream ended");
  }

  /** An HTTP refusal as the close a socket would get: 401 → 4401, 403 → 4403 or 1008. */
  async _refused(response) {
    const frame = parseJson(await response.text().catch(() => ""));
    const code = response.status === 401 ? 4401
      : response.status === 403 ? (frame?.data?.code === "session_revoked" ? 4403 : 1008)
        : CLOSE_ABNORMAL;
    this._end(code, frame?.data?.message || `HTTP ${response.status}`);
  }

  async _post(text) {
    try {
      const response = await this._fetch(this.url, {
        method: "POST", headers: this._headers({ "content-type": "application/json" }),
        body: text,
      });
      const reply = await response.text();
      if (this.readyState === 1 && parseJson(reply)) this.onmessage?.({ data: reply });
    } catch { /* lost: the client's request times out, or is sent again after a reconnect */ }
  }

  /** A renewed token: read on from where we are with it (the old one may soon expire). */
  _reauth() {
    this._abort?.abort();
    this._abort = null;
    setTimeout(() => {
      this.onmessage?.({ data: JSON.stringify({ type: "auth_ok" }) });
      this._stream();
    }, 0);
  }

  _end(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    const abort = this._abort;
    this._abort = null;
    abort?.abort();
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

function parseJson(text) {
  try { return JSON.parse(text); } catch { return null; }
}
