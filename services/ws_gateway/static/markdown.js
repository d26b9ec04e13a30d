// markdown.js: the agent's answers as a little Markdown, built as DOM nodes.
//
// Safe by construction: every piece of the agent's text reaches the page through a text node
// (createTextNode / textContent), never innerHTML, so `<img onerror=…>` in an answer is shown
// as those characters. Links are made only for http: and https: URLs (no javascript:, data:…).
//
// What it knows: paragraphs (a single newline is kept as a line break), `-`/`*`/`+` and `1.`
// lists, `#` headings, ``` fenced code blocks (an unclosed one, mid-stream, runs to the end),
// and inline **bold**, *italic* / _italic_, `code`, [text](http…) and bare http(s) URLs.
// Anything else is plain text. Text cut mid-stream renders as far as it goes.

const FENCE = /^\s*(```|~~~)/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^\s*(#{1,6})\s+(.*?)\s*#*\s*$/;
// One alternative per inline form; the earliest match wins, then the rest of the text is read.
const INLINE = new RegExp([
  /`([^`\n]+)`/.source, // 1: code
  /\*\*(?=\S)([^\n]*?\S)\*\*/.source, // 2: bold
  /__(?=\S)([^\n]*?\S)__/.source, // 3: bold
  /\*(?=[^\s*])([^*\n]*?[^\s*])\*/.source, // 4: italic
  /(?<![\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?!\w)/.source, // 5: italic (not snake_case)
  /\[([^\]\n]+)\]\(\s*([^)\s]+)\s*\)/.source, // 6, 7: a link
  /(https?:\/\/[^\s<>()[\]]*[^\s<>()[\].,;:!?'"])/.source, // 8: a bare URL
].join("|"));

/** A URL a link may point to, or null: only absolute http(s). */
export function safeHref(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** Render `text` into `target` (its children are replaced). */
export function renderMarkdown(target, text) {
  target.replaceChildren(...blocks(String(text ?? "").replace(/\r\n?/g, "\n").split("\n")));
  return target;
}

function el(tag, ...children) {
  const node = document.createElement(tag);
  node.append(...children);
  return node;
}

function blocks(lines) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i += 1; continue; }
    if (FENCE.test(line)) {
      const fence = line.match(FENCE)[1];
      const body = [];
      for (i += 1; i < lines.length && !lines[i].trim().startsWith(fence); i += 1) body.push(lines[i]);
      i += 1; // past the closing fence (or the end)
      out.push(el("pre", el("code", body.join("\n"))));
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      out.push(el(`h${Math.min(6, heading[1].length + 3)}`, ...inline(heading[2])));
      i += 1;
      continue;
    }
    if (BULLET.test(line) || NUMBERED.test(line)) {
      i = list(lines, i, out);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) para.push(lines[i++].trim());
    out.push(el("p", ...withBreaks(para)));
  }
  return out;
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || BULLET.test(line) || NUMBERED.test(line);
}

/** A run of list items of one kind; an indented line that starts no block continues an item. */
function list(lines, i, out) {
  const ordered = !BULLET.test(lines[i]);
  const pattern = ordered ? NUMBERED : BULLET;
  const node = document.createElement(ordered ? "ol" : "ul");
  if (ordered) {
    const start = Number(lines[i].match(NUMBERED)[1]);
    if (start !== 1) node.start = start;
  }
  while (i < lines.length) {
    const match = lines[i].match(pattern);
    if (!match) break;
    const item = [ordered ? match[2] : match[1]];
    for (i += 1; i < lines.length && /^\s+\S/.test(lines[i]) && !startsBlock(lines[i]); i += 1) {
      item.push(lines[i].trim());
    }
    node.append(el("li", ...withBreaks(item)));
  }
  out.push(node);
  return i;
}

function withBreaks(lines) {
  return lines.flatMap((line, n) => (n ? [document.createElement("br")] : []).concat(inline(line)));
}

/** Inline forms to nodes; text between them stays text. */
function inline(text) {
  const nodes = [];
  let rest = text;
  for (let m = INLINE.exec(rest); m; m = INLINE.exec(rest)) {
    if (m.index) nodes.push(document.createTextNode(rest.slice(0, m.index)));
    nodes.push(inlineNode(m));
    rest = rest.slice(m.index + m[0].length);
  }
  if (rest) nodes.push(document.createTextNode(rest));
  return nodes;
}

function inlineNode(m) {
  if (m[1] !== undefined) return el("code", m[1]);
  if (m[2] !== undefined || m[3] !== undefined) return el("strong", ...inline(m[2] ?? m[3]));
  if (m[4] !== undefined || m[5] !== undefined) return el("em", ...inline(m[4] ?? m[5]));
  if (m[6] !== undefined) return link(m[7], inline(m[6]), m[0]);
  return link(m[8], [m[8]], m[0]);
}

function link(url, children, source) {
  const href = safeHref(url);
  if (!href) return document.createTextNode(source); // not http(s): shown as written
  const a = el("a", ...children);
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  return a;
}
