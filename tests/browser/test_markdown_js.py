"""markdown.js and the streamed answer on their own: what the agent writes is shown as text
with a little formatting, never as markup. No server: the modules are served from the source
tree (as in test_timeline_js)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

SETUP = """
window.md = async (text) => {
  const {renderMarkdown} = await import("/markdown.js");
  const box = document.createElement("div");
  document.body.replaceChildren(box);
  renderMarkdown(box, text);
  return box;
};
window.ev = (seq, type, data = {}) => ({seq, type, run_id: "r1", thread_id: "t1",
                                        data: {agent_id: "a", timestamp: seq, ...data}});
window.nextFrame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
true;
"""

ATTACKS = [
    '<img src=x onerror="window.pwned=1">',
    "<script>window.pwned=1</script>",
    '**<img src=x onerror="window.pwned=1">**',
    "[click](javascript:window.pwned=1)",
    '[x](https://example.com" onmouseover="window.pwned=1)',
    "`<b>code</b>`",
    "```\n<iframe src=javascript:window.pwned=1></iframe>\n```",
]


@pytest.fixture
def page(static_page: Page) -> Page:
    static_page.evaluate(SETUP)
    return static_page


def run(page: Page, body: str) -> Any:
    return page.evaluate(f"async () => {{ {body} }}")


@pytest.mark.parametrize("attack", ATTACKS)
def test_html_in_an_answer_is_shown_as_text(page: Page, attack: str) -> None:
    result = page.evaluate(
        """async (text) => {
          const box = await md(text);
          await new Promise((r) => setTimeout(r, 50));  // an onerror would have fired by now
          return [box.querySelectorAll("img, script, iframe, b, [onerror], [onmouseover]").length,
                  [...box.querySelectorAll("a")].map((a) => a.href), box.textContent,
                  window.pwned ?? null];
        }""",
        attack,
    )
    elements, links, text, pwned = result
    assert (elements, pwned) == (0, None)
    assert all(link.startswith("https://") for link in links), links
    for needle in ("<img", "<script>", "<b>code</b>", "<iframe", "javascript:"):
        if needle in attack:
            assert needle in text, f"{needle!r} should be shown as written: {text!r}"


def test_the_markdown_an_answer_uses_is_formatted(page: Page) -> None:
    result = run(
        page,
        """
        const box = await md([
          "Latency for the **api**, last *7 days*:",
          "- api: p99 `358 ms`",
          "- db: fine",
          "",
          "1. Cache the _hot_ path",
          "2. See [the runbook](https://example.com/runbook) or http://example.org/x.",
          "",
          "```",
          "SELECT * FROM t;",
          "```",
          "snake_case_name stays",
        ].join("\\n"));
        const a = box.querySelectorAll("a");
        return [[...box.children].map((n) => n.tagName),
                box.querySelector("strong").textContent, box.querySelector("em").textContent,
                [...box.querySelectorAll("ul li")].map((n) => n.textContent),
                [...box.querySelectorAll("ol li")].length,
                [...a].map((n) => [n.textContent, n.href, n.rel]),
                box.querySelector("pre code").textContent,
                box.lastElementChild.textContent];
        """,
    )
    tags, bold, italic, bullets, numbered, links, code, last = result
    assert tags == ["P", "UL", "OL", "PRE", "P"]
    assert (bold, italic) == ("api", "7 days")
    assert bullets == ["api: p99 358 ms", "db: fine"]
    assert numbered == 2
    assert links == [
        ["the runbook", "https://example.com/runbook", "noopener noreferrer nofollow"],
        ["http://example.org/x", "http://example.org/x", "noopener noreferrer nofollow"],
    ]
    assert code == "SELECT * FROM t;"
    assert last == "snake_case_name stays"


def test_a_streamed_answer_grows_in_place_and_ends_as_the_whole_answer(page: Page) -> None:
    result = run(
        page,
        """
        const {RunView} = await import("/timeline.js");
        const view = new RunView({runId: "r1", threadId: "t1", content: "Why?"});
        document.body.replaceChildren(view.el);
        const answer = () => document.querySelector(".answer .outcome-text")?.textContent ?? "";
        const seen = [];
        const pieces = ["The p99 ", "<img src=x onerror=window.pwned=1> ", "**doubled**."];
        view.apply(ev(1, "agent_started", {message: "On it"}));
        view.apply(ev(2, "message_started", {message_id: "m1", kind: "thinking"}));
        view.apply(ev(3, "message_delta", {message_id: "m1", delta: "Hmm, the api"}));
        const thinking = [document.querySelector(".thinking").textContent,
                          document.querySelector(".thinking").classList.contains("writing")];
        view.apply(ev(4, "agent_thinking", {message_id: "m1", thought: "Hmm, the api."}));
        view.apply(ev(5, "message_started", {message_id: "m2", kind: "answer"}));
        let seq = 6;
        for (const piece of pieces) {
          view.apply(ev(seq++, "message_delta", {message_id: "m2", delta: piece}));
          await nextFrame();
          seen.push([answer(), document.querySelector(".answer").classList.contains("writing")]);
        }
        view.apply(ev(seq, "agent_completed", {message_id: "m2", result: pieces.join("")}));
        await nextFrame();
        return [thinking, document.querySelector(".thinking").textContent, seen, answer(),
                document.querySelectorAll(".answer").length,
                document.querySelectorAll("img").length,
                document.querySelector(".answer").dataset.kind, view.status, window.pwned ?? null];
        """,
    )
    thinking, thought, seen, final, boxes, images, kind, status, pwned = result
    assert thinking == ["Hmm, the api", True]
    assert thought == "Hmm, the api."
    assert seen == [
        ["The p99", True],
        ["The p99 <img src=x onerror=window.pwned=1>", True],
        ["The p99 <img src=x onerror=window.pwned=1> doubled.", True],
    ]
    assert final == "The p99 <img src=x onerror=window.pwned=1> doubled."
    assert (boxes, images, kind, status, pwned) == (1, 0, "agent_completed", "completed", None)


def test_a_stopped_answer_stays_as_far_as_it_got(page: Page) -> None:
    result = run(
        page,
        """
        const {RunView} = await import("/timeline.js");
        const view = new RunView({runId: "r1", threadId: "t1", content: "Why?"});
        document.body.replaceChildren(view.el);
        view.apply(ev(1, "agent_started", {message: "On it"}));
        view.apply(ev(2, "tool_executing", {tool_call_id: "c1", tool_name: "slow_task",
                                            parameters: {seconds: 3}}));
        view.apply(ev(3, "tool_progress", {tool_call_id: "c1", tool_name: "slow_task",
                                           progress: 0.5, message: "step 2 of 4"}));
        const bar = [document.querySelector(".tool-progress").hidden,
                     document.querySelector(".tool-progress").textContent,
                     document.querySelector("[role=progressbar]").getAttribute("aria-valuenow")];
        view.apply(ev(4, "message_started", {message_id: "m2", kind: "answer"}));
        view.apply(ev(5, "message_delta", {message_id: "m2", delta: "So far"}));
        view.apply(ev(6, "agent_cancelled", {reason: "cancelled by the user"}));
        await nextFrame();
        return [bar, document.querySelectorAll(".tool-progress").length,
                [...document.querySelectorAll(".outcome-title")].map((n) => n.textContent),
                document.querySelector(".answer .outcome-text").textContent];
        """,
    )
    assert result == [
        [False, "step 2 of 4 · 50%", "50"],
        0,
        ["Answer (cut short)", "Cancelled"],
        "So far",
    ]
