"""The terminal chat: ``agentwire-chat`` (or ``./dev chat``).

    agentwire-chat                                 log in (prompting), then chat
    agentwire-chat --register --email a@b.c        create the account first if it does not exist
    agentwire-chat --message "Why is the api slow?" --exit-after-run
    agentwire-chat --json ...                      raw frames, one JSON object a line
    agentwire-chat --no-stream ...                 thoughts and answers whole, no tool progress
    agentwire-chat --agent echo ...                talk to this one of the deployment's agents
    agentwire-chat tail [--after-seq N]            watch everything the user's agents do

Defaults come from AGENTWIRE_AUTH_URL, AGENTWIRE_WS_URL, AGENTWIRE_EMAIL and AGENTWIRE_PASSWORD.
Thoughts and the answer type out as the agent writes them, and a long tool shows its progress
(the socket asks for ``deltas=1``). A tool that needs your approval asks ``approve?``: ``y``
lets it run, ``n`` (and a reason, if you like) refuses. While a run is going, Ctrl-C stops it (a
second Ctrl-C quits). At the prompt: /help lists the commands (:data:`COMMANDS`). When the
deployment has more than one agent the chat says which one it talks to at the start; /agents
lists them and /agent <name> switches (see ``agent_choice``).

Exit status: 0 when left with /quit, Ctrl-D or Ctrl-C at the prompt. With --exit-after-run: 0 when
the run completed, 1 when it failed or was cancelled. 2 when logging in or connecting failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from agentwire_client.agent_choice import AgentChoice
from agentwire_client.auth import login_pair, register
from agentwire_client.client import Client
from agentwire_client.errors import AgentwireError, AuthError, ServerError
from agentwire_client.protocol import TERMINAL_TYPES, AgentInfo
from agentwire_client.render import Timeline, raw
from agentwire_client.session import Session

__all__ = ["COMMANDS", "main", "parse_args"]

DEFAULT_AUTH_URL = "http://127.0.0.1:8083"
DEFAULT_WS_URL = "ws://127.0.0.1:8002/ws"
COMMANDS = (
    ("/new", "start a new thread (the next message begins it)"),
    ("/threads", "list your threads, the 50 used last; /threads more: the next 50"),
    ("/agents", "list the agents here, the one you talk to marked"),
    ("/agent", "say which agent you talk to; /agent <name>: talk to that one instead"),
    ("/help", "this list"),
    ("/quit", "leave (so does Ctrl-D)"),
    ("Ctrl-C", "stop the run in progress; at the prompt, leave"),
)
# How long the agents' list may hold up the first prompt (with no agent process up, the answer
# is slow to come): past it the chat starts without saying which agent it talks to.
AGENTS_WAIT_S = 3.0
# The start's own list_agents failing like this is not shown: the person asked for nothing.
_QUIET_LIST_ERRORS = frozenset({"no_agent_available", "unknown_type"})


def parse_args(argv: list[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="agentwire-chat", description="Chat with an agentwire agent from a terminal."
    )
    parser.add_argument("command", nargs="?", choices=("chat", "tail"), default="chat")
    parser.add_argument("--auth-url", default=env.get("AGENTWIRE_AUTH_URL", DEFAULT_AUTH_URL))
    parser.add_argument("--ws-url", default=env.get("AGENTWIRE_WS_URL", DEFAULT_WS_URL))
    parser.add_argument("--email", default=env.get("AGENTWIRE_EMAIL"))
    parser.add_argument("--password", default=env.get("AGENTWIRE_PASSWORD"))
    parser.add_argument("--register", action="store_true", help="create the account if needed")
    parser.add_argument("--json", action="store_true", help="print raw frames as JSON lines")
    parser.add_argument(
        "--no-stream",
        action="store_true",
        help="thoughts and answers only once whole, no tool progress (a socket without deltas)",
    )
    parser.add_argument("--thread", help="continue this thread")
    parser.add_argument("--agent", help="talk to this agent (default: the deployment's default)")
    parser.add_argument("--message", "-m", help="send this message first")
    parser.add_argument(
        "--exit-after-run", action="store_true", help="exit when the --message run ends"
    )
    parser.add_argument("--after-seq", type=int, help="tail: replay events after this seq")
    args = parser.parse_args(argv)
    if args.exit_after_run and not args.message:
        parser.error("--exit-after-run needs --message")
    return args


class Chat:
    """One session: prints every frame, sends what is typed, stops runs on Ctrl-C."""

    def __init__(self, client: Client, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)
        self.timeline = Timeline(self.out)
        self.thread_id: str | None = args.thread
        self.threads_cursor: str | None = None  # where /threads more goes on from
        self.agents = AgentChoice(args.agent)  # which agent messages go to
        self.hush_list_error = False  # the start's list_agents may fail quietly (see greet)
        self.active_run: str | None = None
        self.ended: dict[str, asyncio.Future[str]] = {}
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.reading = False  # stdin is being read
        self.quit = asyncio.Event()
        self.approvals: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # the active run's asks
        self.resolved: dict[str, asyncio.Future[str]] = {}  # approval_id -> its decision

    @staticmethod
    def _future() -> asyncio.Future[str]:
        return asyncio.get_running_loop().create_future()

    def show(self, frame: dict[str, Any]) -> None:
        kind, data = frame.get("type"), frame.get("data") or {}
        if self.hush_list_error and kind == "error" and data.get("code") in _QUIET_LIST_ERRORS:
            self.hush_list_error = False  # the oldest list waiting gets it: the start's own
            return
        if self.args.json:
            print(raw(frame), flush=True)
        else:
            self.timeline.frame(frame)
        if kind in TERMINAL_TYPES:
            self._settle(self.ended, frame["run_id"], str(kind))
        elif kind == "approval_requested" and frame.get("run_id") == self.active_run:
            self.approvals.put_nowait(frame)
        elif kind == "approval_resolved":
            self._settle(self.resolved, data.get("approval_id", ""), data.get("decision", ""))

    def _settle(self, futures: dict[str, asyncio.Future[str]], key: str, result: str) -> None:
        future = futures.setdefault(key, self._future())
        if not future.done():
            future.set_result(result)

    async def pump(self) -> None:
        """Print frames until the client ends."""
        try:
            async for frame in self.client:
                self.show(frame)
        except AgentwireError as exc:
            self.err.print(f"[red]connection ended:[/] {exc}")
        self.quit.set()

    async def run_message(self, content: str) -> str:
        """Send one message and wait for its run's terminal event type."""
        try:
            accepted = await self.client.send(
                content, thread_id=self.thread_id, agent=self.agents.chosen
            )
        except ServerError:  # its error frame is on the timeline: "not sent", and why
            return "error"
        except AgentwireError as exc:
            self.err.print(f"[red]not sent:[/] {escape(str(exc))}")
            return "error"
        self.thread_id = accepted["thread_id"]
        self.active_run = accepted["run_id"]
        ended = self.ended.setdefault(accepted["run_id"], self._future())
        quitting = asyncio.ensure_future(self.quit.wait())
        try:
            while True:  # until the run ends (or we quit), answering the approvals it asks for
                asking = asyncio.ensure_future(self.approvals.get())
                await asyncio.wait({ended, asking, quitting}, return_when=asyncio.FIRST_COMPLETED)
                if ended.done() or quitting.done():
                    asking.cancel()  # an approval the run no longer waits for is dropped
                    return ended.result() if ended.done() else "quit"
                await self.decide(asking.result(), ended)
        finally:
            quitting.cancel()
            self.active_run = None

    async def decide(self, request: dict[str, Any], ended: asyncio.Future[str]) -> None:
        """Ask at the prompt whether the run may go on; a decision taken elsewhere (another tab)
        or the run ending first withdraws the question."""
        approval_id = request["data"]["approval_id"]
        resolved = self.resolved.setdefault(approval_id, self._future())
        self.start_reading_stdin()
        self.timeline.end_line()
        self.err.print("[bold yellow]approve?[/] y: yes, n: no (a reason may follow) > ", end="")
        line = asyncio.ensure_future(self.lines.get())
        await asyncio.wait({line, resolved, ended}, return_when=asyncio.FIRST_COMPLETED)
        if not line.done():
            line.cancel()
            self.err.print()
            return
        if (answer := line.result()) is None:
            self.lines.put_nowait(None)  # the end of input, for the prompt too
            self.err.print("[dim]no answer here: decide in the chat UI, or it expires[/]")
            return
        approve, reason = decision(answer)
        with contextlib.suppress(AgentwireError):  # the pump prints why, if it was refused
            if approve:
                await self.client.approve(approval_id)
            else:
                await self.client.deny(approval_id, reason)

    def interrupt(self) -> None:
        """Ctrl-C: stop the run in progress, or quit."""
        if self.active_run is None:
            self.quit.set()
            return
        run_id, self.active_run = self.active_run, None
        self.timeline.end_line()
        self.err.print("[yellow]stopping the run… (Ctrl-C again to quit)[/]")
        asyncio.ensure_future(self.client.cancel(run_id)).add_done_callback(_ignore_result)

    def start_reading_stdin(self) -> None:
        # A daemon thread, not asyncio.to_thread: a pending input() must not keep us from exiting.
        if self.reading:
            return
        self.reading = True
        loop = asyncio.get_running_loop()

        def read() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(self.lines.put_nowait, line.rstrip("\n"))
            loop.call_soon_threadsafe(self.lines.put_nowait, None)

        threading.Thread(target=read, daemon=True, name="stdin").start()

    async def prompt(self) -> str | None:
        self.err.print("[bold blue]you >[/] ", end="")
        line = asyncio.ensure_future(self.lines.get())
        quit_ = asyncio.ensure_future(self.quit.wait())
        await asyncio.wait({line, quit_}, return_when=asyncio.FIRST_COMPLETED)
        quit_.cancel()
        return line.result() if line.done() else None

    async def list_threads(self, *, more: bool = False) -> None:
        """The first page of threads, or (``more``) the page after the last one listed."""
        if more and self.threads_cursor is None:
            self.err.print("[dim]no more threads[/]")
            return
        with contextlib.suppress(AgentwireError):  # the pump prints the reply, or the error
            page = await self.client.list_threads(cursor=self.threads_cursor if more else None)
            self.threads_cursor = page.next_cursor

    async def greet(self) -> bool:
        """At the start: which agent is in use, said only when there is a choice; --agent
        checked against the list. False: --agent names none of the agents. With no agent up the
        chat starts all the same, silent: the gateway checks a name itself."""
        self.hush_list_error = True
        asking = asyncio.ensure_future(self.client.list_agents())
        asking.add_done_callback(self._start_list_done)  # however late it comes
        # --agent waits for the list: a typo should not become a run
        await asyncio.wait({asking}, timeout=None if self.agents.chosen else AGENTS_WAIT_S)
        if not asking.done() or asking.exception() is not None:
            return True
        self.agents.learn(asking.result())
        if self.agents.chosen and not self.agents.is_known(self.agents.chosen):
            refused = self.agents.refusal(self.agents.chosen)
            self.err.print(Text.assemble(("cannot start: ", "red"), refused))
            return False
        if greeting := self.agents.greeting():
            self.err.print(greeting)
        return True

    def _start_list_done(self, asking: asyncio.Future[list[AgentInfo]]) -> None:
        """The start's list came (learnt, for /agent), or failed: its error frame stays hushed."""
        failed = asyncio.CancelledError() if asking.cancelled() else asking.exception()
        if failed is None:
            self.agents.learn(asking.result())
        if not (isinstance(failed, ServerError) and failed.code in _QUIET_LIST_ERRORS):
            self.hush_list_error = False  # no error frame of its own is coming

    async def fetch_agents(self) -> bool:
        """Ask the agents' list again (one may have come or gone); False: no list now."""
        try:
            self.agents.learn(await self.client.list_agents())
            return True
        except ServerError:  # its error frame is on the timeline
            return False
        except AgentwireError as exc:
            self.err.print(f"[yellow]the agents could not be listed:[/] {escape(str(exc))}")
            return False

    async def list_agents(self) -> None:
        """/agents: the list (with --json, the pump has printed its frame)."""
        if await self.fetch_agents() and not self.args.json:
            self.timeline.end_line()
            for line in self.agents.listing():
                self.out.print(line, highlight=False)

    async def switch_agent(self, name: str) -> None:
        """/agent <name>: checked against a fresh list, refused in words if no agent has it."""
        if not await self.fetch_agents():
            cannot = Text("cannot check that name just now; ", "yellow")
            self.err.print(Text.assemble(cannot, self.agents.status()))
            return
        _, said = self.agents.pick(name)
        self.err.print(said)

    def help(self) -> None:
        for command, what in COMMANDS:
            self.err.print(f"  [bold]{command:<9}[/] {what}")

    async def interactive(self) -> None:
        self.start_reading_stdin()
        while not self.quit.is_set():
            text = await self.prompt()
            if text is None or text.strip() == "/quit":
                return
            await self.command(text.strip())

    async def command(self, text: str) -> None:
        """One line typed at the prompt: a command, or a message to send."""
        if text == "/new":
            self.thread_id = None
            self.err.print("[dim]new thread[/]")
        elif text in ("/threads", "/threads more"):
            await self.list_threads(more=text == "/threads more")
        elif text in ("/help", "/?"):
            self.help()
        elif text == "/agents":
            await self.list_agents()
        elif text == "/agent":
            self.err.print(self.agents.status())
        elif text.startswith("/agent "):
            await self.switch_agent(text.removeprefix("/agent ").strip())
        elif text.startswith("/") and " " not in text:
            self.err.print(f"[yellow]no command {escape(text)}[/]: /help lists them")
        elif text:
            await self.run_message(text)


def decision(answer: str) -> tuple[bool, str | None]:
    """An answer to ``approve?``: ``y``/``yes`` approves; anything else denies (Enter alone
    too: nothing runs unless you say so), with what follows ``n``/``no`` as the reason."""
    words = answer.strip()
    if words.lower() in ("y", "yes", "/approve"):
        return True, None
    head, _, rest = words.partition(" ")
    reason = rest.strip() if head.lower().rstrip(",:") in ("n", "no", "/deny") else words
    return False, reason or None


def _ignore_result(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it


async def _login(args: argparse.Namespace, err: Console) -> Session:
    """A session, so a chat left open past the token's 15 minutes renews it."""
    email = args.email or await asyncio.to_thread(input, "email: ")
    password = args.password or await asyncio.to_thread(getpass.getpass, "password: ")
    if args.register:
        try:
            await register(args.auth_url, email, password)
            err.print(f"[dim]created the account {email}[/]")
        except AuthError as exc:
            if exc.code != "email_taken":
                raise
    return Session.for_auth_url(args.auth_url, await login_pair(args.auth_url, email, password))


async def _session(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    try:
        session = await _login(args, err)
        client = Client(args.ws_url, session, after_seq=args.after_seq, deltas=not args.no_stream)
        await client.connect()
    except (AgentwireError, OSError) as exc:
        err.print(f"[red]cannot start:[/] {exc}")
        return 2
    chat = Chat(client, args)
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, chat.interrupt)
    pump = asyncio.create_task(chat.pump())
    try:
        if args.command == "tail":
            err.print(f"[dim]watching {args.ws_url} (Ctrl-C to stop)[/]")
            await chat.quit.wait()
            return 0
        if (args.agent or not args.exit_after_run) and not await chat.greet():
            return 2
        if args.message:
            outcome = await chat.run_message(args.message)
            if args.exit_after_run:
                return 0 if outcome == "agent_completed" else 1
        else:
            err.print("[dim]type a message, or /help[/]")
        await chat.interactive()
        return 0
    finally:
        await client.close()
        with contextlib.suppress(TimeoutError):  # frames already received are printed first
            await asyncio.wait_for(asyncio.shield(pump), 2)
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    # The one place the client reads the environment: defaults for the options.
    args = parse_args(argv, os.environ)
    try:
        return asyncio.run(_session(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
