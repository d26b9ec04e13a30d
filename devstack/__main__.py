"""``python -m devstack up``: the whole stack in the foreground until Ctrl-C (``./dev up``).

It supervises what it started (``devstack.supervisor``): a service or the embedded nats-server
that exits is started again after a backoff, the others keep running; it stops everything on
Ctrl-C, or when a process keeps dying before it is ready (then with exit status 1).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import TextIO

from devstack.compose import write_compose_files
from devstack.keys import ensure_keypair
from devstack.processes import ServiceProcess
from devstack.stack import SERVICES, Stack, port_or_free
from devstack.supervisor import GaveUp, StopRequests, Supervisor

COLORS = {"auth": "35", "tools": "33", "agent": "36", "ws_gateway": "32", "supervisor": "1"}


def console_sink(name: str, line: str) -> None:
    color = COLORS.get(name, "0") if sys.stdout.isatty() else None
    label = f"\033[{color}m{name:>10}\033[0m" if color else f"{name:>10}"
    say(f"{label} | {line}")


def say(text: str, file: TextIO | None = None) -> None:
    """Print, unless the terminal is gone (closed: SIGHUP, then EIO on every write): stopping
    the stack must not fail on a line nobody can read, or the services would outlive us."""
    try:
        print(text, file=file or sys.stdout, flush=True)
    except OSError:
        pass


def up(data_dir: Path) -> int:
    stack = Stack(
        data_dir=data_dir,
        sink=console_sink,
        nats_url=os.environ.get("NATS_URL") or None,
        nats_port=port_or_free(4222),
        auth_port=int(os.environ.get("AUTH_PORT", "8083")),
        gateway_port=int(os.environ.get("GATEWAY_PORT", "8002")),
        own_process_groups=True,  # Ctrl-C reaches us alone; we stop the services, then NATS
    )
    requests = StopRequests(hurry=stack.kill)
    requests.install()
    try:
        start_nats(stack)
        supervisor = supervise(stack)
        supervisor.run(requests.stopping, on_up=lambda: say(banner(stack)))
    except GaveUp as error:
        say(f"\n{error}", sys.stderr)
        return 1
    finally:
        say("\nstopping agentwire ... (Ctrl-C again to kill it at once)")
        stack.stop(say=lambda line: console_sink("supervisor", line))
    say("agentwire stopped")
    return 0


def start_nats(stack: Stack) -> None:
    """The embedded nats-server (unless NATS_URL is set): the services cannot start without it."""
    stack.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        stack.start_nats()
    except RuntimeError as error:
        log = stack.data_dir / "nats-server.log"
        raise GaveUp(f"nats-server could not start: {error} (its log: {log})") from None


def supervise(stack: Stack) -> Supervisor:
    """A supervisor for the stack's nats-server (when embedded) and its four services."""
    supervisor = Supervisor(say=lambda line: console_sink("supervisor", line))
    if stack.nats is not None:
        supervisor.add("nats-server", stack.restart_nats, running=stack.nats)
    for name in SERVICES:
        supervisor.add(name, functools.partial(_start_or_restart, stack, name))
    return supervisor


def _start_or_restart(stack: Stack, name: str) -> ServiceProcess:
    if name in stack.services:
        return stack.restart_service(name)
    return stack.start_service(name)


def banner(stack: Stack) -> str:
    where = stack.data_dir / "nats" / "credentials.json"
    nats_note = f" (embedded; per-service NATS users in {where})" if stack.nats else ""
    return (
        f"\nagentwire is up\n"
        f"  chat UI            {stack.http_url}/\n"
        f"  WebSocket          {stack.ws_url}\n"
        f"  auth               {stack.auth_url}/auth/register, /auth/login\n"
        f"  NATS               {stack.nats_url}{nats_note}\n"
        f"A service that exits is started again. Ctrl-C stops everything.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", choices=["up", "keys", "compose-files"])
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    args = parser.parse_args()
    if args.command == "keys":
        pair = ensure_keypair(args.data_dir.resolve() / "keys")
        print(f"signing key: {pair.private_path}\npublic key:  {pair.public_path}")
        return 0
    if args.command == "compose-files":
        print(f"wrote {write_compose_files(args.data_dir.resolve())}")
        return 0
    return up(args.data_dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
