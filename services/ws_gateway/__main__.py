"""``python -m services.ws_gateway``: the gateway as a process.

Exit status: 0 after a normal stop (SIGTERM/SIGINT, sockets told to reconnect with 4000);
2 when a setting is malformed, or the optional public key file cannot be read.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from services.ws_gateway.app import create_server
from services.ws_gateway.metrics import GATEWAY
from services.ws_gateway.settings import GatewaySettings
from shared import tracing
from shared.logging import configure
from shared.settings import Env, ObservabilitySettings, SettingsError

__all__ = ["main"]

EXIT_BAD_SETTINGS = 2


def main(environ: Mapping[str, str] | None = None) -> int:
    try:
        settings = GatewaySettings.from_env(Env(environ))
        observability = ObservabilitySettings.from_env(Env(environ))
    except SettingsError as exc:
        print(f"ws_gateway: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure("ws_gateway", settings.log_level, observability.log_format)
    GATEWAY.enable(observability.metrics)
    tracing.configure("ws_gateway", observability.otlp_endpoint)
    GATEWAY.tracing = tracing.enabled()
    try:
        server = create_server(settings)
    except (OSError, ValueError) as exc:
        print(
            f"ws_gateway: JWT_PUBLIC_KEY_FILE {settings.jwt_public_key_file}: {exc}",
            file=sys.stderr,
        )
        return EXIT_BAD_SETTINGS
    try:
        server.run()
    finally:
        tracing.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
