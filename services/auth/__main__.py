"""``python -m services.auth``: settings from the environment, then uvicorn until a signal.

The process supervisor waits for one stdout line containing ``agentwire service ready: auth``,
printed only once uvicorn has bound the socket, so "ready" means "accepting connections".
Bad configuration exits with status 2 and one line naming the variable at fault.

``python -m services.auth migrate`` (``./dev migrate``) brings the database named by
``DATABASE_URL`` to the newest schema and exits; it needs no other setting.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from types import FrameType
from typing import NoReturn

import uvicorn
from litestar import Litestar

from services.auth import migrate
from services.auth.app import create_app, server_config
from services.auth.repository import open_engine
from services.auth.settings import AuthSettings, database_url_from_env
from shared.logging import configure
from shared.settings import Env, ObservabilitySettings, SettingsError

__all__ = ["READY_LINE", "main", "migrate_main"]

READY_LINE = "agentwire service ready: auth"
_EXIT_BAD_CONFIG = 2
_EXIT_STARTUP_FAILED = 3  # uvicorn's own STARTUP_FAILURE status


def _configured() -> tuple[AuthSettings, Litestar]:
    settings = AuthSettings.from_env(Env())
    return settings, create_app(settings)


class _AnnouncingServer(uvicorn.Server):
    """uvicorn, plus the ready line the moment start-up (lifespan, then bind) has succeeded.

    Extending ``startup`` rather than polling ``started`` prints at the exact moment, with no
    timer; ``started`` is only true once every listening socket is bound.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            config = self.config
            print(f"{READY_LINE} on http://{config.host}:{config.port}", flush=True)


async def _serve(app: Litestar, settings: AuthSettings) -> bool:
    """Serve until a signal; return whether the server ever started."""
    server = _AnnouncingServer(server_config(app, settings))
    await server.serve()
    return server.started


def _exit_after_graceful_stop(signum: int, frame: FrameType | None) -> NoReturn:
    """uvicorn shuts down gracefully on SIGTERM, then re-raises it: by then the stop was clean.

    Without this the default action would end the process "killed by SIGTERM"; a supervisor
    should see status 0 for a stop it asked for, as it does after SIGINT.
    """
    raise SystemExit(0)


def migrate_main() -> int:
    configure("auth", "INFO")
    return migrate.MIGRATIONS.command(lambda: database_url_from_env(Env()), open_engine)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["migrate"]:
        return migrate_main()
    if args:
        print("usage: python -m services.auth [migrate]", file=sys.stderr)
        return _EXIT_BAD_CONFIG
    try:
        settings, app = _configured()
        observability = ObservabilitySettings.from_env(Env())
    except SettingsError as exc:
        print(f"auth: {exc}", file=sys.stderr)
        return _EXIT_BAD_CONFIG
    configure("auth", settings.log_level, observability.log_format)
    signal.signal(signal.SIGTERM, _exit_after_graceful_stop)
    try:
        started = asyncio.run(_serve(app, settings))
    except KeyboardInterrupt:
        # uvicorn re-raises the SIGINT it handled after a graceful shutdown: that is a clean stop.
        return 0
    return 0 if started else _EXIT_STARTUP_FAILED


if __name__ == "__main__":
    sys.exit(main())
