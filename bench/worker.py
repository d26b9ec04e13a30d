"""Worker processes the bench drives over a pipe: the load generators and the publishers.

A worker is one object, built in a fresh (``spawn``) process and served on its own event loop
(uvloop when installed). The parent calls its coroutine methods by name: ``send`` then
``result`` (so several workers run a phase at once), or ``call`` for both. Workers ignore
SIGINT: Ctrl-C belongs to the parent, whose ``finally`` stops them; and a worker whose parent
vanished sees its pipe close and exits.
"""

from __future__ import annotations

import asyncio
import faulthandler
import importlib
import multiprocessing
import os
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["Worker", "WorkerError", "context"]

_STOP = "__stop__"


def context() -> Any:
    """The multiprocessing context every bench process and shared counter comes from."""
    return multiprocessing.get_context("spawn")


class WorkerError(RuntimeError):
    """A worker's method raised; the message is its traceback."""


class Worker:
    def __init__(self, name: str, factory: str, *args: Any) -> None:
        """Start ``factory`` (``"module:Class"``) with ``args`` in a new process."""
        ctx = context()
        self.name = name
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_child_main, args=(factory, child, args), name=name, daemon=True
        )
        self.process.start()
        child.close()
        self._pending: str | None = None

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def send(self, method: str, *args: Any) -> None:
        if self._pending is not None:
            raise RuntimeError(f"{self.name} is still busy with {self._pending}")
        self._pending = method
        try:
            self._conn.send((method, args))
        except OSError:
            raise WorkerError(self._gone(method)) from None

    def result(self, timeout_s: float) -> Any:
        method, self._pending = self._pending, None
        try:
            if not self._conn.poll(timeout_s):
                raise TimeoutError(f"{self.name}: no answer to {method} within {timeout_s:.0f}s")
            status, value = self._conn.recv()
        except (OSError, EOFError):
            raise WorkerError(self._gone(method)) from None
        if status == "error":
            raise WorkerError(f"{self.name}.{method} failed:\n{value}")
        return value

    def call(self, method: str, *args: Any, timeout_s: float = 60.0) -> Any:
        self.send(method, *args)
        return self.result(timeout_s)

    def _gone(self, method: str | None) -> str:
        self.process.join(1.0)
        return f"{self.name} (pid {self.pid}) exited with {self.process.exitcode} during {method}"

    def stop(self, timeout_s: float = 3.0) -> None:
        """Ask the worker to exit; kill it if it does not."""
        if self.process.is_alive():
            try:
                self._conn.send((_STOP, ()))
            except OSError:
                pass
            self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout_s)
        self._conn.close()


def _child_main(factory: str, conn: Connection, args: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent owns Ctrl-C and stops us
    faulthandler.enable()
    module_name, _, class_name = factory.partition(":")
    target = getattr(importlib.import_module(module_name), class_name)(*args)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        asyncio.run(_serve(target, conn))
    else:
        uvloop.run(_serve(target, conn))


async def _serve(target: Any, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()

    def readable() -> None:
        # uvloop's add_reader makes the pipe non-blocking, and a message bigger than the pipe
        # buffer (a few thousand tokens) would then fail half-read: read each message whole.
        os.set_blocking(conn.fileno(), True)
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            method, args = _STOP, ()
        if method == _STOP:
            if not stopped.done():
                stopped.set_result(None)
            return
        task = loop.create_task(_run(target, method, args, conn))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_reader(conn.fileno(), readable)
    try:
        await stopped
    finally:
        loop.remove_reader(conn.fileno())
        for task in tasks:
            task.cancel()
        closer = getattr(target, "aclose", None)
        if closer is not None:
            await closer()


async def _run(target: Any, method: str, args: tuple[Any, ...], conn: Connection) -> None:
    try:
        value = await getattr(target, method)(*args)
    except Exception:
        conn.send(("error", traceback.format_exc()))
    else:
        conn.send(("ok", value))
