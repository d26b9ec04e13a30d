"""``slow_task``: a deliberately long tool that leaves a trace of every step it takes.

It exists so that cancellation and timeouts can be watched from outside: with a ``label`` and a
progress folder (``SLOW_TASK_DIR``), each finished step rewrites ``<folder>/<label>.progress``
with the number of steps done so far. A cancelled or timed-out call stops rewriting it, which is
how a test (or an operator) proves that the tool really stopped rather than merely being ignored.
Each step is also reported as the call's progress ("step 3 of 10"), which a user watching with
streamed text sees as ``tool_progress``.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import msgspec

from services.tools.registry import NO_PROGRESS, Parameters, Progress, Tool
from shared.subjects import SAFE_TOKEN_PATTERN

__all__ = ["SlowTaskParams", "progress_path", "slow_task", "tool"]


class SlowTaskParams(Parameters):
    """How long to take, in how many steps, and what to call the progress file."""

    seconds: Annotated[
        float, msgspec.Meta(ge=0.1, le=600, description="how long the whole task takes")
    ] = 5.0
    steps: Annotated[
        int, msgspec.Meta(ge=1, le=10_000, description="how many equal steps to take")
    ] = 10
    label: (
        Annotated[
            str, msgspec.Meta(pattern=SAFE_TOKEN_PATTERN, description="names the progress file")
        ]
        | None
    ) = None


def progress_path(folder: Path, label: str) -> Path:
    return folder / f"{label}.progress"


async def slow_task(
    params: SlowTaskParams, progress_dir: Path | None = None, *, progress: Progress = NO_PROGRESS
) -> dict[str, Any]:
    pause = params.seconds / params.steps
    record = _recorder(progress_dir, params.label)
    for step in range(1, params.steps + 1):
        await asyncio.sleep(pause)
        record(step)
        progress(step / params.steps, f"step {step} of {params.steps}")
    return {"steps": params.steps, "seconds": params.seconds}


def _recorder(folder: Path | None, label: str | None) -> Callable[[int], None]:
    if folder is None or label is None:
        return lambda step: None
    folder.mkdir(parents=True, exist_ok=True)
    target = progress_path(folder, label)

    def record(step: int) -> None:
        # Written aside and renamed, so a reader never sees a half-written number.
        aside = target.with_suffix(".tmp")
        aside.write_text(str(step))
        os.replace(aside, target)

    return record


def tool(progress_dir: Path | None = None) -> Tool:
    return Tool(
        "slow_task",
        "takes `seconds` in `steps` equal steps, recording each step: for trying out cancel",
        SlowTaskParams,
        functools.partial(slow_task, progress_dir=progress_dir),
        reports_progress=True,
    )
