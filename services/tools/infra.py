"""The generated infrastructure each user's analyst works on, and the changes applied to it.

The sample metrics are generated (:mod:`services.tools.builtin.metrics`); what a user changes
through ``apply_recommendation`` is kept here, per user and per service, so a later
``analyze_performance`` of that service reflects it. One user's changes never touch another's.

Kept in a NATS key-value bucket (``INFRA``, key ``<user_id>.<service>``) so that every tool
runner of a deployment, and a restarted one, sees the same state; :class:`MemoryInfra` is the
same contract in memory for unit tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, get_args

import msgspec
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from shared.subjects import check_token

__all__ = [
    "CHANGES",
    "EFFECTS",
    "Change",
    "DeferredInfra",
    "Infra",
    "KvInfra",
    "MemoryInfra",
    "ServiceChanges",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
BUCKET = "INFRA"
# What a retry may get past: NATS reconnecting, a cluster electing a leader.
_PASSING = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.js.errors.ServiceUnavailableError,
    TimeoutError,
    ConnectionError,
)

Change = Literal["scale_workers", "enable_cache", "add_read_replica"]
CHANGES: tuple[Change, ...] = get_args(Change)
# How much of the latency a change takes off (the sample's service times are multiplied).
EFFECTS: dict[Change, float] = {"scale_workers": 0.75, "enable_cache": 0.6, "add_read_replica": 0.8}


class ServiceChanges(msgspec.Struct):
    applied: list[Change] = msgspec.field(default_factory=list)

    def latency_factor(self) -> float:
        factor = 1.0
        for change in self.applied:
            factor *= EFFECTS[change]
        return factor


class Infra(Protocol):
    async def changes(self, user_id: str, service: str) -> ServiceChanges: ...
    async def apply(self, user_id: str, service: str, change: Change) -> ServiceChanges: ...


@dataclass
class MemoryInfra:
    state: dict[tuple[str, str], ServiceChanges] = field(default_factory=dict)

    async def changes(self, user_id: str, service: str) -> ServiceChanges:
        return self.state.get((user_id, service), ServiceChanges())

    async def apply(self, user_id: str, service: str, change: Change) -> ServiceChanges:
        current = await self.changes(user_id, service)
        updated = ServiceChanges(applied=[*current.applied, change])
        self.state[(user_id, service)] = updated
        return updated


class KvInfra:
    """The bucket, read and written through NATS outages: a cluster electing a new leader
    answers "unavailable" or nothing for a few seconds, and an analysis must not fail for it
    (retried with backoff for ``give_up_after_s``, as events are published)."""

    def __init__(self, kv: KeyValue, *, give_up_after_s: float = 30.0) -> None:
        self._kv = kv
        self._give_up_after_s = give_up_after_s

    @classmethod
    async def open(cls, js: JetStreamContext, *, replicas: int = 1) -> KvInfra:
        """The bucket, made if it is not there yet (every tool runner may be the first)."""
        try:
            kv = await js.key_value(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            config = KeyValueConfig(bucket=BUCKET, storage=StorageType.FILE, replicas=replicas)
            kv = await js.create_key_value(config)
        return cls(kv)

    async def changes(self, user_id: str, service: str) -> ServiceChanges:
        return await self._retried(self._read, _key(user_id, service))

    async def apply(self, user_id: str, service: str, change: Change) -> ServiceChanges:
        current = await self.changes(user_id, service)
        updated = ServiceChanges(applied=[*current.applied, change])
        await self._retried(self._kv.put, _key(user_id, service), msgspec.json.encode(updated))
        return updated

    async def _read(self, key: str) -> ServiceChanges:
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return ServiceChanges()
        return msgspec.json.decode(entry.value or b"{}", type=ServiceChanges)

    async def _retried(self, operation: Callable[..., Awaitable[T]], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._give_up_after_s
        delay = 0.1
        while True:
            try:
                return await operation(*args)
            except _PASSING as exc:
                if loop.time() + delay > give_up_at:
                    raise
                log.warning("infrastructure state not reachable (%r); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


class DeferredInfra:
    """The tools are built before NATS is reached; the node binds the bucket once it is."""

    def __init__(self) -> None:
        self._infra: Infra | None = None

    def bind(self, infra: Infra) -> None:
        self._infra = infra

    async def changes(self, user_id: str, service: str) -> ServiceChanges:
        return await self._bound().changes(user_id, service)

    async def apply(self, user_id: str, service: str, change: Change) -> ServiceChanges:
        return await self._bound().apply(user_id, service, change)

    def _bound(self) -> Infra:
        if self._infra is None:
            raise RuntimeError("the infrastructure state is not open yet")
        return self._infra


def _key(user_id: str, service: str) -> str:
    return f"{check_token(user_id, 'user_id')}.{check_token(service, 'service')}"
