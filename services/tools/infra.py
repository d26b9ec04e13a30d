"""The generated infrastructure each user's analyst works on, and the changes applied to it.

The sample metrics are generated (:mod:`services.tools.builtin.metrics`); what a user changes
through ``apply_recommendation`` is kept here, per user and per service, so a later
``analyze_performance`` of that service reflects it. One user's changes never touch another's.

Kept in a NATS key-value bucket (``INFRA``, key ``<user_id>.<service>``) so that every tool
runner of a deployment, and a restarted one, sees the same state; :class:`MemoryInfra` is the
same contract in memory for unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

import msgspec
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

BUCKET = "INFRA"

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
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

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
        try:
            entry = await self._kv.get(_key(user_id, service))
        except nats.js.errors.KeyNotFoundError:
            return ServiceChanges()
        return msgspec.json.decode(entry.value or b"{}", type=ServiceChanges)

    async def apply(self, user_id: str, service: str, change: Change) -> ServiceChanges:
        current = await self.changes(user_id, service)
        updated = ServiceChanges(applied=[*current.applied, change])
        await self._kv.put(_key(user_id, service), msgspec.json.encode(updated))
        return updated


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
