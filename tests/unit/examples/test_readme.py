"""The README's "Bring your own agent" shows the example as it is, and its unit test passes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def python_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Bring your own agent\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_shows_hello_agent_as_it_is_without_its_docstring() -> None:
    source = (ROOT / "examples" / "hello_agent.py").read_text()
    body = source.split('"""', 2)[2].lstrip("\n")
    assert python_blocks()[0] == body


async def test_the_readmes_unit_test_of_hello_passes() -> None:
    namespace: dict[str, Any] = {}
    exec(python_blocks()[1], namespace)
    await namespace["test_hello_names_the_slowest_service"]()
