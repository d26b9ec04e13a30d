// layout.js: the page around the timeline — the connection badge (with its countdown), the
// notice bar, and the threads drawer of a narrow screen. DOM only; app.js decides what to show.

const $ = (id) => document.getElementById(id);

const CONNECTION_LABELS = { connecting: "Connecting…", open: "Live", closed: "Disconnected",
  unauthorized: "Signed out", revoked: "Signed out" };
let countdown = null;

const TRANSPORT_LABELS = { websocket: "WebSocket", sse: "HTTP fallback" };

/** The client's state in the top bar, with the transport once live ("Live · WebSocket", or
 * "Live · HTTP fallback" where WebSockets fail); "reconnecting" counts down to the next try. */
export function showConnectionState({ state, delayMs = 0, transport = "websocket" }) {
  const box = $("connection");
  const text = box.querySelector(".connection-text");
  clearInterval(countdown);
  box.dataset.state = state;
  box.dataset.transport = transport;
  const how = TRANSPORT_LABELS[transport] || transport;
  box.title = `Connected over ${how === "WebSocket" ? "a WebSocket" : "HTTP (server-sent events)"}`;
  if (state !== "reconnecting") {
    text.textContent = CONNECTION_LABELS[state] || state;
    if (state === "open") {
      const transport = document.createElement("span");
      transport.className = "transport";
      transport.textContent = ` · ${how}`;
      text.append(transport);
    }
    return;
  }
  const at = Date.now() + delayMs;
  const tick = () => {
    text.textContent = `Reconnecting in ${Math.max(1, Math.ceil((at - Date.now()) / 1000))} s…`;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

let noticeTimer = null;
/** A line in the notice bar for 8 s. */
export function notice(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

const isOpen = () => $("chat-view").classList.contains("drawer-open");
let moving = null;

/** Let the drawer slide for this one opening or closing (style.css, .drawer-moving). */
function slide() {
  $("chat-view").classList.add("drawer-moving");
  clearTimeout(moving);
  moving = setTimeout(() => $("chat-view").classList.remove("drawer-moving"), 250);
}

export function openDrawer() {
  slide();
  $("chat-view").classList.add("drawer-open");
  $("menu-button").setAttribute("aria-expanded", "true");
  ($("thread-list").querySelector("[aria-current]") || $("new-thread")).focus();
}

export function closeDrawer() {
  if (!isOpen()) return;
  slide();
  $("chat-view").classList.remove("drawer-open");
  $("menu-button").setAttribute("aria-expanded", "false");
}

/** The drawer (phones): the menu button toggles it; Escape or a tap outside it closes it. */
export function initDrawer() {
  $("menu-button").addEventListener("click", () => (isOpen() ? closeDrawer() : openDrawer()));
  $("drawer-backdrop").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !isOpen()) return;
    closeDrawer();
    $("menu-button").focus();
  });
}
