"""``slow_task``: it takes the time it is given, and every step leaves a visible trace."""

from __future__ import annotations

from pathlib import Path

from services.tools.builtin.slow_task import SlowTaskParams, progress_path, slow_task


async def test_each_step_is_recorded_in_the_labelled_progress_file(tmp_path: Path) -> None:
    result = await slow_task(SlowTaskParams(seconds=0.1, steps=4, label="job"), tmp_path / "p")

    assert result == {"steps": 4, "seconds": 0.1}
    assert progress_path(tmp_path / "p", "job").read_text() == "4"


async def test_without_a_label_or_folder_nothing_is_written(tmp_path: Path) -> None:
    await slow_task(SlowTaskParams(seconds=0.1, steps=2), tmp_path)
    await slow_task(SlowTaskParams(seconds=0.1, steps=2, label="job"), None)

    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a test's own tmp folder
