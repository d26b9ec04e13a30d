"""The NATS Services API (``$SRV.PING``, ``$SRV.INFO``, ``$SRV.STATS``) for a service process.

``nats micro ls`` (and ``nats micro info agentwire-agent``) then lists every agent and tool
runner process with its id, version and start time, through nats-py's own ``nats.micro``. The
services' real work keeps its own subjects (``tools.call.*``, the RUNS queue): micro's endpoints
would re-route those, so these services register as endpoints-free and answer discovery only;
``metadata`` says where the process serves ``/metrics``.

Each service's NATS user may subscribe to exactly its own discovery subjects (see
:func:`subjects`, used by ``devstack/natsauth.py``) and answer them (``allow_responses``).
"""

from __future__ import annotations

import contextlib
from importlib import metadata as package_metadata

from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.service import Service

__all__ = ["SERVICE_NAMES", "announce", "subjects", "withdraw"]

# The service kind as nats micro lists it, per agentwire service.
SERVICE_NAMES = {"agent": "agentwire-agent", "tools": "agentwire-tools"}
_VERBS = ("PING", "INFO", "STATS")


def subjects(service: str) -> list[str]:
    """Every subject the service's discovery responder subscribes to."""
    name = SERVICE_NAMES[service]
    found: list[str] = []
    for verb in _VERBS:
        found += [f"$SRV.{verb}", f"$SRV.{verb}.{name}", f"$SRV.{verb}.{name}.*"]
    return found


def _version() -> str:
    try:
        return package_metadata.version("agentwire")
    except package_metadata.PackageNotFoundError:
        return "0.0.0"


async def announce(nc: NATS, service: str, *, description: str, metrics_url: str) -> Service:
    """Answer discovery for ``service`` on ``nc`` until :func:`withdraw`."""
    return await add_service(
        nc,
        name=SERVICE_NAMES[service],
        version=_version(),
        description=description,
        metadata={"metrics": metrics_url},
    )


async def withdraw(responder: Service | None) -> None:
    if responder is not None:
        with contextlib.suppress(Exception):  # NATS already gone: nothing left to unsubscribe
            await responder.stop()
