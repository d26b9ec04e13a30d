"""``python -m devstack up``: the whole stack in the foreground until Ctrl-C (``./dev up``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from devstack.compose import write_compose_files
from devstack.keys import ensure_keypair
from devstack.stack import Stack, port_or_free

COLORS = {"auth": "35", "tools": "33", "agent": "36", "ws_gateway": "32"}


def console_sink(name: str, line: str) -> None:
    color = COLORS.get(name, "0") if sys.stdout.isatty() else None
    label = f"\033[{color}m{name:>10}\033[0m" if color else f"{name:>10}"
    print(f"{label} | {line}", flush=True)


def up(data_dir: Path) -> int:
    stack = Stack(
        data_dir=data_dir,
        sink=console_sink,
        nats_url=os.environ.get("NATS_URL") or None,
        nats_port=port_or_free(4222),
        auth_port=int(os.environ.get("AUTH_PORT", "8083")),
        gateway_port=int(os.environ.get("GATEWAY_PORT", "8002")),
    )
    stopping = threading.Event()
    # Both explicitly: a shell that starts us in the background hands us SIGINT ignored, and
    # Ctrl-C must still stop everything.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        stack.start()
        where = data_dir / "nats" / "credentials.json"
        nats_note = f" (embedded; per-service NATS users in {where})" if stack.nats else ""
        print(
            f"\nagentwire is up\n"
            f"  chat UI            {stack.http_url}/\n"
            f"  WebSocket          {stack.ws_url}\n"
            f"  auth               {stack.auth_url}/auth/register, /auth/login\n"
            f"  NATS               {stack.nats_url}{nats_note}\n"
            f"Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping.wait(0.5):
            for name, proc in stack.services.items():
                if not proc.alive():
                    print(f"{name} exited; stopping the stack", file=sys.stderr)
                    return 1
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping agentwire ...", flush=True)
        stack.stop()
    return 0


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
